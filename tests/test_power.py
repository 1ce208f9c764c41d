"""The suite's power: every mutant fails exactly the clauses it declares, every variant fails none."""

from pathlib import Path

import pytest

from tests.mutants.catalogue import load_all

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_all()


def failed_clauses(pytester, mutant):
    args = [str(ROOT / path) for path in mutant.spec_files]
    args += [f"--impl={mutant.impl}", "-p", "no:cacheprovider", "-p", "no:xdist", "--hypothesis-seed=0", "--hypothesis-profile=mutants", "-q"]
    result = pytester.inline_run(*args)
    failed = set()
    for report in result.getreports("pytest_runtest_logreport"):
        if report.failed:
            clause = dict(report.user_properties).get("clause", report.nodeid)
            failed.add(clause)
    passed = [r for r in result.getreports("pytest_runtest_logreport") if r.passed and r.when == "call"]
    assert passed or mutant.catches, "the run passed nothing: was anything collected?"
    return failed


@pytest.mark.parametrize("mutant", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_mutant_fails_exactly_its_clauses(pytester, monkeypatch, mutant):
    for owner, attribute, replacement in mutant.torch_patches:
        monkeypatch.setattr(owner, attribute, replacement)
    failed = failed_clauses(pytester, mutant)
    monkeypatch.undo()
    kind = "variant (correct, other conventions)" if not mutant.catches else "mutant"
    assert failed == set(mutant.catches), (
        f"{kind} {mutant.impl}: {mutant.description}\n"
        f"  expected to fail: {sorted(mutant.catches)}\n  failed: {sorted(failed)}\n"
        f"  missed: {sorted(set(mutant.catches) - failed)}; unexpected: {sorted(failed - set(mutant.catches))}"
    )
