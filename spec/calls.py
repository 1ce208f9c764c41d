"""Calling a family factory the way the contract allows, and checking errors and closeness."""

import inspect
import re

import torch

from embedspec.loading import FactorySignatureError

DOCUMENTED_ERRORS = (ValueError, IndexError, TypeError)


def _accepts(factory, name):
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def build(factory, *args, device=None, dtype=None, **kwargs):
    """Call ``factory``, passing device/dtype where it accepts them and moving the result otherwise."""
    moves = {}
    for name, value in (("device", device), ("dtype", dtype)):
        if value is None:
            continue
        if _accepts(factory, name):
            kwargs[name] = value
        else:
            moves[name] = value
    result = factory(*args, **kwargs)
    return result.to(**moves) if moves else result


def first_difference(actual, expected, atol):
    """Describe the first index where |actual - expected| > atol, or None."""
    actual64, expected64 = actual.detach().to("cpu", torch.float64), expected.detach().to("cpu", torch.float64)
    bad = ~torch.isclose(actual64, expected64, rtol=0.0, atol=atol, equal_nan=False)
    if not bad.any():
        return None
    index = tuple(int(i) for i in bad.nonzero()[0])
    return (
        f"first difference at index {index}: actual {actual64[index].item()!r}, "
        f"expected {expected64[index].item()!r} (atol {atol:.3g}); "
        f"{int(bad.sum())} of {bad.numel()} elements differ, "
        f"largest difference {(actual64 - expected64).abs().nan_to_num(float('inf')).max().item():.3g}"
    )


def assert_close(actual, expected, *, atol, what="result"):
    """``actual`` equals the float64 ``expected`` within ``atol``, with a message that names
    the first differing index and its two values (never a dump of the tensors)."""
    assert isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}"
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    )
    problem = first_difference(actual, expected, atol)
    if problem is not None:
        raise AssertionError(f"{what}: {problem}")


def assert_equal(actual, expected, *, what="result"):
    """Bit-for-bit equality (same shape, same values), with the first differing index."""
    assert_close(actual, expected, atol=0.0, what=what)


# A whole number of one digit is in most error messages for some reason of its own ("expected 2, got 1"): it names
# a value only beside one of the value's names. Larger and negative numbers are not there by coincidence.
COINCIDENTAL_INTEGERS = range(0, 10)


def names_value(message, value, called=()):
    """Whether ``message`` names ``value``: anything but an integer as a case-insensitive substring; an integer as
    a whole number (9 is not named by 19 or 9.5) and, when it is a single digit and ``called`` gives the words it
    goes by (``("dim",)`` covers head_dim and dimension), with one of them in the message too."""
    if isinstance(value, int) and not isinstance(value, bool):
        if re.search(rf"(?<![0-9.]){re.escape(str(value))}(?![0-9]|\.[0-9])", message) is None:
            return False
        lowered = message.lower().replace("_", " ")
        return value not in COINCIDENTAL_INTEGERS or not called or any(
            word.lower().replace("_", " ") in lowered for word in called)
    return str(value).lower() in message.lower()


def call_documented(call, *, what):
    """Run ``call()``: (the documented error it raised, None) or (None, what it returned). Any other exception
    fails, naming its type: an undocumented error type is a failure whatever its message says."""
    try:
        return None, call()
    except DOCUMENTED_ERRORS as exc:
        return exc, None
    except Exception as exc:
        raise AssertionError(
            f"{what}: raised {type(exc).__name__}, not one of the documented "
            f"{', '.join(e.__name__ for e in DOCUMENTED_ERRORS)}: {exc}"
        ) from exc


def assert_refused(call, *, what, handled=None):
    """``call()`` on bad input is refused by some exception (the ``must`` level of the bad-input rule), or, where
    the contract allows a result, ``handled(result)`` accepts it (returns None; otherwise why it is wrong). A
    silent result is a failure: a clamp, a wrap, a truncation, a NaN or an empty result is a wrong answer that
    a user cannot see. A factory called with a signature it lacks is the adapter's error, not a refusal."""
    try:
        result = call()
    except FactorySignatureError:
        raise
    except Exception:
        return
    problem = "no error raised" if handled is None else handled(result)
    if problem is not None:
        raise AssertionError(f"{what}: {problem}; returned {_short(result)}: a silent wrong result")


def assert_raises_naming(call, value, *, what, called=()):
    """``call()`` raises a documented error type whose message names ``value`` (``names_value``; ``called``: the
    words the value goes by, which a single-digit value needs beside it)."""
    exc, result = call_documented(call, what=what)
    if exc is None:
        raise AssertionError(f"{what}: no error raised; returned {_short(result)}")
    names = value if isinstance(value, (tuple, list)) else (value,)
    message = str(exc)
    assert any(names_value(message, v, called) for v in names), (
        f"{what}: raised {type(exc).__name__}({message!r}), whose message does not name "
        f"{' or '.join(repr(str(v)) for v in names)}"
        + (f" beside {' or '.join(map(repr, called))}" if called and any(v in COINCIDENTAL_INTEGERS for v in names
                                                                           if isinstance(v, int)) else "")
    )
    return exc


def _short(value):
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__


class TensorCallRecorder(torch.overrides.TorchFunctionMode):
    """Records every torch call that allocates a tensor (the device work a call does).

    Results that alias an argument's storage (detach, views, slices) allocate
    nothing and are not recorded.
    """

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if isinstance(result, torch.Tensor) and not _aliases_an_argument(result, (*args, *kwargs.values())):
            self.calls.append(f"{getattr(func, '__name__', func)} -> {tuple(result.shape)}")
        return result


def _aliases_an_argument(result, arguments):
    if result.device.type == "meta":
        return False
    pointer = result.untyped_storage().data_ptr()
    return any(
        isinstance(a, torch.Tensor) and a.device.type != "meta" and a.untyped_storage().data_ptr() == pointer
        for a in arguments
    )
