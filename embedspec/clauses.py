"""The grammar of a property's docstring: ``CLAUSE-ID (level): claim``.

The id is stable (xfails files and CI history cite it); the level is the clause's
conformance level (``../shared/contract.md``, "Conformance levels"), stated once, here
in the property itself, so that the catalogue, the reports and the exit code read it
from the same place.
"""

import re

LEVELS = ("must", "should")
CLAUSE_ID = re.compile(r"^\s*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) \((must|should)\):")


def _match(function):
    return CLAUSE_ID.match(getattr(function, "__doc__", None) or "")


def clause_of(function):
    """The clause id a property states at the start of its docstring, or None."""
    match = _match(function)
    return match.group(1) if match else None


def level_of(function):
    """The level (``must`` or ``should``) a property states beside its clause id, or None."""
    match = _match(function)
    return match.group(2) if match else None
