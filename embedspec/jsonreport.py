"""The JSON conformance report: ``--embedspec-report PATH``.

Built where reports are logged (the pytest-xdist controller, or the only
process) from the report objects alone, so it is the same with and without
``-n``. It is written atomically (a temporary file, then a rename), every
couple of seconds while the run goes on (``"status": "running"``) and at the
end (``"complete"``, ``"stopped"`` after ``-x``/``--maxfail``, ``"usage error"`` when the implementation
chosen by a hook or by default could not be loaded during collection, or
``"interrupted"`` after Ctrl-C or SIGTERM, which the report turns into an
interrupt while the session runs). A reader always finds a whole file: at
worst the last snapshot of a run that was killed outright.

Layout (``"format": "embedspec-report/1"``)::

    {"format", "status", "exit_code", "started", "finished", "command",
     "implementation": {"name", "module", "package", "version", "conventions", "libraries"},
     "versions": {"python", "torch", "hypothesis", "pytest", "embedspec"},
     "hypothesis": {"profile", "seed"},
     "level": "must" or "should" (the level that gated the exit code, --level),
     "summary": {"total", "passed", "failed", "blocked", "error", "skipped", "xfailed", "xpassed", "incomplete",
                 "levels": {"must": {...the same counts...}, "should": {...}}},
     "families": {FAMILY: {"summary": {..., "levels": {...}}, "properties": [
         {"id", "level", "test", "nodeid", "claim", "outcome", "duration",
          "failure": {"kind", "message", "counterexample", "command", "seed", "blob", "snippet"},
          "blocked_by": [...], "reason": "...", "xfail": {"id", "reason", "link", ...}}]}}}

``level`` is the clause's conformance level: a family conforms when no ``must`` property failed, was blocked or
errored, and conforms strictly when no ``should`` property did either. ``outcome`` is one of passed, failed, blocked (a failure whose basic clause
failed too), error, skipped (``reason``), xfailed (``reason``, ``xfail``),
xpassed, and incomplete (the run was interrupted in it). Properties of no family (the checks of torch itself) sit under
``"(no family)"``.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .clauses import LEVELS
from .collectors import attach, detach
from .report import outcomes

FORMAT = "embedspec-report/1"
NO_FAMILY = "(no family)"
SNAPSHOT_EVERY = 2.0  # seconds between snapshots while the run goes on
OUTCOMES = ("passed", "failed", "blocked", "error", "skipped", "xfailed", "xpassed", "incomplete")


def pytest_addoption(parser):
    group = parser.getgroup("embedspec")
    group.addoption(
        "--embedspec-report",
        dest="embedspec_report",
        default=None,
        metavar="PATH",
        help="write a JSON conformance report to PATH (atomically; also when the run is interrupted)",
    )


def write_atomically(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a report is an ordinary file
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _distributions(module_names):
    """{distribution: version} of the installed distributions that provide these top-level modules."""
    try:
        owners = importlib.metadata.packages_distributions()
    except Exception:
        owners = {}
    found = {}
    for name in module_names:
        for distribution in owners.get(name, ()):
            found.setdefault(distribution, _version(distribution))
    return found


def implementation_facts(config):
    from .plugin import get_implementation

    try:
        implementation = get_implementation(config)
    except BaseException as exc:  # the run itself reports this as a usage error
        return {"name": None, "error": str(exc)}
    target = implementation.target
    module_name = target.__name__ if isinstance(target, type(sys)) else getattr(target, "__module__", None) \
        or type(target).__module__
    top = (module_name or "").split(".")[0]
    package = _distributions([top])
    module = sys.modules.get(module_name)
    used = set()
    for value in vars(module).values() if module is not None else ():
        name = value.__name__ if isinstance(value, type(sys)) else getattr(value, "__module__", None)
        if isinstance(name, str):
            used.add(name.split(".")[0])
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    libraries = _distributions(sorted(n for n in used - {top} if n not in stdlib and not n.startswith("_")))
    distribution, version = next(iter(package.items()), (None, None))
    return {
        "name": implementation.name,
        "module": module_name,
        "package": distribution,
        "version": version or getattr(target, "__version__", None) or getattr(module, "__version__", None),
        "conventions": implementation.conventions,
        "libraries": libraries,
    }


def versions():
    import hypothesis
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hypothesis": hypothesis.__version__,
        "pytest": pytest.__version__,
        "embedspec": _version("embedspec"),
    }


class JsonReport:
    def __init__(self, config, path):
        self.config = config
        self.path = path
        self.started = _now()
        self.last_write = 0.0
        self.facts = None
        self.saved_sigterm = None
        self.written_final = False

    # -- building --
    def _header(self):
        if self.facts is None:
            self.facts = {"implementation": implementation_facts(self.config), "versions": versions()}
        return self.facts

    def _family_guess(self, nodeid, clause, seen):
        from .contract import FAMILIES

        prefix = clause.split("-")[0] if clause else None
        if prefix and prefix in seen:
            return seen[prefix]
        module = nodeid.split("::")[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
        return [module] if module in FAMILIES else [NO_FAMILY]

    def build(self, status, exit_code=None):
        collected = outcomes(self.config)
        verdicts = collected.verdicts() if collected else {}
        blocked = collected.blocked() if collected else {}
        families, seen = {}, {}
        for _, (clause, _, reports) in verdicts.items():
            info = next((r.embedspec for r in reports if getattr(r, "embedspec", None)), None)
            if info and clause and info.get("families"):
                seen.setdefault(clause.split("-")[0], info["families"])
        summary = _counts()
        for nodeid, (clause, outcome, reports) in sorted(verdicts.items(), key=lambda kv: (kv[1][0] or "", kv[0])):
            info = next((r.embedspec for r in reports if getattr(r, "embedspec", None)), None) or {}
            if not info and not clause:
                continue  # not a property of the specification
            entry = {
                "id": clause,
                "level": info.get("level"),
                "test": info.get("test") or nodeid.split("::", 1)[-1],
                "nodeid": nodeid,
                "claim": info.get("claim"),
                "outcome": outcome,
                "duration": round(sum(getattr(r, "duration", 0) or 0 for r in reports), 4),
            }
            if nodeid in blocked:
                entry["outcome"] = "blocked"
                entry["blocked_by"] = blocked[nodeid]
            failure = next((r.embedspec["failure"] for r in reports
                            if getattr(r, "embedspec", None) and r.embedspec.get("failure")), None)
            if failure is None and outcome in ("failed", "error"):
                failed = next((r for r in reports if r.failed), None)
                text = str(failed.longrepr) if failed is not None else ""
                failure = {"kind": outcome, "message": text[-3000:]}
            if failure is not None and outcome in ("failed", "error", "xpassed"):
                entry["failure"] = failure
            if outcome in ("skipped", "xfailed"):
                entry["reason"] = _reason(reports)
            if info.get("xfail"):
                entry["xfail"] = info["xfail"]
            _count(summary, entry)
            for family in info.get("families") or self._family_guess(nodeid, clause, seen):
                group = families.setdefault(family, {"summary": _counts(), "properties": []})
                _count(group["summary"], entry)
                group["properties"].append(entry)
        return {
            "format": FORMAT,
            "status": status,
            "exit_code": None if exit_code is None else int(exit_code),
            "started": self.started,
            "finished": None if status == "running" else _now(),
            "command": list(self.config.invocation_params.args),
            **self._header(),
            "hypothesis": {
                "profile": self.config.getoption("hypothesis_profile", None) or "dev",
                "seed": self.config.getoption("hypothesis_seed", None),
            },
            "level": self.config.getoption("embedspec_level"),
            "summary": summary,
            "families": dict(sorted(families.items())),
        }

    def write(self, status, exit_code=None):
        write_atomically(self.path, self.build(status, exit_code))
        self.last_write = time.monotonic()

    # -- hooks --
    def pytest_sessionstart(self, session):
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                self.saved_sigterm = signal.signal(signal.SIGTERM, _interrupt)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        if report.when == "teardown" and time.monotonic() - self.last_write > SNAPSHOT_EVERY:
            try:
                self.write("running")
            except OSError:
                pass  # the final write reports the problem

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.saved_sigterm is not None:
            signal.signal(signal.SIGTERM, self.saved_sigterm)
            self.saved_sigterm = None
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            status = "interrupted"
        elif exitstatus == pytest.ExitCode.USAGE_ERROR:  # the implementation could not be loaded: nothing ran
            status = "usage error"
        elif session.shouldstop or session.shouldfail:
            status = "stopped"
        else:
            status = "complete"
        self.write(status, session.exitstatus)  # as --level gated it (embedspec.plugin.LevelGate runs first)
        self.written_final = True



def _counts():
    return {**dict.fromkeys(OUTCOMES, 0), "total": 0, "levels": {level: dict.fromkeys(OUTCOMES, 0) for level in LEVELS}}


def _count(summary, entry):
    summary[entry["outcome"]] += 1
    summary["total"] += 1
    if entry["level"] in LEVELS:
        summary["levels"][entry["level"]][entry["outcome"]] += 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _reason(reports):
    for report in reports:
        if hasattr(report, "wasxfail"):
            return report.wasxfail
        if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            return str(report.longrepr[2]).removeprefix("Skipped: ")
    return None


_report_key = pytest.StashKey()


def pytest_configure(config):
    value = config.getoption("embedspec_report", None)
    if not value or hasattr(config, "workerinput"):
        return
    path = Path(value)
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    attach(config, _report_key, JsonReport(config, path), "embedspec-json-report")


def pytest_unconfigure(config):
    detach(config, _report_key)
