"""How to reproduce a failure: the command line, the Hypothesis seed and a standalone snippet.

Plain helpers (no hooks), used by the report and the watch on examples:

- ``WorkingDirectoryDatabase``: Hypothesis' own default example database
  (``.hypothesis/examples`` under the working directory, or under
  ``$HYPOTHESIS_STORAGE_DIRECTORY``), looked up when first used, so that a
  derandomized profile can still replay the failures saved by earlier runs;
- ``derandomized(parent)``: settings that generate the same examples on every
  run and keep ``parent``'s example database;
- ``command_line(item)`` and ``snippet(item, example)``.
"""

import ast
import math
import shlex
import types

from hypothesis import settings
from hypothesis.database import ExampleDatabase

# Tensors with more elements than this are not written out in a snippet.
SNIPPET_MAX_ELEMENTS = 256


class WorkingDirectoryDatabase(ExampleDatabase):
    """Hypothesis' default directory database, resolved on first use (not at import, when
    Hypothesis would warn about touching storage during initialisation)."""

    def __init__(self):
        super().__init__()
        self._database = None

    def _db(self):
        if self._database is None:
            self._database = settings.get_profile("default").database
        return self._database

    def save(self, key, value):
        self._db().save(key, value)

    def fetch(self, key):
        yield from self._db().fetch(key)

    def delete(self, key, value):
        self._db().delete(key, value)

    def move(self, src, dest, value):
        self._db().move(src, dest, value)

    def __repr__(self):
        return "WorkingDirectoryDatabase()"


_WORKING_DIRECTORY = object()


def derandomized(parent, database=_WORKING_DIRECTORY, **changes):
    """``parent`` with ``derandomize=True`` and an example database all the same.

    Hypothesis drops the database of a derandomized profile; this keeps one (by default
    the working directory's; pass ``database=None`` for none), so that a failure found
    earlier, by any profile, is replayed first and a verdict never goes back to passing
    while the bug is there.
    """
    fixed = settings(parent, derandomize=True, **changes)
    if database is _WORKING_DIRECTORY:
        database = WorkingDirectoryDatabase()
    return settings(fixed, database=database)


# --- the command line -------------------------------------------------------------

def spec_target(item):
    """``embedspec.spec.<module>::<test name>``, the form ``--pyargs`` accepts anywhere."""
    module = item.module.__name__
    if not module.startswith("embedspec."):
        module = "embedspec." + module
    return f"{module}::{item.nodeid.split('::', 1)[1]}"


def implementation_argument(config):
    """``--impl=NAME`` for the session's implementation, or None when it has no importable name."""
    from .plugin import ENV_VAR, _implementation_key

    chosen = config.getoption("embedspec_impl", None)
    if not chosen:
        import os

        chosen = os.environ.get(ENV_VAR)
    if chosen:
        return f"--impl={chosen}"
    implementation = config.stash.get(_implementation_key, None)
    if implementation is None:
        return None
    if isinstance(implementation.target, types.ModuleType) or ":" in implementation.name or "." in implementation.name:
        return f"--impl={implementation.name}"
    return None


def command_line(item):
    """The command that runs this one property again, as this session ran it."""
    config = item.config
    args = ["python", "-m", "pytest", "--pyargs", spec_target(item)]
    impl = implementation_argument(config)
    if impl:
        args.append(impl)
    profile = config.getoption("hypothesis_profile", None)
    if profile:
        args.append(f"--hypothesis-profile={profile}")
    seed = config.getoption("hypothesis_seed", None)
    if seed is not None:
        args.append(f"--hypothesis-seed={seed}")
    device = config.getoption("embedspec_device", None)
    if device:
        args.append(f"--embedspec-device={device}")
    if config.getoption("embedspec_compile", False):
        args.append("--embedspec-compile")
    return shlex.join(args)


# --- the snippet --------------------------------------------------------------------

class NotSource(Exception):
    """A value that cannot be written as Python source."""


def source(value):
    """Python source that rebuilds ``value`` (torch imported as ``torch``), or NotSource."""
    import torch

    if value is None or isinstance(value, (bool, int, str, bytes)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, torch.device):
        return f"torch.device({str(value)!r})"
    if isinstance(value, torch.Tensor):
        return _tensor_source(value)
    if isinstance(value, tuple):
        inner = ", ".join(source(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(source(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{source(k)}: {source(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (range, slice)):
        return repr(value)
    text = repr(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotSource(f"a {type(value).__name__}") from None
    return text


def _tensor_source(tensor):
    import torch

    if tensor.numel() > SNIPPET_MAX_ELEMENTS:
        raise NotSource(f"a tensor of shape {tuple(tensor.shape)} (too large to write out)")
    dtype = str(tensor.dtype)
    device = "" if tensor.device.type == "cpu" else f", device={str(tensor.device)!r}"
    grad = ", requires_grad=True" if tensor.requires_grad else ""
    if tensor.numel() == 0:
        return f"torch.empty({tuple(tensor.shape)!r}, dtype={dtype}{device}{grad})"
    values = tensor.detach().cpu()
    if values.is_floating_point() or values.is_complex():
        values = values.to(torch.complex128 if values.is_complex() else torch.float64)
    body = repr(values.tolist()).replace("nan", "float('nan')").replace("inf", "float('inf')")
    return f"torch.tensor({body}, dtype={dtype}{device}{grad})"


class Draws:
    """The values an example drew from ``st.data()``, replayed in order in a snippet."""

    def __init__(self, values):
        self.values = list(values)


_DRAWS_CLASS = '''class Draws:  # replays the values the failing example drew from st.data()
    def __init__(self, *values):
        self.values = list(values)

    def draw(self, strategy, label=None):
        return self.values.pop(0)
'''


def _argument_source(name, value):
    family = getattr(value, "embedspec_family", None)
    if family is not None:
        return f"impl.factory({family!r})"
    if name == "conventions":
        return "impl.conventions"
    if name == "embedspec_implementation":
        return "impl"
    if isinstance(value, Draws):
        return "Draws(" + ", ".join(source(v) for v in value.values) + ")"
    return source(value)


def snippet(item, example, torch_seed=0):
    """A standalone script that calls the property's body once with ``example``'s inputs.

    ``example`` maps argument names to the values of the failing call (as recorded by
    ``embedspec.examples``). Returns the script's text, or None when there is nothing to show.
    """
    if example is None:
        return None
    function = getattr(item, "function", None)
    if function is None:
        return None
    impl = implementation_argument(item.config)
    module = item.module.__name__
    if not module.startswith("embedspec."):
        module = "embedspec." + module
    hypothesis_test = hasattr(item.obj, "hypothesis")
    call = f"{function.__name__}.hypothesis.inner_test" if hypothesis_test else function.__name__
    lines = ["import torch", "from embedspec.loading import load_implementation",
             f"from {module} import {function.__name__}", ""]
    if any(isinstance(v, Draws) for v in example.values()):
        lines += [_DRAWS_CLASS]
    lines.append(f"torch.manual_seed({torch_seed})  # as the specification seeded this example")
    if impl:
        lines.append(f"impl = load_implementation({impl.split('=', 1)[1]!r})")
    else:
        lines.append("impl = load_implementation(...)  # the object your pytest_embedspec_implementation hook returns")
    lines.append(f"{call}(")
    for name, value in example.items():
        try:
            text = _argument_source(name, value)
        except NotSource as exc:
            lines.append(f"    {name}=...,  # {exc}: not reproducible as source")
            continue
        lines.append(f"    {name}={text},")
    lines.append(")")
    return "\n".join(lines)
