"""Diagnosis by convention: a value failure under the wrong declared convention names the one the output matches."""

import types
from pathlib import Path

from tests.inline import POWER_PROFILE, run_inline
from tests.mutants.sinusoidal import split_layout
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


# A correct split-layout sinusoidal table (sines in the first half, as fairseq and Marian) whose adapter declares
# nothing, so sinusoidal.layout is `interleaved`.
SPLIT_DECLARED_INTERLEAVED = types.SimpleNamespace(sinusoidal_encoding=split_layout.sinusoidal_encoding)


def test_sinusoidal_layout_failure_names_the_convention_the_output_matches(monkeypatch, tmp_path):
    run = run_inline([str(ROOT / "spec/test_sinusoidal.py"), f"--impl={__name__}:SPLIT_DECLARED_INTERLEAVED",
                      "--hypothesis-seed=0", f"--hypothesis-profile={POWER_PROFILE}", "-k", "VAL or EDGE or EXTRA"],
                     monkeypatch, tmp_path)
    messages = _failure_messages(run)
    assert set(messages) == {"SIN-VAL-01", "SIN-EDGE-01", "SIN-EXTRA-01"}, messages
    for clause, message in messages.items():
        assert "the output matches `sinusoidal.layout = split`: declare it in `conventions`" in message, (
            clause, message)


def test_alibi_mode_failure_names_the_convention_the_output_matches(monkeypatch, tmp_path):
    """BLOOM's bias (m * j, right only under a causal mask) declared symmetric: the value failure names `causal`."""
    run = run_inline([str(ROOT / "spec/test_alibi.py"), "--impl=tests.mutants.alibi:declares_symmetric_builds_bloom",
                      "--hypothesis-seed=0", f"--hypothesis-profile={POWER_PROFILE}", "-k", "VAL"],
                     monkeypatch, tmp_path)
    message = _failure_messages(run)["ALIBI-VAL-01"]
    assert "the output matches `alibi.mode = causal`: declare it in `conventions`" in message, message
