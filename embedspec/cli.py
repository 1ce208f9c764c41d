"""The `embedspec` command: run the specification against an implementation.

    embedspec --impl my_adapter [pytest options...]
    embedspec matrix [--profile ci] [--only NAME ...]   (see embedspec.matrix)

Exits with pytest's exit code: 0 when everything passed or was skipped, 1 when
a property failed, 4 for a usage error (an implementation that cannot be loaded).
Unless ``--embedspec-report`` is given, the JSON conformance report is written to
``embedspec-report.json`` in the working directory; the run ends with the verdict
table and that path. ``embedspec --help`` is the command's own help (its options,
the implementation first, and the ``matrix`` subcommand); ``embedspec --help-pytest``
is pytest's, every option of which the command accepts.
"""

import contextlib
import io
import re
import sys

import pytest

DEFAULT_REPORT = "embedspec-report.json"
PYTEST_HELP = "--help-pytest"
# the options a new user needs first; the rest of the plugin's options follow in pytest's order
FIRST_OPTIONS = ("--impl", "--level")

HELP = """\
usage: embedspec [--impl DOTTED.PATH[:ATTR] | --impl FILE.py] [options] [pytest options]
       embedspec matrix [--profile ci] [--only NAME ...] [--output CONFORMANCE.md]

Run the executable specification of token embeddings and positional encodings
(pytest and Hypothesis properties) against an implementation: by default the
reference, embedspec.reference. Writes embedspec-report.json and ends with a
verdict table per family.

subcommands:
  matrix                the specification against every ready adapter whose library
                        imports, written up as CONFORMANCE.md (embedspec matrix --help)

embedspec options:
{options}

exit codes: 0 conforms (at the gated --level), 1 a property failed, 2 interrupted,
4 usage error (the implementation cannot be loaded, a bad xfails file), 5 nothing collected.

Every pytest option is accepted too (-k EXPRESSION, -x, -n N with pytest-xdist,
--junitxml=FILE, --hypothesis-profile=ci, ...): embedspec --help-pytest lists them.
"""


def _pytest_help():
    """pytest's --help, with this environment's plugins, as text."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        pytest.main(["--help", "-p", "no:cacheprovider"])
    return captured.getvalue()


def plugin_options(text):
    """The option blocks of the embedspec group in pytest's help, the ones users need first at the top."""
    match = re.search(r"^embedspec[^\n]*:\n(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    if match is None:
        return []
    blocks = []
    for line in match.group(1).splitlines():
        if re.match(r"  -", line) or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    first = [b for name in FIRST_OPTIONS for b in blocks if b[0].split()[0].startswith(name)]
    return first + [b for b in blocks if b not in first]


def help_text():
    options = plugin_options(_pytest_help())
    return HELP.format(options="\n".join(line for block in options for line in block))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["matrix"]:  # embedspec matrix: every ready adapter, written up as CONFORMANCE.md
        from .matrix import main as matrix

        return matrix(argv[1:])
    if PYTEST_HELP in argv:
        return int(pytest.main(["--help"]))
    if "--help" in argv or "-h" in argv:
        print(help_text(), end="")
        return 0
    # this module has already imported the embedspec package, which pytest would like to
    # rewrite; the spec modules themselves are imported later and are rewritten as usual
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if not any(arg.startswith("--embedspec-report") for arg in argv):
        argv.append(f"--embedspec-report={DEFAULT_REPORT}")
    return int(pytest.main(["--pyargs", "embedspec.spec", "-p", "no:cacheprovider", *quiet, *argv]))


if __name__ == "__main__":
    sys.exit(main())
