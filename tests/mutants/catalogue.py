"""The catalogue of semantic mutants: realistic bugs, each with the clauses that must catch it.

A mutant is the reference with some families replaced. The `mutant` decorator
turns a function returning those replacements into an implementation object
(usable as ``--impl tests.mutants.<module>:<name>``) and records what it must
fail. A `variant` is a correct implementation with other legal conventions:
it must fail nothing, since any failure there is a false positive of the spec.
"""

import importlib
import pkgutil
import types
from dataclasses import dataclass, field

import embedspec.reference as reference
from embedspec.contract import FAMILIES

CATALOGUE = {}


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    description: str
    catches: frozenset  # clause ids that must fail, and no others
    spec_files: tuple  # spec modules to run it against
    torch_patches: tuple = field(default=())  # (object, attribute, replacement) applied during the run

    @property
    def impl(self):
        return f"{self.module}:{self.name}"


def _implementation(overrides, conventions, unsupported):
    families = {name: getattr(reference, name) for name in FAMILIES if hasattr(reference, name)}
    families.update(overrides)
    return types.SimpleNamespace(conventions=dict(conventions or {}), unsupported=set(unsupported), **families)


def mutant(*, catches, spec, conventions=None, unsupported=(), torch_patches=()):
    """Register a mutant; ``catches`` is the exact set of clause ids that must fail; ``unsupported`` the optional
    features it declares it lacks."""

    def register(build):
        name = build.__name__
        CATALOGUE[f"{build.__module__}:{name}"] = Mutant(
            name=name,
            module=build.__module__,
            description=(build.__doc__ or "").strip(),
            catches=frozenset([catches] if isinstance(catches, str) else catches),
            spec_files=tuple(spec) if isinstance(spec, (tuple, list)) else (spec,),
            torch_patches=tuple(torch_patches),
        )
        return _implementation(build(), conventions, unsupported)

    return register


def variant(*, spec, conventions=None, unsupported=()):
    """Register a correct implementation with other legal conventions, or without some optional features that it
    declares unsupported: it must fail nothing."""
    return mutant(catches=(), spec=spec, conventions=conventions, unsupported=unsupported)


def load_all():
    """Import every catalogue module of this package (each registers its mutants)."""
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_") and info.name != "catalogue":
            importlib.import_module(f"{__package__}.{info.name}")
    return CATALOGUE
