"""How to reproduce a failure: the command line, the Hypothesis seed and a standalone snippet.

Plain helpers (no hooks), used by the report and the watch on examples:

- ``WorkingDirectoryDatabase``: Hypothesis' own default example database
  (``.hypothesis/examples`` under the working directory, or under
  ``$HYPOTHESIS_STORAGE_DIRECTORY``), looked up when first used, so that a
  derandomized profile can still replay the failures saved by earlier runs;
- ``derandomized(parent)``: settings that generate the same examples on every
  run and keep ``parent``'s example database;
- ``command_line(item)`` and ``snippet(item, example)``.
"""

import dataclasses
import enum
import math
import shlex
import sys
import types

from hypothesis import settings
from hypothesis.database import ExampleDatabase

# Tensors with more elements than this are not written out in a snippet.
SNIPPET_MAX_ELEMENTS = 256


class WorkingDirectoryDatabase(ExampleDatabase):
    """Hypothesis' default directory database, resolved on first use (not at import, when
    Hypothesis would warn about touching storage during initialisation)."""

    def __init__(self):
        super().__init__()
        self._database = None

    def _db(self):
        if self._database is None:
            self._database = settings.get_profile("default").database
        return self._database

    def save(self, key, value):
        self._db().save(key, value)

    def fetch(self, key):
        yield from self._db().fetch(key)

    def delete(self, key, value):
        self._db().delete(key, value)

    def move(self, src, dest, value):
        self._db().move(src, dest, value)

    def __repr__(self):
        return "WorkingDirectoryDatabase()"


_WORKING_DIRECTORY = object()


def derandomized(parent, database=_WORKING_DIRECTORY, **changes):
    """``parent`` with ``derandomize=True`` and an example database all the same.

    Hypothesis drops the database of a derandomized profile; this keeps one (by default
    the working directory's; pass ``database=None`` for none), so that a failure found
    earlier, by any profile, is replayed first and a verdict never goes back to passing
    while the bug is there.
    """
    fixed = settings(parent, derandomize=True, **changes)
    if database is _WORKING_DIRECTORY:
        database = WorkingDirectoryDatabase()
    return settings(fixed, database=database)


# --- the command line -------------------------------------------------------------

def spec_target(item):
    """``embedspec.spec.<module>::<test name>``, the form ``--pyargs`` accepts anywhere."""
    module = item.module.__name__
    if not module.startswith("embedspec."):
        module = "embedspec." + module
    if getattr(getattr(item, "function", None), "embedspec_signature_check", False):
        return module  # made at collection (embedspec.plugin.SignatureChecks): the module's run makes it again
    return f"{module}::{item.nodeid.split('::', 1)[1]}"


def implementation_argument(config):
    """``--impl=NAME`` for the session's implementation, or None when it has no importable name."""
    from .plugin import ENV_VAR, _implementation_key

    chosen = config.getoption("embedspec_impl", None)
    if not chosen:
        import os

        chosen = os.environ.get(ENV_VAR)
    if chosen:
        return f"--impl={chosen}"
    implementation = config.stash.get(_implementation_key, None)
    if implementation is None:
        return None
    if isinstance(implementation.target, types.ModuleType) or ":" in implementation.name or "." in implementation.name:
        return f"--impl={implementation.name}"
    return None


def command_line(item):
    """The command that runs this one property again, as this session ran it."""
    config = item.config
    args = ["python", "-m", "pytest", "--pyargs", spec_target(item)]
    impl = implementation_argument(config)
    if impl:
        args.append(impl)
    profile = config.getoption("hypothesis_profile", None)
    if profile:
        args.append(f"--hypothesis-profile={profile}")
    seed = config.getoption("hypothesis_seed", None)
    if seed is not None:
        args.append(f"--hypothesis-seed={seed}")
    device = config.getoption("embedspec_device", None)
    if device:
        args.append(f"--embedspec-device={device}")
    if config.getoption("embedspec_compile", False):
        args.append("--embedspec-compile")
    return shlex.join(args)


# --- the snippet ---------------------------------------------------------------------

class NotSource(Exception):
    """A value that cannot be written as Python source."""


def spec_module_name(name):
    """The importable name of a module of the installed specification (``spec.x`` is ``embedspec.spec.x``)."""
    return name if name.startswith("embedspec.") or not name.split(".")[0] == "spec" else "embedspec." + name


def _importable(value):
    """(module, name) under which ``value`` (a class, a function) can be imported again, or None."""
    module_name, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
    module = sys.modules.get(module_name or "")
    if module is None or "." in qualname or "<" in qualname or getattr(module, qualname, None) is not value:
        return None
    return spec_module_name(module_name), qualname


def _held_by_module(value):
    """Source that finds ``value`` where the module of its class keeps it: a module-level name, or an entry of a
    module-level dict (a registry); with the import it needs. None when it is kept nowhere."""
    module = sys.modules.get(type(value).__module__)
    if module is None:
        return None
    module_name = spec_module_name(module.__name__)
    for name, held in vars(module).items():
        if name.startswith("_"):
            continue
        if held is value:
            return name, (module_name, name)
        if isinstance(held, dict):
            for key, entry in held.items():
                if entry is value and isinstance(key, (str, int)):
                    return f"{name}[{key!r}]", (module_name, name)
    return None


def source(value, imports=None):
    """Python source that rebuilds ``value``, or NotSource.

    ``torch`` is assumed imported; every other name the source uses is added to ``imports``, a set of
    (module, name) pairs (``import_lines`` writes them). Rebuilt are: None, bools, numbers, strings, bytes,
    ranges, slices; tuples (named tuples and ``torch.Size`` as themselves), lists, sets, dicts; dataclasses;
    enum members; torch dtypes, devices and tensors (up to SNIPPET_MAX_ELEMENTS elements); importable classes
    and functions; and objects their module keeps under a name or in a module-level dict (a registry).
    """
    import torch

    imports = set() if imports is None else imports

    def rebuild(item):
        return source(item, imports)

    def named(cls):
        found = _importable(cls)
        if found is None:
            raise NotSource(f"a {cls.__name__} (its class cannot be imported by name)")
        imports.add(found)
        return found[1]

    if isinstance(value, enum.Enum):
        return f"{named(type(value))}.{value.name}"
    if value is None or isinstance(value, (bool, str, bytes, range, slice)) or type(value) is int:
        return repr(value)
    if type(value) is float:
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if type(value) is complex:
        return f"complex({rebuild(value.real)}, {rebuild(value.imag)})"
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, torch.device):
        return f"torch.device({str(value)!r})"
    if isinstance(value, torch.Tensor):
        return _tensor_source(value)
    if isinstance(value, torch.Size):
        return f"torch.Size({[int(side) for side in value]!r})"
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):  # a named tuple
        fields = ", ".join(f"{name}={rebuild(item)}" for name, item in zip(value._fields, value))
        return f"{named(type(value))}({fields})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f for f in dataclasses.fields(value)]
        if any(not f.init for f in fields):
            raise NotSource(f"a {type(value).__name__} (a dataclass with fields its constructor does not take)")
        inner = ", ".join(f"{f.name}={rebuild(getattr(value, f.name))}" for f in fields)
        return f"{named(type(value))}({inner})"
    if type(value) is tuple:
        inner = ", ".join(rebuild(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if type(value) is list:
        return "[" + ", ".join(rebuild(v) for v in value) + "]"
    if type(value) in (set, frozenset):
        inner = ", ".join(sorted(rebuild(v) for v in value))
        return f"{type(value).__name__}([{inner}])"
    if type(value) is dict:
        return "{" + ", ".join(f"{rebuild(k)}: {rebuild(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return named(value)
    held = _held_by_module(value)
    if held is not None:
        text, found = held
        imports.add(found)
        return text
    raise NotSource(f"a {type(value).__name__}")


def import_lines(imports):
    """``from module import a, b`` lines for a set of (module, name) pairs, sorted."""
    by_module = {}
    for module, name in imports:
        by_module.setdefault(module, set()).add(name)
    return [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(by_module.items())]


def _tensor_source(tensor):
    import torch

    if tensor.numel() > SNIPPET_MAX_ELEMENTS:
        raise NotSource(f"a tensor of shape {tuple(tensor.shape)} (too large to write out)")
    dtype = str(tensor.dtype)
    device = "" if tensor.device.type == "cpu" else f", device={str(tensor.device)!r}"
    grad = ", requires_grad=True" if tensor.requires_grad else ""
    if tensor.numel() == 0:
        return f"torch.empty({tuple(tensor.shape)!r}, dtype={dtype}{device}{grad})"
    values = tensor.detach().cpu()
    if values.is_floating_point() or values.is_complex():
        values = values.to(torch.complex128 if values.is_complex() else torch.float64)
    body = repr(values.tolist()).replace("nan", "float('nan')").replace("inf", "float('inf')")
    return f"torch.tensor({body}, dtype={dtype}{device}{grad})"


class Draws:
    """The values an example drew from ``st.data()``, replayed in order in a snippet."""

    def __init__(self, values):
        self.values = list(values)


_DRAWS_CLASS = '''class Draws:  # replays the values the failing example drew from st.data()
    def __init__(self, *values):
        self.values = list(values)

    def draw(self, strategy, label=None):
        return self.values.pop(0)
'''


def _argument_source(name, value, imports):
    family = getattr(value, "embedspec_family", None)
    if family is not None:
        return f"impl.factory({family!r})"
    if name == "conventions":
        return "impl.conventions"
    if name == "embedspec_implementation":
        return "impl"
    if name == "supports":
        return "impl.supports"
    if isinstance(value, Draws):
        return "Draws(" + ", ".join(source(v, imports) for v in value.values) + ")"
    return source(value, imports)


def snippet(item, example, torch_seed=0):
    """A standalone script that calls the property's body once with ``example``'s inputs.

    ``example`` maps argument names to the values of the failing call (as recorded by
    ``embedspec.examples``). Returns the script's text, or None when there is nothing to show.
    """
    if example is None:
        return None
    function = getattr(item, "function", None)
    if function is None:
        return None
    impl = implementation_argument(item.config)
    hypothesis_test = hasattr(item.obj, "hypothesis")
    call = f"{function.__name__}.hypothesis.inner_test" if hypothesis_test else function.__name__
    imports = {("embedspec.loading", "load_implementation"), (spec_module_name(item.module.__name__), function.__name__)}
    arguments = []
    for name, value in example.items():
        try:
            arguments.append(f"    {name}={_argument_source(name, value, imports)},")
        except NotSource as exc:
            arguments.append(f"    {name}=...,  # {exc}: not reproducible as source")
    lines = ["import torch", *import_lines(imports), ""]
    if any(isinstance(v, Draws) for v in example.values()):
        lines += [_DRAWS_CLASS]
    lines.append(f"torch.manual_seed({torch_seed})  # as the specification seeded this example")
    if impl:
        lines.append(f"impl = load_implementation({impl.split('=', 1)[1]!r})")
    else:
        lines.append("impl = load_implementation(...)  # the object your pytest_embedspec_implementation hook returns")
    return "\n".join([*lines, f"{call}(", *arguments, ")"])
