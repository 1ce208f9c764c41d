"""The `embedspec` command: run the specification against an implementation.

    embedspec --impl my_adapter [pytest options...]

Exits with pytest's exit code: 0 when everything passed or was skipped, 1 when
a property failed, 4 for a usage error (an implementation that cannot be loaded).
"""

import sys

import pytest


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    return int(pytest.main(["--pyargs", "embedspec.spec", "-p", "no:cacheprovider", *argv]))


if __name__ == "__main__":
    sys.exit(main())
