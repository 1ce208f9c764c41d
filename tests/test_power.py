"""The suite's power: every mutant fails exactly the clauses it declares, every variant fails none.

Each catalogue entry runs in-process (tests/inline.py) against the spec files it
names, under the power profile: the dev profile's examples, seed 0, no example
database, no shrinking (the verdict is the dev profile's; see inline.py).

With ``EMBEDSPEC_POWER_LOG=<folder>`` every run also writes one JSON line with
its examples-to-failure per clause (scripts/examples_to_failure.py reads them);
``EMBEDSPEC_POWER_SEED`` replaces the seed 0.
"""

import ast
import json
import os
from pathlib import Path

import pytest

from embedspec.clauses import CLAUSE_ID
from tests.inline import POWER_PROFILE, run_inline
from tests.mutants.catalogue import load_all

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_all()
SEED = int(os.environ.get("EMBEDSPEC_POWER_SEED", "0"))
LOG = os.environ.get("EMBEDSPEC_POWER_LOG")


def _log(mutant, run):
    os.makedirs(LOG, exist_ok=True)
    line = dict(
        mutant=f"{mutant.module}:{mutant.name}", seed=SEED, catches=sorted(mutant.catches), failed=sorted(run.failed),
        examples_to_failure=run.examples_to_failure(), examples=run.total_examples, seconds=run.seconds,
    )
    with open(os.path.join(LOG, f"power-{os.getpid()}.jsonl"), "a") as handle:
        handle.write(json.dumps(line) + "\n")


@pytest.mark.parametrize("mutant", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_mutant_fails_exactly_its_clauses(monkeypatch, tmp_path, mutant):
    args = [str(ROOT / path) for path in mutant.spec_files]
    args += [f"--impl={mutant.impl}", f"--hypothesis-seed={SEED}", f"--hypothesis-profile={POWER_PROFILE}"]
    with monkeypatch.context() as patches:
        for owner, attribute, replacement in mutant.torch_patches:
            patches.setattr(owner, attribute, replacement)
        run = run_inline(args, monkeypatch, tmp_path)
    if LOG:
        _log(mutant, run)
    assert run.passed_any, f"nothing passed (exit code {run.code}): was anything collected?"
    failed = run.failed
    kind = "variant (correct, other conventions)" if not mutant.catches else "mutant"
    unexpected = failed - set(mutant.catches)
    assert failed == set(mutant.catches), (
        f"{kind} {mutant.impl}: {mutant.description}\n"
        f"  expected to fail: {sorted(mutant.catches)}\n  failed: {sorted(failed)}\n"
        f"  missed: {sorted(set(mutant.catches) - failed)}; unexpected: {sorted(unexpected)}\n"
        + "".join(f"  {clause}: {line}\n" for clause, line in run.failure_lines(unexpected).items())
    )


def _clauses_of_the_spec():
    """Every clause id the specification states: the first word of each property's docstring."""
    clauses = set()
    for path in sorted((ROOT / "spec").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                match = CLAUSE_ID.match(ast.get_docstring(node) or "")
                if match:
                    clauses.add(match.group(1))
    return clauses


def test_every_clause_is_the_declared_catch_of_a_mutant():
    """The catalogue proves every clause can fail: each is some mutant's declared catch (DEV-ACC-01 only where an
    accelerator makes its mutant declare it)."""
    clauses = _clauses_of_the_spec()
    caught = set().union(*(m.catches for m in CATALOGUE.values()))
    assert len(clauses) > 100, f"only {len(clauses)} clauses found in spec/"
    assert not caught - clauses, f"mutants declare clauses the spec does not state: {sorted(caught - clauses)}"
    uncaught = clauses - caught - {"DEV-ACC-01"}
    assert not uncaught, f"clauses no mutant is declared to fail: {sorted(uncaught)}"
