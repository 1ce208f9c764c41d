"""Expected failures of an implementation, from a TOML file: ``--xfails FILE``.

The file's format is fixed (adapters ship such files)::

    # one [[xfail]] table per expected failure
    [[xfail]]
    id = "TOK-ERR-01"            # a clause id, or a full test node id
    reason = "nn.Embedding's IndexError does not name the offending id"
    link = "https://github.com/..."   # optional
    device = "cpu"               # optional scope
    dtype = "float16"            # optional scope (tests parametrised over dtypes)

- An entry marks every matching property ``xfail`` (its reason, id and link
  shown). A clause id matches every case of that clause; a node id
  (``spec/test_x.py::test_y[ID]``, the directory part may be left out)
  matches that case, and without its ``[...]`` every case of the function.
  ``device`` matches the case's device (the ``embedspec_device`` or
  ``embedspec_accelerator`` parameter, else ``cpu``; ``cuda`` matches
  ``cuda:1``), ``dtype`` a dtype among the case's parameters.
- An expected failure that passes is reported at the end, so the file can
  shrink: an XPASS, or with ``--strict-xfails`` a failure.
- An entry whose id names no clause and no test of the specification is a
  warning, or with ``--strict-xfails`` a usage error (exit code 4); so is a
  malformed file, always.
- Hypothesis must not decide an expected failure by luck: a property under an
  xfail entry runs derandomized (the same examples on every run, whatever the
  profile), with the example database, which replays the counterexample saved
  by the run that first found it. An expected failure therefore fails the
  same way every time.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .plugin import SPEC_DIRECTORY, clause_of, is_spec_module_name
from .reproduce import derandomized

XFAIL_ENTRY = pytest.StashKey()
_entries_key = pytest.StashKey()
_unknown_key = pytest.StashKey()  # the message naming the entries that name nothing

KEYS = ("id", "reason", "link", "device", "dtype")
# a test function, or the clause id (and level) opening its docstring (embedspec.clauses.CLAUSE_ID)
_DOCSTRING_CLAUSE = re.compile(r'^\s*def (test_\w+)\(|^\s*"""\s*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) \((?:must|should)\):',
                               re.M)


@dataclass(frozen=True)
class Entry:
    id: str
    reason: str
    link: str = None
    device: str = None
    dtype: str = None
    number: int = 0  # its position in the file, from 1

    @property
    def is_node_id(self):
        return "::" in self.id

    def describe(self):
        scope = "".join(f", {k}={getattr(self, k)}" for k in ("device", "dtype") if getattr(self, k))
        return f"{self.id}{scope} (entry {self.number})"

    def marker_reason(self):
        return f"{self.reason} [xfails: {self.id}]" + (f" {self.link}" if self.link else "")

    def as_dict(self):
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}


class XfailsError(Exception):
    """The xfails file cannot be used."""


def _load_toml(path):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise XfailsError("reading TOML on Python 3.10 needs the 'tomli' package") from None
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise XfailsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise XfailsError(f"{path} is not valid TOML: {exc}") from None


def _dtype_name(value):
    import torch

    name = value.removeprefix("torch.")
    return name if isinstance(getattr(torch, name, None), torch.dtype) else None


def parse(path):
    """The entries of an xfails file; every problem is one XfailsError naming the entry."""
    data = _load_toml(path)
    unknown = sorted(set(data) - {"xfail"})
    if unknown:
        raise XfailsError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; the file holds [[xfail]] tables")
    tables = data.get("xfail", [])
    if not isinstance(tables, list):
        raise XfailsError(f"{path}: `xfail` must be an array of tables ([[xfail]])")
    entries, problems, seen = [], [], {}
    for number, table in enumerate(tables, 1):
        where = f"{path}, entry {number}"
        if not isinstance(table, dict):
            problems.append(f"{where}: not a table")
            continue
        extra = sorted(set(table) - set(KEYS))
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(extra)}; known keys: {', '.join(KEYS)}")
        bad = [k for k in KEYS if k in table and not (isinstance(table[k], str) and table[k].strip())]
        if bad:
            problems.append(f"{where}: {', '.join(bad)} must be non-empty strings")
            continue
        missing = [k for k in ("id", "reason") if k not in table]
        if missing:
            problems.append(f"{where}: missing {' and '.join(missing)}")
            continue
        values = {k: table[k].strip() for k in KEYS if k in table}
        if "dtype" in values:
            name = _dtype_name(values["dtype"])
            if name is None:
                problems.append(f"{where}: dtype {values['dtype']!r} is not a torch dtype")
                continue
            values["dtype"] = name
        if "device" in values:
            import torch

            try:
                torch.device(values["device"])
            except (RuntimeError, ValueError):
                problems.append(f"{where}: device {values['device']!r} is not a torch device")
                continue
        entry = Entry(number=number, **values)
        key = (entry.id, entry.device, entry.dtype)
        if key in seen:
            problems.append(f"{where}: the same id and scope as entry {seen[key]}")
            continue
        seen[key] = number
        entries.append(entry)
    if problems:
        raise XfailsError("; ".join(problems))
    return entries


def known_tests(directory=SPEC_DIRECTORY):
    """(clause ids, {module file name: {test function: clause id}}) of the whole specification,
    read from its source (nothing imported, so a run of a few modules knows all of them)."""
    clauses, modules = set(), {}
    if directory is None:
        return clauses, modules
    for path in sorted(Path(directory).glob("test_*.py")):
        functions, current = {}, None
        for match in _DOCSTRING_CLAUSE.finditer(path.read_text(encoding="utf-8")):
            if match.group(1):
                current = match.group(1)
                functions.setdefault(current, None)
            elif current is not None and functions.get(current) is None:
                functions[current] = match.group(2)
                clauses.add(match.group(2))
        modules[path.name] = functions
    return clauses, modules


def _split_node_id(node_id):
    path, _, rest = node_id.partition("::")
    return Path(path).name if path else "", rest


def stale(entries, directory=SPEC_DIRECTORY):
    """The entries whose id names no clause and no test of the specification."""
    clauses, modules = known_tests(directory)
    found = []
    for entry in entries:
        if not entry.is_node_id:
            if entry.id not in clauses:
                found.append(entry)
            continue
        file_name, rest = _split_node_id(entry.id)
        function, _, params = rest.partition("[")
        function = function.split("::")[-1]
        candidates = [modules.get(file_name, {})] if file_name else list(modules.values())
        owners = [functions for functions in candidates if function in functions]
        if not owners or (params and owners[0][function] and owners[0][function] not in params):
            found.append(entry)
    return found


def suggestion(entry, directory=SPEC_DIRECTORY):
    """What an entry that names nothing was probably meant to be: the nearest clause id or test (difflib)."""
    clauses, modules = known_tests(directory)
    if not entry.is_node_id:
        if entry.id.upper() in clauses:
            return f"did you mean {entry.id.upper()}? (clause ids are upper-case)"
        close = difflib.get_close_matches(entry.id.upper(), sorted(clauses), n=1, cutoff=0.6)
        return f"did you mean {close[0]}?" if close else "no clause id is close; the clause catalogue lists them all"
    file_name, rest = _split_node_id(entry.id)
    prefix = entry.id[:len(entry.id) - len(rest)]
    function, _, params = rest.partition("[")
    tests = {f"{name}[{clause}]" if params and clause else name: (name, clause)
             for module, functions in modules.items() if not file_name or module == file_name
             for name, clause in functions.items()}
    close = difflib.get_close_matches(rest, sorted(tests), n=1, cutoff=0.6)
    if close:
        return f"did you mean {prefix}{close[0]}?"
    return "no test of that name is close; `pytest --collect-only -q --pyargs embedspec.spec` lists them all"


def unknown_entries_message(path, unknown):
    """Every entry that names nothing, one a line, each with a suggestion."""
    head = (f"embedspec: --xfails {path}: {len(unknown)} entr{'y names' if len(unknown) == 1 else 'ies name'} "
            f"no clause and no test of the specification:")
    return "\n".join([head, *(f"    {entry.describe()}: {suggestion(entry)}" for entry in unknown)])


# --- matching -------------------------------------------------------------------

def _params(item):
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}


def item_device(item):
    params = _params(item)
    for name in ("embedspec_device", "embedspec_accelerator"):
        if params.get(name):
            return str(params[name])
    return "cpu"


def item_dtypes(item):
    import torch

    names = set()
    for value in _params(item).values():
        if isinstance(value, torch.dtype):
            names.add(str(value).removeprefix("torch."))
        elif isinstance(value, str) and _dtype_name(value):
            names.add(_dtype_name(value))
    return names


def _device_matches(wanted, actual):
    return actual == wanted or (":" not in wanted and actual.split(":")[0] == wanted)


def matches(entry, item, clause):
    if entry.is_node_id:
        file_name, rest = _split_node_id(entry.id)
        if file_name and file_name != item.path.name:
            return False
        own = item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name
        if "[" in rest:
            if rest != own:
                return False
        elif rest != own.split("[", 1)[0]:
            return False
    elif entry.id != clause:
        return False
    if entry.device and not _device_matches(entry.device, item_device(item)):
        return False
    if entry.dtype and entry.dtype not in item_dtypes(item):
        return False
    return True


def _specificity(entry):
    return (entry.is_node_id, entry.device is not None, entry.dtype is not None)


def entry_for(entries, item):
    clause = clause_of(getattr(item, "function", None))
    found = [e for e in entries if matches(e, item, clause)]
    return max(found, key=_specificity) if found else None


# --- hooks ------------------------------------------------------------------------

def pytest_addoption(parser):
    group = parser.getgroup("embedspec")
    group.addoption(
        "--xfails",
        dest="embedspec_xfails",
        default=None,
        metavar="FILE",
        help="TOML file of the implementation's expected failures ([[xfail]] tables: id, reason, "
        "optional link, device, dtype)",
    )
    group.addoption(
        "--strict-xfails",
        dest="embedspec_strict_xfails",
        action="store_true",
        default=False,
        help="an expected failure that passes fails the run, and an entry that names no test is a usage error",
    )


def entries_of(config):
    return config.stash.get(_entries_key, [])


def xfails_path(config):
    value = config.getoption("embedspec_xfails", None)
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def pytest_configure(config):
    path = xfails_path(config)
    if path is None:
        return
    try:
        entries = parse(path)
    except XfailsError as exc:
        raise pytest.UsageError(f"embedspec: --xfails: {exc}") from None
    config.stash[_entries_key] = entries
    unknown = stale(entries)
    if unknown:
        message = unknown_entries_message(path, unknown)
        if config.getoption("embedspec_strict_xfails"):
            raise pytest.UsageError(message)
        # said at the start (the header) and again at the end of the run, not buried among warnings
        config.stash[_unknown_key] = message


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    entries = entries_of(config)
    if not entries:
        return
    strict = config.getoption("embedspec_strict_xfails")
    for item in items:
        if not is_spec_module_name(getattr(getattr(item, "module", None), "__name__", "")):
            continue
        entry = entry_for(entries, item)
        if entry is not None:
            item.stash[XFAIL_ENTRY] = entry
            item.add_marker(pytest.mark.xfail(reason=entry.marker_reason(), strict=strict))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Run a Hypothesis property under an xfail entry derandomized, with the example database."""
    entry = item.stash.get(XFAIL_ENTRY, None)
    obj = getattr(item, "obj", None)
    current = getattr(obj, "_hypothesis_internal_use_settings", None)
    if entry is None or current is None or getattr(obj, "hypothesis", None) is None:
        return (yield)
    obj._hypothesis_internal_use_settings = derandomized(current, database=current.database)
    try:
        return (yield)
    finally:
        obj._hypothesis_internal_use_settings = current


def pytest_report_header(config):
    entries = entries_of(config)
    if config.getoption("embedspec_xfails", None):
        return [f"embedspec: {len(entries)} expected failure(s) from {xfails_path(config)}",
                *config.stash.get(_unknown_key, "").splitlines()]
    return None


@pytest.hookimpl(trylast=True)  # at the end of the run, after the other notes on the xfails file
def pytest_terminal_summary(terminalreporter, config):
    message = config.stash.get(_unknown_key, None)
    if message:
        for line in message.splitlines():
            terminalreporter.write_line(line)
