"""``--embedspec-plots DIR``: heatmaps of the table families, and a clear usage error without matplotlib."""

import importlib.util
import os
from pathlib import Path

import pytest

import embedspec.verdict

ROOT = Path(__file__).resolve().parent.parent
SINUSOIDAL = "embedspec.spec.test_sinusoidal"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# the runs draw in a subprocess: look matplotlib up without importing it here (pytester's snapshots of sys.modules
# would drop it after the first test, and importing it again in this process fails)
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="the plots extra (matplotlib) is part of the test extra")


@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("EMBEDSPEC_IMPL", raising=False)

    def run(impl, *args):
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--pyargs", SINUSOIDAL,
                                             f"--impl={impl}", "--hypothesis-seed=0", *args)

    return run


@needs_matplotlib
def test_failure_and_conformant_tables_are_drawn(run, pytester):
    """sin and cos swapped in the table (not in the module): one PNG per failed property of the table family
    (implementation, oracle, difference), and the module's own table, which conforms."""
    result = run("tests.mutants.sinusoidal:sin_cos_swapped", "--embedspec-plots=plots", "-k", "VAL or ADD")
    assert result.ret == 1
    written = sorted(path.name for path in (pytester.path / "plots").iterdir())
    assert "sinusoidal_module-table.png" in written
    failures = [name for name in written if name.startswith("sinusoidal_encoding-") and name.endswith("-failure.png")]
    assert "sinusoidal_encoding-SIN-VAL-01-failure.png" in failures, written
    for name in written:
        assert (pytester.path / "plots" / name).read_bytes()[:8] == PNG_MAGIC, name
    result.stdout.fnmatch_lines([f"plots: {len(written)} PNG file(s) in plots"])


def test_without_matplotlib_the_option_says_how_to_install_it(monkeypatch):
    """The option is a usage error, before anything runs, naming the command that installs the extra."""
    monkeypatch.setattr(embedspec.verdict, "_matplotlib_missing", lambda: True)
    config = type("Config", (), {"getoption": staticmethod(lambda name, default=None: "plots")})()
    with pytest.raises(pytest.UsageError, match=r"needs matplotlib.*pip install 'embedspec\[plots\]'"):
        embedspec.verdict.pytest_configure(config)


@needs_matplotlib
def test_error_only_failures_get_no_plot(run, pytester):
    """Issue 14, item 13: a failure plot was drawn for every failed clause of a table family, error-only ones too
    (an odd dim accepted: the table itself is right, and the three panels showed nothing). A failure plot is drawn
    for a value clause only, and only where the plotted table differs from the oracle."""
    result = run("tests.mutants.sinusoidal:odd_dim_zero_padded", "--embedspec-plots=plots", "-k", "ODD or REFUSE or VAL")
    assert result.ret == 1
    written = sorted(path.name for path in (pytester.path / "plots").iterdir())
    assert not [name for name in written if name.endswith("-failure.png")], written
    result.stdout.fnmatch_lines(["*no failure plot of sinusoidal_encoding: none of its failed clauses (SIN-ODD-01, "
                                 "SIN-REFUSE-01) is about the values of its table*"])


@needs_matplotlib
def test_a_family_with_only_expected_failures_is_drawn(run, pytester):
    """Issue 14, item 13: a family whose failures are all expected (--xfails) got neither its table nor the plot of
    its divergence. It gets both, and the verdict table calls it by what it is, not "nonconformant"."""
    (pytester.path / "xfails.toml").write_text('[[xfail]]\nid = "SIN-VAL-01"\nreason = "sin and cos swapped"\n')
    result = run("tests.mutants.sinusoidal:sin_cos_swapped", "--embedspec-plots=plots", "-k", "SIN-VAL",
                 "--xfails=xfails.toml")
    assert result.ret == 0
    written = sorted(path.name for path in (pytester.path / "plots").iterdir())
    assert written == ["sinusoidal_encoding-SIN-VAL-01-failure.png", "sinusoidal_encoding-table.png"], written
    result.stdout.fnmatch_lines(["sinusoidal_encoding * 1 known divergence"])
