"""The `embedspec` command: run the specification against an implementation.

    embedspec --impl my_adapter [pytest options...]
    embedspec matrix [--profile ci] [--only NAME ...]   (see embedspec.matrix)

Exits with pytest's exit code: 0 when everything passed or was skipped, 1 when
a property failed, 4 for a usage error (an implementation that cannot be loaded).
Unless ``--embedspec-report`` is given, the JSON conformance report is written to
``embedspec-report.json`` in the working directory; the run ends with the verdict
table and that path.
"""

import sys

import pytest

DEFAULT_REPORT = "embedspec-report.json"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["matrix"]:  # embedspec matrix: every ready adapter, written up as CONFORMANCE.md
        from .matrix import main as matrix

        return matrix(argv[1:])
    # this module has already imported the embedspec package, which pytest would like to
    # rewrite; the spec modules themselves are imported later and are rewritten as usual
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if not any(arg.startswith("--embedspec-report") for arg in argv):
        argv.append(f"--embedspec-report={DEFAULT_REPORT}")
    return int(pytest.main(["--pyargs", "embedspec.spec", "-p", "no:cacheprovider", *quiet, *argv]))


if __name__ == "__main__":
    sys.exit(main())
