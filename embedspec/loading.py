"""Finding the implementation under test and wrapping its family factories."""

import functools
import importlib
import inspect
import traceback
from dataclasses import dataclass, field

from .contract import FAMILIES, ConventionError, FeatureError, resolve_conventions, resolve_unsupported

DEFAULT_IMPLEMENTATION = "embedspec.reference"


class ImplementationError(Exception):
    """The implementation named by the user cannot be used at all."""


class FactorySignatureError(Exception):
    """A family factory cannot be called with arguments of the contract: the adapter's
    signature is wrong. Reported as an error of the property, not as its failure, and
    deliberately not a TypeError, which bad-input properties accept as a verdict."""


def _describe_call(qualname, args, kwargs):
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{qualname}({', '.join(shown)})"


@dataclass
class Implementation:
    """An implementation object, the name it was given by, its resolved conventions and the optional
    features it declares unsupported."""

    name: str
    target: object
    conventions: dict = field(default_factory=dict)
    unsupported: frozenset = frozenset()

    def supports(self, feature):
        return feature not in self.unsupported

    def provides(self, family):
        return callable(getattr(self.target, family, None))

    @property
    def provided(self):
        return [f for f in FAMILIES if self.provides(f)]

    def factory(self, family):
        """The family's factory, annotating any exception with the exact call that raised it.

        The exception itself is re-raised unchanged, because the specification checks
        the type of errors raised for bad input.
        """
        raw = getattr(self.target, family)
        qualname = f"{self.name}.{family}"
        try:
            signature = inspect.signature(raw)
        except (TypeError, ValueError):  # some builtins have none: call them unchecked
            signature = None

        @functools.wraps(raw)
        def call(*args, **kwargs):
            if signature is not None:
                try:
                    signature.bind(*args, **kwargs)
                except TypeError as exc:
                    raise FactorySignatureError(
                        f"the factory {qualname}{signature} cannot be called as "
                        f"{_describe_call(qualname, args, kwargs)}: {exc}"
                    ) from None
            try:
                return raw(*args, **kwargs)
            except Exception as exc:
                exc.add_note(f"raised by the factory call {_describe_call(qualname, args, kwargs)}")
                raise

        call.embedspec_family = family
        call.embedspec_qualname = qualname
        return call


def import_object(path):
    """Import ``dotted.module`` or ``dotted.module:attribute``."""
    module_name, _, attribute = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except BaseException as exc:  # a SyntaxError or SystemExit in user code must not escape either
        cause = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise ImplementationError(f"cannot import the implementation module {module_name!r}: {cause}") from exc
    for part in filter(None, attribute.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImplementationError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def load_implementation(path):
    """Load and validate an implementation; every problem is one ImplementationError."""
    if not isinstance(path, str):
        target, name = path, getattr(path, "__name__", type(path).__name__)
    else:
        target, name = import_object(path), path
    implementation = Implementation(name=name, target=target)
    if not implementation.provided:
        raise ImplementationError(
            f"implementation {name!r} provides none of the contract's families "
            f"({', '.join(FAMILIES)})"
        )
    declared = getattr(target, "conventions", None) or {}
    if not isinstance(declared, dict):
        raise ImplementationError(f"implementation {name!r}: `conventions` must be a dict, got {type(declared).__name__}")
    try:
        implementation.conventions = resolve_conventions(declared)
    except ConventionError as exc:
        raise ImplementationError(f"implementation {name!r} declares bad conventions: {exc}") from None
    try:
        implementation.unsupported = resolve_unsupported(getattr(target, "unsupported", None) or ())
    except FeatureError as exc:
        raise ImplementationError(f"implementation {name!r} declares bad unsupported features: {exc}") from None
    return implementation
