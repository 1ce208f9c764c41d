"""Finding the implementation under test and wrapping its family factories."""

import functools
import importlib
import inspect
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .contract import (FAMILIES, SIGNATURES, ConventionError, FeatureError, resolve_conventions,
                       resolve_unsupported)

DEFAULT_IMPLEMENTATION = "embedspec.reference"


class ImplementationError(Exception):
    """The implementation named by the user cannot be used at all."""


class FactorySignatureError(Exception):
    """A family factory cannot be called with arguments of the contract: the adapter's
    signature is wrong. Reported as an error of the property, not as its failure, and
    deliberately not a TypeError, which bad-input properties accept as a verdict."""


def _is_tensor(value):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _describe_argument(value):
    """An argument as a call shows it: a tensor by its shape and dtype, never its values."""
    if _is_tensor(value):
        return f"<tensor of shape {tuple(value.shape)}, {value.dtype}>"
    return repr(value)


def _describe_call(qualname, args, kwargs):
    shown = [_describe_argument(a) for a in args] + [f"{k}={_describe_argument(v)}" for k, v in kwargs.items()]
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

    def signature_problem(self, family):
        """Why the family's factory cannot be called with the contract's arguments (``contract.SIGNATURES``, the
        keywords of features declared unsupported left out), or None. Checked once, at the start of the run."""
        raw = getattr(self.target, family)
        try:
            signature = inspect.signature(raw)
        except (TypeError, ValueError):  # some builtins have none: nothing to check
            return None
        positional, keywords = SIGNATURES[family]
        keywords = [name for name, feature in keywords.items() if feature is None or self.supports(feature)]
        try:
            signature.bind(*positional, **dict.fromkeys(keywords))
        except TypeError as exc:
            contract = ", ".join(positional) + "".join(f", {name}=..." if n else f", *, {name}=..."
                                                       for n, name in enumerate(keywords))
            return (f"the factory {self.name}.{family}{signature} cannot be called with the contract's arguments "
                    f"({contract}): {exc}")
        return None

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
                # a function family's factory is the computation, called on tensors: not a construction
                kind = "call" if any(map(_is_tensor, (*args, *kwargs.values()))) else "factory call"
                exc.add_note(f"raised by the {kind} {_describe_call(qualname, args, kwargs)}")
                raise

        call.embedspec_family = family
        call.embedspec_qualname = qualname
        return call


def _describe_exception(exc):
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _first_on_path(folder):
    folder = str(folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _import_module(module_name, directory):
    """Import ``module_name``; a module not found anywhere else is looked for in ``directory`` (the working
    directory of the run: ``python -m pytest`` has it on sys.path, the ``embedspec`` and ``pytest`` commands do
    not)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        parts = module_name.split(".")
        itself = exc.name in {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
        if not itself or str(directory) in sys.path:
            raise
    _first_on_path(directory)
    return importlib.import_module(module_name)


def _import_file(file, directory):
    """Import the module a file path names (``./my_adapter.py``), its folder first on sys.path, so that it is an
    ordinary module (``import my_adapter``, pickled by name) and the modules beside it import as they do when it
    runs as a script."""
    path = Path(file) if Path(file).is_absolute() else Path(directory) / file
    if not path.is_file():
        raise ImplementationError(f"the implementation file {file!r} does not exist ({path})")
    path = path.resolve()
    existing = sys.modules.get(path.stem)
    if existing is not None and Path(getattr(existing, "__file__", None) or "").resolve() != path:
        raise ImplementationError(f"the implementation file {file!r} would be the module {path.stem!r}, which is "
                                  f"already imported from {getattr(existing, '__file__', None) or 'elsewhere'}: "
                                  f"rename the file")
    _first_on_path(path.parent)
    return importlib.import_module(path.stem)


# a file path, with an optional :attribute (a drive letter's colon comes before the .py)
_FILE_PATH = re.compile(r"(?P<file>.+?\.py)(?::(?P<attribute>[\w.]*))?")


def import_object(path, directory=None):
    """Import ``dotted.module[:attribute]``, or ``path/to/file.py[:attribute]``, relative to ``directory`` (by
    default the working directory)."""
    directory = Path.cwd() if directory is None else Path(directory)
    file = _FILE_PATH.fullmatch(path)
    module_name, attribute = (file["file"], file["attribute"] or "") if file else path.partition(":")[::2]
    try:
        obj = _import_file(module_name, directory) if file else _import_module(module_name, directory)
    except ImplementationError:
        raise
    except BaseException as exc:  # a SyntaxError or SystemExit in user code must not escape either
        raise ImplementationError(
            f"cannot import the implementation module {module_name!r}: {_describe_exception(exc)}") from exc
    for part in filter(None, attribute.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImplementationError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def load_implementation(path, directory=None):
    """Load and validate an implementation (an object, or a name for ``import_object``, relative to ``directory``);
    every problem is one ImplementationError naming it."""
    if not isinstance(path, str):
        target, name = path, getattr(path, "__name__", type(path).__name__)
    else:
        target, name = import_object(path, directory), path
    implementation = Implementation(name=name, target=target)
    for family in FAMILIES:  # an attribute that imports lazily may fail here: name the adapter, not a traceback
        try:
            implementation.provides(family)
        except Exception as exc:
            raise ImplementationError(f"implementation {name!r}: looking up its family {family!r} raised "
                                      f"{_describe_exception(exc)}") from exc
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
