"""Declared capabilities (`unsupported`): a correct implementation without an optional feature that declares it
passes, the clauses needing the feature skipped as "not provided: <feature>"; unknown names are a usage error."""

import textwrap
import types
from pathlib import Path

import pytest

from embedspec.contract import FEATURES
from tests.inline import POWER_PROFILE, run_inline
from tests.mutants import relative_bucket

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


def _run_spec(monkeypatch, tmp_path, spec, impl):
    return run_inline([str(ROOT / spec), f"--impl={impl}", "--hypothesis-seed=0",
                       f"--hypothesis-profile={POWER_PROFILE}"], monkeypatch, tmp_path)


def _passed_clauses(run):
    return {dict(r.user_properties).get("clause") for r in run.reports if r.passed and r.when == "call"}


@pytest.mark.parametrize("spec, impl, feature, clauses", [
    ("spec/test_sinusoidal.py", "tests.mutants.sinusoidal:base_hard_coded_declared", "sinusoidal.base",
     ("SIN-BASE-01", "SINMOD-BASE-01")),
    ("spec/test_sincos_2d.py", "tests.mutants.sincos_2d:base_hard_coded_declared", "sincos_2d.base", ("SC2D-BASE-01",)),
])
def test_hard_coded_base_passes_when_declared(monkeypatch, tmp_path, spec, impl, feature, clauses):
    """A table with the wavelength 10000 hard-coded (factories without base=, as MAE, timm and most tutorials) that
    declares the base unsupported: nothing fails, the base clauses are skipped as not provided, the values at the
    default base are still checked."""
    run = _run_spec(monkeypatch, tmp_path, spec, impl)
    assert not run.failed, run.failure_lines(run.failed)
    reasons = _skip_reasons(run)
    expected = f"Skipped: not provided: {feature}"
    assert {clause: reasons.get(clause) for clause in clauses} == dict.fromkeys(clauses, expected)
    assert {"SIN-VAL-01", "SC2D-VAL-01"} & _passed_clauses(run), sorted(_passed_clauses(run))


# The same one-direction buckets without the declaration.
ENCODER_ONLY_UNDECLARED = types.SimpleNamespace(
    relative_position_bucket=relative_bucket.encoder_only_declared.relative_position_bucket)
DECODER_ONLY_UNDECLARED = types.SimpleNamespace(
    relative_position_bucket=relative_bucket.decoder_only_declared.relative_position_bucket)


@pytest.mark.parametrize("variant, undeclared", [("encoder_only_declared", "ENCODER_ONLY_UNDECLARED"),
                                                 ("decoder_only_declared", "DECODER_ONLY_UNDECLARED")])
def test_t5_buckets_of_one_direction_pass_when_declared(monkeypatch, tmp_path, variant, undeclared):
    """T5 buckets in one direction only (torchtune's T5 encoder has only the bidirectional ones; a decoder only the
    unidirectional ones), refusing the other and declaring it unsupported: every T5 clause runs, on settings of
    the direction it has, and passes; the same implementation undeclared fails."""
    run = _run_spec(monkeypatch, tmp_path, "spec/test_relative_bucket.py", f"tests.mutants.relative_bucket:{variant}")
    assert not run.failed, run.failure_lines(run.failed)
    assert not _skip_reasons(run), _skip_reasons(run)
    assert {"T5B-VAL-01", "T5B-SIGN-01", "T5B-DEFAULT-01", "T5B-EDGE-01", "T5B-EDGE-02"} <= _passed_clauses(run)
    run = _run_spec(monkeypatch, tmp_path, "spec/test_relative_bucket.py", f"{__name__}:{undeclared}")
    assert "T5B-VAL-01" in run.failed, sorted(run.failed)
