"""The suite's power: every mutant fails exactly the clauses it declares, every variant fails none.

Each catalogue entry runs in-process (tests/inline.py) against the spec files it
names, under the power profile: the dev profile's examples, seed 0, no example
database, no shrinking (the verdict is the dev profile's; see inline.py).

With ``EMBEDSPEC_POWER_LOG=<folder>`` every run also writes one JSON line with
its examples-to-failure per clause (scripts/examples_to_failure.py reads them);
``EMBEDSPEC_POWER_SEED`` replaces the seed 0.
"""

import json
import os
from pathlib import Path

import pytest

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
