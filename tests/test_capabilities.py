"""Declared capabilities (`unsupported`): a correct implementation without an optional feature that declares it
passes, the clauses needing the feature skipped as "not provided: <feature>"; unknown names are a usage error."""

import textwrap
from pathlib import Path

import pytest

from embedspec.contract import FEATURES
from tests.inline import POWER_PROFILE, run_inline

ROOT = Path(__file__).resolve().parent.parent
CROSS_CUTTING = ("devices", "dtypes", "autograd", "purity", "stateful", "compile", "tensor_semantics")


def _skip_reasons(run):
    return {dict(r.user_properties).get("clause"): r.longrepr[2] for r in run.reports if r.skipped}


def test_token_embedding_without_padding_passes_when_declared(monkeypatch, tmp_path):
    """tests/mutants/token_embedding.py:no_padding_idx_declared refuses padding_idx= with a TypeError and declares
    it unsupported: across its own families' files and the cross-cutting ones nothing fails, the padding clauses
    are skipped as not provided, and the cross-cutting clauses run on the configurations without padding."""
    files = [str(ROOT / f"spec/test_{name}.py")
             for name in ("token_embedding", "transformer_embedding", *CROSS_CUTTING)]
    run = run_inline([*files, "--impl=tests.mutants.token_embedding:no_padding_idx_declared", "--hypothesis-seed=0",
                      f"--hypothesis-profile={POWER_PROFILE}", "-k", "token_embedding or transformer_embedding"],
                     monkeypatch, tmp_path)
    assert not run.failed, run.failure_lines(run.failed)
    reasons = _skip_reasons(run)
    for clause in ("TOK-PAD-01", "TOK-PAD-02", "EMB-PAD-01"):
        assert reasons.get(clause) == "Skipped: not provided: token_embedding.padding_idx", (clause, reasons.get(clause))
    ran = {dict(r.user_properties).get("clause") for r in run.reports if r.passed and r.when == "call"}
    assert {"DEV-MOVE-01", "DTYPE-VAL-01", "GRAD-CHECK-01", "TOK-EDGE-01", "EMB-SUM-01"} <= ran, sorted(ran)


def test_unknown_feature_is_one_usage_error_listing_the_known_ones(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(my_impl=textwrap.dedent("""
        import embedspec.reference as r
        token_embedding = r.token_embedding
        unsupported = {"token_embedding.padding"}
    """))
    result = pytester.runpytest_subprocess("--pyargs", "embedspec.spec.test_token_embedding", "-p", "no:cacheprovider",
                                           "--impl=my_impl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*unknown feature(s) 'token_embedding.padding'; known features: {', '.join(FEATURES)}*"])
    assert "Traceback" not in result.stderr.str()
