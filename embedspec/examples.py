"""Each example of a property, watched: its inputs recorded, its time bounded, its reprs short.

The body of every specification property (for a Hypothesis property
``f.hypothesis.inner_test``, which Hypothesis calls once per example) runs
inside a watch that

- records the inputs of the example (tensors copied before the call, draws
  from ``st.data()`` as they are made) and attaches them to any exception the
  example raises, as ``exc.embedspec_example``: the failure report turns them
  into a standalone reproduction snippet;
- bounds the example's time (``--embedspec-timeout SECONDS``, default 60, 0 to
  switch off). Past the limit a SIGALRM watchdog raises ``ExampleTimeout`` in
  the example. It is a BaseException, which Hypothesis does not catch, so the
  property fails at once with a message naming the example, without shrinking
  (which would run the slow example again and again), and the run goes on. An
  example stuck in native code never returns to Python for the signal to act:
  a second stage (``faulthandler``) then ends the process after twice the
  limit, printing every thread's stack; under ``-n`` the worker's death is
  reported as that test's failure and the run completes. Where SIGALRM does
  not exist (Windows) only the second stage acts, at the limit. When
  pytest-timeout is configured (``--timeout``, its ini option or marker), this
  watch leaves time alone to it;
- seeds torch's global generators for the example (restoring them
  afterwards), as Hypothesis seeds ``random``, with a seed computed from the
  example's inputs: random initialisation and dropout are the same on every run
  for the same inputs, so no verdict depends on the weights a run drew;
- prints tensors short (at most 64 elements, then a summary), so that no
  message or example shows thousands of numbers.

Hypothesis' per-example ``deadline`` stays off in every profile: the first
call into torch is slow, and a timing-based verdict would not be reproducible.
"""

import dataclasses
import faulthandler
import functools
import inspect
import os
import signal
import sys
import threading
import time
import types
import zlib
from pathlib import Path

import pytest
from hypothesis.strategies import DataObject

from .plugin import is_spec_module_name
from .reproduce import Draws

DEFAULT_TIMEOUT = 60.0
SHORT_TENSORS = {"threshold": 64, "edgeitems": 3}
_HAS_ALARM = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")


class ExampleTimeout(BaseException):
    """An example of a property ran past ``--embedspec-timeout``.

    A BaseException so that neither Hypothesis (which would shrink, re-running the slow
    example) nor a property's own ``except Exception`` swallows it.
    """


def pytest_addoption(parser):
    group = parser.getgroup("embedspec")
    group.addoption(
        "--embedspec-timeout",
        dest="embedspec_timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time limit for one example of a property (default {DEFAULT_TIMEOUT:g}; 0 switches it off): "
        "a slower example fails the property, naming the example, and the run goes on",
    )


def is_spec_item(item):
    return isinstance(item, pytest.Function) and is_spec_module_name(getattr(item.module, "__name__", ""))


def _snapshot(value):
    """A copy of ``value`` that the property (or the implementation) cannot change afterwards."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(True) if value.requires_grad and copy.is_floating_point() else copy
    if torch is not None and isinstance(value, torch.Size):
        return value
    if isinstance(value, tuple):  # a named tuple stays one: the snippet rebuilds it by its class
        items = [_snapshot(v) for v in value]
        return type(value)(*items) if hasattr(type(value), "_fields") else tuple(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _snapshot(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value


def describe(example, skip=()):
    """``name=value, ...`` for the inputs of an example, every value short."""
    if not example:
        return "(no inputs)"
    parts = []
    for name, value in example.items():
        if name in skip:
            continue
        text = f"Draws{tuple(value.values)!r}" if isinstance(value, Draws) else repr(value)
        text = " ".join(text.split())
        parts.append(f"{name}={text if len(text) <= 200 else text[:200] + '...'}")
    return ", ".join(parts) or "(fixtures only)"


def example_seed(example, skip=()):
    """The seed of torch's generators for an example: a function of its inputs (fixtures left out)."""
    text = describe(example, skip)
    return 0 if "0x" in text else zlib.crc32(text.encode())  # an address would differ from run to run


def _seed_torch(seed):
    """Seed torch's global generators for one example, as Hypothesis seeds ``random``; return the
    function that puts the caller's state back.

    A module's random initialisation (and dropout) is then the same on every run for the same
    inputs, so no verdict depends on the weights a run happened to draw, and the reproduction
    snippet (which starts with ``torch.manual_seed(seed)``) builds the same module.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return lambda: None
    cpu = torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    torch.default_generator.manual_seed(seed)
    if cuda is not None:
        torch.cuda.manual_seed_all(seed)

    def restore():
        torch.random.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    return restore


def _pytest_timeout_active(item):
    """Whether pytest-timeout has a time limit for this item (then this watch leaves time to it)."""
    if item.get_closest_marker("timeout") is not None:
        return True
    config = item.config
    try:
        value = config.getoption("timeout")
    except ValueError:  # pytest-timeout is not installed
        return False
    if value is None:
        value = os.environ.get("PYTEST_TIMEOUT")
    if value is None:
        try:
            value = config.getini("timeout")
        except ValueError:
            value = None
    try:
        return float(value or 0) > 0
    except (TypeError, ValueError):
        return False


def _stderr_fd(config):
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key

        return config.stash[fault_handler_stderr_fd_key]
    except (ImportError, KeyError):
        return sys.__stderr__


def _in_spec(frame):
    from .plugin import SPEC_DIRECTORY

    return SPEC_DIRECTORY is not None and Path(frame.f_code.co_filename).parent == SPEC_DIRECTORY


def _end_at_call_site(exc, function):
    """End the traceback of a verdict raised inside the spec's helpers at the property's line that called them.

    Hypothesis tells failures apart by the line that raised them, and reports one (shrunk) input per line. The
    spec raises most verdicts from a few helpers (``calls.assert_close``), so two checks of one property failing
    on different inputs would read as one failure, and the report would hide all but the smallest input. Ended
    at the property's own line, each check is a failure of its own. An exception raised in the implementation
    (any frame below the property outside the spec) keeps its traceback: its own line tells it apart.
    """
    code = inspect.unwrap(function).__code__
    entries, tb = [], exc.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    own = [index for index, entry in enumerate(entries) if entry.tb_frame.f_code is code]
    if not own or own[-1] == len(entries) - 1 or not all(_in_spec(e.tb_frame) for e in entries[own[-1] + 1:]):
        return
    ended = None
    for entry in reversed(entries[:own[-1] + 1]):
        ended = types.TracebackType(ended, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    exc.__traceback__ = ended


class Watch:
    """The watch over one property's examples (one per test call)."""

    def __init__(self, item):
        self.item = item
        self.skip = set(item.fixturenames)
        limit = item.config.getoption("embedspec_timeout", DEFAULT_TIMEOUT) or 0.0
        if limit > 0 and _pytest_timeout_active(item):
            limit = 0.0
        self.limit = limit
        self.alarm = bool(limit) and _HAS_ALARM and threading.current_thread() is threading.main_thread()
        try:
            native = float(item.config.getini("faulthandler_timeout") or 0) == 0
        except ValueError:
            native = True
        self.hard = bool(limit) and native and hasattr(faulthandler, "dump_traceback_later")
        self.hard_after = limit * 2 if self.alarm else limit
        self.hard_armed_at = None
        self.current = None

    # -- one example --
    def wrap(self, function):
        @functools.wraps(function)
        def watched(*args, **kwargs):
            __tracebackhide__ = True
            return self.run(function, args, kwargs)

        return watched

    def run(self, function, args, kwargs):
        __tracebackhide__ = True
        example = {}
        for name, value in kwargs.items():
            if isinstance(value, DataObject):
                example[name] = self._record_draws(value)
            else:
                example[name] = _snapshot(value)
        self.current = example
        seed = example_seed(example, self.skip)
        restore = _seed_torch(seed)
        self._arm()
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            try:
                exc.embedspec_example = example
                exc.embedspec_torch_seed = seed
            except AttributeError:
                pass
            if isinstance(exc, AssertionError):
                _end_at_call_site(exc, function)
            raise
        finally:
            self._disarm()
            restore()
            self.current = None

    @staticmethod
    def _record_draws(data):
        draws = Draws(())
        original = data.draw

        def draw(strategy, label=None):
            value = original(strategy, label)
            draws.values.append(_snapshot(value))
            return value

        data.draw = draw
        return draws

    # -- time --
    def _arm(self):
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, self.limit)
        if self.hard:
            now = time.monotonic()
            if self.hard_armed_at is None or now - self.hard_armed_at > self.limit / 2:
                faulthandler.dump_traceback_later(self.hard_after, exit=True, file=_stderr_fd(self.item.config))
                self.hard_armed_at = now

    def _disarm(self):
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum, frame):
        raise ExampleTimeout(
            f"an example ran past the time limit of {self.limit:g} s (--embedspec-timeout): "
            f"{self.item.name} with {describe(self.current, self.skip)}"
        )

    # -- the whole test call --
    def __enter__(self):
        import torch

        self.saved_print = {k: getattr(torch._tensor_str.PRINT_OPTS, k) for k in SHORT_TENSORS}
        torch.set_printoptions(**SHORT_TENSORS)
        if self.alarm:
            self.saved_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        obj = self.item.obj
        holder = getattr(obj, "hypothesis", None)
        if holder is not None and hasattr(holder, "inner_test"):
            self.restore = (holder, "inner_test", holder.inner_test)
            holder.inner_test = self.wrap(holder.inner_test)
        else:
            self.restore = (self.item, "obj", obj)
            self.item.obj = self.wrap(obj)
        return self

    def __exit__(self, *exc_info):
        target, name, original = self.restore
        setattr(target, name, original)
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.saved_handler)
        if self.hard and self.hard_armed_at is not None:
            faulthandler.cancel_dump_traceback_later()
        for key, value in self.saved_print.items():
            setattr(sys.modules["torch"]._tensor_str.PRINT_OPTS, key, value)
        return False


class FamilyTimedOut(ExampleTimeout):
    """A property not run because an example of its family already ran past the time limit in this process."""


_timed_out_key = pytest.StashKey()  # family -> (node id, clause) of the property whose example timed out


def _families(item):
    return [mark.args[0] for mark in item.iter_markers("embedspec_family") if mark.args]


def _blocked_by_timeout(item):
    """The FamilyTimedOut for ``item`` when a family of it has timed out in this process, else None.

    A hanging implementation would otherwise cost the limit once per property of the family (a family of twenty
    properties, twenty limits); blocked, it costs about one limit per family (per xdist worker).
    """
    timed_out = item.config.stash.get(_timed_out_key, {})
    for family in _families(item):
        if family in timed_out:
            nodeid, clause = timed_out[family]
            limit = item.config.getoption("embedspec_timeout", DEFAULT_TIMEOUT)
            exc = FamilyTimedOut(
                f"not run: an example of {nodeid.split('::')[-1]} (family {family}) ran past the time limit of "
                f"{limit:g} s (--embedspec-timeout); the family's remaining properties are not run, each would "
                f"cost the limit again")
            exc.embedspec_blocked_by = [clause] if clause else []
            return exc
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not is_spec_item(item):
        return (yield)
    blocked = _blocked_by_timeout(item)
    if blocked is not None:
        raise blocked
    try:
        with Watch(item):
            return (yield)
    except ExampleTimeout:
        from .clauses import clause_of

        timed_out = item.config.stash.setdefault(_timed_out_key, {})
        for family in _families(item):
            timed_out.setdefault(family, (item.nodeid, clause_of(getattr(item, "function", None))))
        raise
    finally:
        # Hypothesis would write a patch adding @example lines to the specification's own
        # source: not what a user of the specification can act on (the report shows the
        # inputs and how to reproduce them instead), and slow (it imports libcst).
        item.__dict__.pop("_hypothesis_failing_examples", None)
