"""Running the specification in this process, isolated from the session that runs it.

pytester's inline runs restore sys.modules afterwards, which drops torch
submodules first imported during the run; torch does not survive being
imported twice. This runner keeps every module except the spec's own, which
it imports afresh (the outer session may hold them, decorated under another
Hypothesis profile and bound to another example database).

Speed (see docs/dev/benchmarks.md): an inline run is the specification
and little else. It leaves out pytest's long tracebacks (``--tb=no``: formatting
one failure of a Hypothesis test costs more than running the test), assertion
rewriting (``--assert=plain``: the spec's asserts carry their own messages, and
where bytecode is not written the spec modules would be rewritten and compiled
afresh in every run) and the unraisable-exception plugin (its clean-up runs
``gc.collect()`` five times per session, a second each in a process that holds
torch and many finished runs).
The first line of each failure is still recorded, cheaply, for diagnostics.

Examples counting: `ExampleCounter` wraps each Hypothesis test's inner
function (``test.hypothesis.inner_test``, which Hypothesis documents as
replaceable) to count the examples run and the index of the first failing one
(examples-to-failure). Loaded as ``-p tests.inline`` with ``EMBEDSPEC_EXAMPLES_LOG``
set, this module does the same in any pytest session, xdist workers included,
and with ``EMBEDSPEC_EMPTY_BODIES=1`` it replaces every property's body by
an empty one: the same strategies, examples and per-example plugin watch, no
work: the floor of the benchmark.
"""

import functools
import json
import os
import sys
import time

import pytest
from hypothesis import Phase, settings
from hypothesis.errors import UnsatisfiedAssumption

# The power profile: the dev profile's examples (explicit examples first, then 20
# generated ones), no example database, and no shrink or target phase. A test's
# verdict is the same as in dev: generation is the same sequence up to the first
# failure (same seed, same strategies), and shrinking only minimises a failure
# already found; without the shrink phase Hypothesis stops at the first failure
# instead of generating on and shrinking, which is most of the time a failing
# mutant costs.
POWER_PROFILE = "power"
POWER_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]


def register_power_profile():
    import embedspec.plugin  # noqa: F401  (registers "dev")

    settings.register_profile(POWER_PROFILE, settings.get_profile("dev"), database=None, phases=POWER_PHASES)


register_power_profile()

FAST_ARGS = [
    "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", "-p", "no:unraisableexception",
    "-q", "--tb=no", "--assert=plain", "-o", "addopts=",
]


def _is_spec_module(name):
    return name == "spec" or name.startswith(("spec.", "embedspec.spec"))


def _clause(item_or_report):
    return dict(item_or_report.user_properties).get("clause", item_or_report.nodeid)


def _is_failure(exc):
    return isinstance(exc, Exception) and not isinstance(exc, UnsatisfiedAssumption)


def _empty_body(function):
    """A function that does nothing, dressed as ``function`` (name, signature, docstring)."""

    @functools.wraps(function)
    def empty(*args, **kwargs):
        return None

    return empty


class ExampleCounter:
    """Counts, per test, the examples run and the 1-based index of the first failing one.

    With ``empty_bodies`` every test's body is replaced, at collection, by an empty
    function: Hypothesis still draws every example from the same strategies and the
    plugin still watches each one, but the property does no work.
    """

    def __init__(self, empty_bodies=False):
        self.empty_bodies = empty_bodies
        self.records = {}  # nodeid -> dict

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        if not self.empty_bodies:
            return
        for item in items:
            handle = getattr(getattr(item, "obj", None), "hypothesis", None)
            if handle is not None and hasattr(handle, "inner_test"):
                handle.inner_test = _empty_body(handle.inner_test)
            elif getattr(item, "obj", None) is not None:
                item.obj = _empty_body(item.obj)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        state = {"examples": 0, "first_failure": None}
        handle = getattr(getattr(item, "obj", None), "hypothesis", None)
        inner = getattr(handle, "inner_test", None)
        if inner is not None:

            @functools.wraps(inner)
            def counted(*args, **kwargs):
                state["examples"] += 1
                try:
                    return inner(*args, **kwargs)
                except BaseException as exc:
                    if state["first_failure"] is None and _is_failure(exc):
                        state["first_failure"] = state["examples"]
                    raise

            handle.inner_test = counted
        started = time.perf_counter()
        try:
            return (yield)
        except BaseException as exc:
            if inner is None and _is_failure(exc):
                state["first_failure"] = 1
            raise
        finally:
            if inner is not None:
                handle.inner_test = inner
            else:
                state["examples"] = 1
            self.records[item.nodeid] = dict(
                clause=_clause(item), examples=state["examples"], first_failure=state["first_failure"],
                seconds=time.perf_counter() - started,
            )


class _Reports:
    def __init__(self):
        self.reports = []
        self.messages = {}  # nodeid -> first line of the failure

    def pytest_runtest_logreport(self, report):
        self.reports.append(report)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.excinfo is not None and report.failed:
            message = call.excinfo.exconly().strip().splitlines()
            self.messages.setdefault(item.nodeid, message[0][:300] if message else call.excinfo.typename)
        return report


class InlineRun:
    """What an inline run left: exit code, reports, first failure lines, example counts."""

    def __init__(self, code, recorder, counter, seconds):
        self.code, self.reports, self.messages = code, recorder.reports, recorder.messages
        self.examples = counter.records
        self.seconds = seconds

    @property
    def failed(self):
        return failed_clauses(self.reports)

    @property
    def passed_any(self):
        return any(r.passed and r.when == "call" for r in self.reports)

    def failure_lines(self, clauses):
        by_clause = {}
        for report in self.reports:
            if report.failed:
                by_clause.setdefault(_clause(report), self.messages.get(report.nodeid, report.nodeid))
        return {clause: by_clause[clause] for clause in sorted(clauses) if clause in by_clause}

    def examples_to_failure(self):
        """clause -> index of the first failing example, for every clause that failed."""
        return {r["clause"]: r["first_failure"] for r in self.examples.values() if r["first_failure"] is not None}

    @property
    def total_examples(self):
        return sum(r["examples"] for r in self.examples.values())


def run_inline(args, monkeypatch, tmp_path, *, empty_bodies=False):
    """Run pytest on ``args`` in-process with the fast options; return an `InlineRun`."""
    saved = {name: module for name, module in sys.modules.items() if _is_spec_module(name)}
    for name in saved:
        del sys.modules[name]
    # Hypothesis' pytest plugin loads a --hypothesis-profile for good: restored, or the next run in this process
    # would import the spec under it (embedspec keeps a profile other than "default" as the user's choice).
    profile = settings.get_current_profile_name()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    recorder, counter = _Reports(), ExampleCounter(empty_bodies)
    started = time.perf_counter()
    try:
        code = pytest.main([*args, *FAST_ARGS], plugins=[recorder, counter])
    finally:
        for name in [n for n in sys.modules if _is_spec_module(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
        settings.load_profile(profile)
    return InlineRun(code, recorder, counter, time.perf_counter() - started)


def run_spec(args, monkeypatch, tmp_path):
    """Run pytest on ``args`` in-process; return (exit code, test reports)."""
    run = run_inline(args, monkeypatch, tmp_path)
    return run.code, run.reports


def failed_clauses(reports):
    """The clause ids (or node ids) of every failed test phase."""
    return {_clause(r) for r in reports if r.failed}


# Loaded as a plugin (``-p tests.inline``) with EMBEDSPEC_EXAMPLES_LOG set: count the
# examples of every test of the session and write them, one JSON file per process.

_LOG = os.environ.get("EMBEDSPEC_EXAMPLES_LOG")


def pytest_configure(config):
    if _LOG and not config.pluginmanager.has_plugin("embedspec-example-counter"):
        counter = ExampleCounter(empty_bodies=os.environ.get("EMBEDSPEC_EMPTY_BODIES") == "1")
        config.pluginmanager.register(counter, "embedspec-example-counter")
        config.stash[_counter_key] = counter


_counter_key = pytest.StashKey()


def pytest_unconfigure(config):
    counter = config.stash.get(_counter_key, None)
    if counter is None:
        return
    os.makedirs(_LOG, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(_LOG, f"{worker}-{os.getpid()}.json"), "w") as handle:
        json.dump(counter.records, handle)
