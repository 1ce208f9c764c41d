"""Running the specification in this process, isolated from the session that runs it.

pytester's inline runs restore sys.modules afterwards, which drops torch
submodules first imported during the run; torch does not survive being
imported twice. This runner keeps every module except the spec's own, which
it imports afresh (the outer session may hold them, decorated under another
Hypothesis profile and bound to another example database).
"""

import sys

import pytest


def _is_spec_module(name):
    return name == "spec" or name.startswith(("spec.", "embedspec.spec"))


class _Reports:
    def __init__(self):
        self.reports = []

    def pytest_runtest_logreport(self, report):
        self.reports.append(report)


def run_spec(args, monkeypatch, tmp_path):
    """Run pytest on ``args`` in-process; return (exit code, test reports)."""
    saved = {name: module for name, module in sys.modules.items() if _is_spec_module(name)}
    for name in saved:
        del sys.modules[name]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    recorder = _Reports()
    try:
        code = pytest.main([*args, "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-o", "addopts="],
                           plugins=[recorder])
    finally:
        for name in [n for n in sys.modules if _is_spec_module(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
    return code, recorder.reports


def failed_clauses(reports):
    """The clause ids (or node ids) of every failed test phase."""
    return {dict(r.user_properties).get("clause", r.nodeid) for r in reports if r.failed}
