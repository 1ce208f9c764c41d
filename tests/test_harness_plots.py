"""``--embedspec-plots DIR``: heatmaps of the table families, and a clear usage error without matplotlib."""

import os
from pathlib import Path

import pytest

import embedspec.verdict

ROOT = Path(__file__).resolve().parent.parent
SINUSOIDAL = "embedspec.spec.test_sinusoidal"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("EMBEDSPEC_IMPL", raising=False)

    def run(impl, *args):
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--pyargs", SINUSOIDAL,
                                             f"--impl={impl}", "--hypothesis-seed=0", *args)

    return run


def test_failure_and_conformant_tables_are_drawn(run, pytester):
    """sin and cos swapped in the table (not in the module): one PNG per failed property of the table family
    (implementation, oracle, difference), and the module's own table, which conforms."""
    pytest.importorskip("matplotlib", reason="the plots extra (matplotlib) is part of the test extra")
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
