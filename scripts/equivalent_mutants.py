"""Surviving AST mutants of the reference that are equivalent to it, each with its one-line argument.

Keys are the mutant ids printed by scripts/mutate.py (module:function: original -> mutated).
A mutant belongs here only when no correct implementation of the contract could
be told from it: the change is unobservable through the contract (it alters
nothing a caller can see), or it alters only what the contract leaves free.
Every other survivor is a gap in the specification and gets a sharper property.
"""

EQUIVALENT = {
}
