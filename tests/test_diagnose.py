"""Diagnosis by convention: a value failure under the wrong declared convention names the one the output matches."""

import types
from pathlib import Path

from tests.inline import POWER_PROFILE, run_inline
from tests.mutants.token_embedding import scaled_by_sqrt_dim

ROOT = Path(__file__).resolve().parent.parent

# A correct sqrt(d)-scaled token embedding whose adapter forgot to declare the scale: it declares nothing, so
# token_embedding.scale is `one`.
SQRT_DIM_DECLARED_ONE = types.SimpleNamespace(token_embedding=scaled_by_sqrt_dim.token_embedding)


def _failure_messages(run):
    return {dict(r.user_properties)["clause"]: r.embedspec["failure"]["message"]
            for r in run.reports if r.failed and r.when == "call"}


def test_token_scale_failure_names_the_convention_the_output_matches(monkeypatch, tmp_path):
    run = run_inline([str(ROOT / "spec/test_token_embedding.py"), f"--impl={__name__}:SQRT_DIM_DECLARED_ONE",
                      "--hypothesis-seed=0", f"--hypothesis-profile={POWER_PROFILE}", "-k", "LOOKUP or GRAD or EDGE"],
                     monkeypatch, tmp_path)
    messages = _failure_messages(run)
    assert set(messages) == {"TOK-LOOKUP-01", "TOK-GRAD-01", "TOK-EDGE-01"}, messages
    for clause, message in messages.items():
        assert "the output matches `token_embedding.scale = sqrt_dim`: declare it in `conventions`" in message, (
            clause, message)
