"""The suite's power: every mutant fails exactly the clauses it declares, every variant fails none."""

from pathlib import Path

import pytest

from tests.inline import failed_clauses, run_spec
from tests.mutants.catalogue import load_all

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_all()


@pytest.mark.parametrize("mutant", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_mutant_fails_exactly_its_clauses(monkeypatch, tmp_path, mutant):
    args = [str(ROOT / path) for path in mutant.spec_files]
    args += [f"--impl={mutant.impl}", "--hypothesis-seed=0", "--hypothesis-profile=mutants"]
    with monkeypatch.context() as patches:
        for owner, attribute, replacement in mutant.torch_patches:
            patches.setattr(owner, attribute, replacement)
        code, reports = run_spec(args, monkeypatch, tmp_path)
    assert any(r.passed and r.when == "call" for r in reports), f"nothing passed (exit code {code}): was anything collected?"
    failed = failed_clauses(reports)
    kind = "variant (correct, other conventions)" if not mutant.catches else "mutant"
    assert failed == set(mutant.catches), (
        f"{kind} {mutant.impl}: {mutant.description}\n"
        f"  expected to fail: {sorted(mutant.catches)}\n  failed: {sorted(failed)}\n"
        f"  missed: {sorted(set(mutant.catches) - failed)}; unexpected: {sorted(failed - set(mutant.catches))}"
    )
