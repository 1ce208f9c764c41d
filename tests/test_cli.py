"""The `embedspec` command's own help and the matrix subcommand's usage errors (issue 14, item 11)."""

import pytest

from embedspec import cli, matrix


def test_help_leads_with_embedspec(capsys):
    """`embedspec --help` printed 534 lines of pytest's help before embedspec's options and never named `matrix`.
    It now says what the command does, its subcommand and its own options (the implementation first), and where
    pytest's options are."""
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("usage: embedspec")
    assert len(lines) < 120, len(lines)
    assert "embedspec matrix" in out and "CONFORMANCE.md" in out
    options = [line.split()[0] for line in lines if line.startswith("  --")]
    assert options[0].startswith("--impl") and options[1].startswith("--level"), options
    for option in ("--xfails", "--strict-xfails", "--embedspec-timeout", "--embedspec-report", "--embedspec-plots",
                   "--embedspec-device"):
        assert any(o.startswith(option) for o in options), (option, options)
    assert "embedspec --help-pytest" in out
    assert "--benchmark" not in out and "--looponfail" not in out  # other plugins' options are pytest's help


def test_help_pytest_is_pytest_s_own_help(capsys):
    assert cli.main(["--help-pytest"]) == 0
    out = capsys.readouterr().out
    assert "-k EXPRESSION" in out and "--embedspec-timeout" in out


def test_matrix_only_with_an_unknown_name_lists_the_known_ones(capsys):
    """`embedspec matrix --only NAME` with a name that is no adapter said only that it was unknown."""
    assert matrix.main(["--only", "hf_transformer.llama"]) == 4
    err = capsys.readouterr().err
    assert "unknown adapter(s) hf_transformer.llama" in err
    names = [adapter.name for adapter in matrix._adapters()]
    assert all(name in err for name in names)
    assert "did you mean hf_transformers.llama?" in err


@pytest.mark.parametrize("argv", [["matrix", "--help"], ["matrix", "-h"]])
def test_matrix_help(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 0
    assert "usage: embedspec matrix" in capsys.readouterr().out
