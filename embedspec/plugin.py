"""The pytest plugin: choosing the implementation, clause ids, skips and profiles.

Loaded through the ``pytest11`` entry point, so it is present in every pytest
session of an environment that has embedspec installed. It stays inert there:
it does nothing unless the session collects the specification.
"""

import importlib.util
import os
import re
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from . import hookspecs
from .clauses import LEVELS, clause_of, level_of
from .contract import FAMILIES
from .loading import DEFAULT_IMPLEMENTATION, FactorySignatureError, ImplementationError, load_implementation
from .reproduce import derandomized

ENV_VAR = "EMBEDSPEC_IMPL"
NOT_PROVIDED = "not provided"
SIGNATURE_CHECK = "factory_signature"  # the name of the item that checks a factory's signature

_implementation_key = pytest.StashKey()

# Example counts are chosen so that the dev profile runs the whole specification
# in seconds; the deadline is off because the first call into torch is slow.
# dev and ci leave out Hypothesis' explain phase, which re-runs a failing test
# many times to annotate it and can make one failure against a slow
# implementation cost minutes; thorough keeps every phase.
_FAST_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
settings.register_profile(
    "dev",
    max_examples=20,
    deadline=None,
    phases=_FAST_PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    print_blob=True,  # every failure prints its @reproduce_failure blob
)
# ci is derandomized, and keeps the example database all the same (embedspec.reproduce.derandomized)
settings.register_profile("ci", derandomized(settings.get_profile("dev"), max_examples=100))
settings.register_profile("thorough", settings.get_profile("dev"), max_examples=1000, phases=list(Phase))
DEFAULT_PROFILE = "dev"


def _spec_directory():
    found = importlib.util.find_spec("embedspec.spec")
    return Path(next(iter(found.submodule_search_locations))).resolve() if found else None


SPEC_DIRECTORY = _spec_directory()


def is_spec_module_name(name):
    parts = name.split(".")
    return parts[0] == "spec" or parts[:2] == ["embedspec", "spec"]


# The plugin's other parts, each a plugin module of its own, registered with this one.
SUBPLUGINS = ("embedspec.optin", "embedspec.examples", "embedspec.xfails", "embedspec.report", "embedspec.jsonreport",
              "embedspec.verdict")


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hookspecs)
    for name in SUBPLUGINS:
        pluginmanager.import_plugin(name)


def pytest_addoption(parser):
    group = parser.getgroup("embedspec", "embedspec: the specification of embeddings and positional encodings")
    group.addoption(
        "--impl",
        dest="embedspec_impl",
        default=None,
        metavar="DOTTED.PATH[:ATTR]|FILE.py[:ATTR]",
        help=f"implementation to specify: a module (found in the working directory too) or a file (default: "
        f"${ENV_VAR}, then the pytest_embedspec_implementation hook, then {DEFAULT_IMPLEMENTATION})",
    )
    group.addoption(
        "--level",
        dest="embedspec_level",
        default="must",
        choices=LEVELS,
        help="the conformance level that gates the exit code: must (default; the should clauses still run and are "
        "reported) or should (both)",
    )


def _from_hook(config):
    """The hook's choice; an exception in a hook (its own import failing) is an ImplementationError naming it."""
    try:
        return config.hook.pytest_embedspec_implementation(config=config)
    except Exception as exc:
        hooks = {impl.function.__code__ for impl in config.hook.pytest_embedspec_implementation.get_hookimpls()}
        where, tb = "a plugin", exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in hooks:
                where = tb.tb_frame.f_code.co_filename
            tb = tb.tb_next
        cause = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise ImplementationError(f"the pytest_embedspec_implementation hook in {where} raised {cause}") from exc


def _choose_implementation(config):
    chosen = config.getoption("embedspec_impl") or os.environ.get(ENV_VAR)
    if not chosen:
        chosen = _from_hook(config)
    return chosen or DEFAULT_IMPLEMENTATION


def get_implementation(config):
    """The implementation for this session, loaded once; any problem is a usage error."""
    if _implementation_key not in config.stash:
        try:
            config.stash[_implementation_key] = load_implementation(_choose_implementation(config),
                                                                    config.invocation_params.dir)
        except ImplementationError as exc:
            raise pytest.UsageError(f"embedspec: {exc}") from None
    return config.stash[_implementation_key]


def _names_the_spec(config):
    """Whether the run's arguments name the specification (a module or folder of it, or a folder holding it)."""
    for arg in config.args:
        target = arg.split("::")[0]
        if config.getoption("pyargs", False) and (target == "embedspec.spec" or target.startswith("embedspec.spec.")):
            return True
        path = (Path(config.invocation_params.dir) / target).resolve()
        if SPEC_DIRECTORY is not None and (path == SPEC_DIRECTORY or SPEC_DIRECTORY in path.parents
                                           or path in SPEC_DIRECTORY.parents):
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Load the implementation before the header is written when the run names the specification, whichever way
    it is chosen: a bad one is then one usage error before anything runs, and the header names it."""
    if _names_the_spec(session.config):
        get_implementation(session.config)


def _generation_independent_of_imported_modules():
    """Stop Hypothesis from drawing constants out of whichever local modules happen to be imported.

    Hypothesis mixes literals found in the project's loaded modules into generation
    (``hypothesis.internal.conjecture.providers._get_local_constants``), so the same seed
    gives other examples once a test has imported one more module: under ``-n`` the
    examples, and a borderline verdict, would depend on which tests shared a worker.
    The spec's boundaries are explicit ``@example``s, so nothing is lost. The hook is
    internal to Hypothesis: if it moves, generation merely stays as Hypothesis makes it.
    """
    try:
        from hypothesis.internal.conjecture import providers

        nothing = providers.Constants()
        providers._get_local_constants = lambda: nothing
        providers.CONSTANTS_CACHE.cache.clear()
    except (ImportError, AttributeError):
        pass


def pytest_configure(config):
    config.addinivalue_line("markers", "embedspec_family(name): the property belongs to a family (set automatically)")
    config.pluginmanager.register(LevelGate(config), "embedspec-level-gate")
    config.pluginmanager.register(SignatureChecks(config), "embedspec-signature-checks")
    config.addinivalue_line("markers", "embedspec_needs(*features): the property needs optional features of the "
                            "contract; skipped as not provided where the implementation declares one unsupported")
    # An implementation named explicitly is loaded at once, so that a bad one is a usage error
    # before anything runs; the default is loaded only when the specification is collected.
    if config.getoption("embedspec_impl") or os.environ.get(ENV_VAR):
        get_implementation(config)


def _in_spec(collector):
    return (
        isinstance(collector, pytest.Module)
        and SPEC_DIRECTORY is not None
        and collector.path.resolve().parent == SPEC_DIRECTORY
    )


def _profile_chosen(config):
    return bool(config.getoption("hypothesis_profile", default=None))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Import spec modules under the dev profile unless the user chose one.

    Hypothesis binds a test's settings when the test is decorated, so loading the profile
    only around the import of spec modules leaves the user's own tests as they were.
    """
    if not _in_spec(collector) or _profile_chosen(collector.config):
        return (yield)
    previous = settings.get_current_profile_name()
    settings.load_profile(DEFAULT_PROFILE if previous == "default" else previous)
    try:
        return (yield)
    finally:
        settings.load_profile(previous)


@pytest.fixture(scope="session", autouse=True)
def embedspec_clause():
    """The clause id of the running property (parametrised per property)."""
    return None


def pytest_generate_tests(metafunc):
    clause = clause_of(metafunc.function)
    if clause and is_spec_module_name(metafunc.module.__name__):
        metafunc.parametrize("embedspec_clause", [clause], ids=[clause], scope="session")


@pytest.fixture(scope="session")
def embedspec_implementation(request):
    """The implementation under test (an ``embedspec.loading.Implementation``)."""
    return get_implementation(request.config)


# before Hypothesis' own hook, which walks sys.modules for local constants (and trips over lazy modules there)
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    spec_items = [item for item in items if is_spec_module_name(getattr(item.module, "__name__", ""))]
    if not spec_items:
        return  # a user's own suite: its Hypothesis generation is left as it is
    _generation_independent_of_imported_modules()
    header_shown = _implementation_key in config.stash
    implementation = get_implementation(config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not header_shown and reporter is not None:  # chosen after the header was written: say it now
        reporter.write_line(_header(implementation))
    for item in spec_items:
        # a property names a family by requesting its fixture, or (parametrised over families)
        # by an embedspec_family(name) marker on the case; both are skipped when not provided
        marked = {mark.args[0] for mark in item.iter_markers("embedspec_family") if mark.args}
        families = [name for name in FAMILIES if name in item.fixturenames or name in marked]
        for family in families:
            if family not in marked:
                item.add_marker(pytest.mark.embedspec_family(family))
        missing = [name for name in families if not implementation.provides(name)]
        missing += [feature for mark in item.iter_markers("embedspec_needs") for feature in mark.args
                    if not implementation.supports(feature)]
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"{NOT_PROVIDED}: {', '.join(missing)}"))
        function = getattr(item, "function", None)
        if clause_of(function):
            item.user_properties.append(("clause", clause_of(function)))
            item.user_properties.append(("level", level_of(function)))


def _families_of(item):
    return [mark.args[0] for mark in item.iter_markers("embedspec_family") if mark.args]


def _signature_check(family, problem):
    def check():
        raise FactorySignatureError(problem)

    check.__name__ = check.__qualname__ = SIGNATURE_CHECK
    check.__doc__ = (f"the {family} factory can be called with the contract's arguments; the family's properties "
                     f"are not run until it can")
    check.embedspec_signature_check = True
    return check


class SignatureChecks:
    """One check of each factory's signature, at the start of the run: a factory that cannot be called with the
    contract's arguments is one ERROR, of an item of its own placed before the family's first property, and the
    family's properties are skipped, blocked by it (each would otherwise be an ERROR of its own)."""

    def __init__(self, config):
        self.config = config

    @pytest.hookimpl(trylast=True)  # after -k and -m: a check stands for the properties that are to run
    def pytest_collection_modifyitems(self, items):
        if not any(is_spec_module_name(getattr(getattr(i, "module", None), "__name__", "")) for i in items):
            return
        implementation = get_implementation(self.config)
        first = {}  # family -> the index of its first property
        for index, item in enumerate(items):
            for family in _families_of(item):
                first.setdefault(family, index)
        checks = []
        for family, index in first.items():
            problem = implementation.signature_problem(family) if implementation.provides(family) else None
            if problem is None:
                continue
            module = items[index].getparent(pytest.Module)
            check = pytest.Function.from_parent(module, name=f"{SIGNATURE_CHECK}[{family}]",
                                                callobj=_signature_check(family, problem))
            check.add_marker(pytest.mark.embedspec_family(family))
            checks.append((index, check))
            blocked = pytest.mark.skip(reason=f"blocked by the {family} factory's signature (the ERROR of "
                                              f"{check.name})")
            for item in items:
                if family in _families_of(item):
                    item.add_marker(blocked)
        for index, check in sorted(checks, key=lambda pair: pair[0], reverse=True):
            items.insert(index, check)


def level_of_report(report):
    """The level of the clause a report belongs to, or None outside the specification."""
    return dict(getattr(report, "user_properties", ()) or ()).get("level")


class LevelGate:
    """Gates the exit code on the levels --level names: under ``must`` (the default) failures of ``should``
    clauses alone are reported, not gated. Any failure outside the specification always gates. Runs on the
    controller under -n, which receives every report."""

    def __init__(self, config):
        self.gated = LEVELS[: LEVELS.index(config.getoption("embedspec_level")) + 1]
        self.gating_failures = 0

    def pytest_runtest_logreport(self, report):
        if report.failed and not hasattr(report, "wasxfail") and level_of_report(report) in (None, *self.gated):
            self.gating_failures += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if exitstatus == pytest.ExitCode.TESTS_FAILED and not self.gating_failures:
            session.exitstatus = pytest.ExitCode.OK


def _header(implementation):
    return f"embedspec: implementation {implementation.name}, conventions {implementation.conventions}"


def pytest_report_header(config):
    if _implementation_key in config.stash:
        return _header(config.stash[_implementation_key])
    return None


_saved_threads_key = pytest.StashKey()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """One torch thread while the specification's properties run (xdist provides the parallelism), the caller's
    count again before any other test and at the end: the user's own tests in the same session keep theirs.
    Switched at the boundaries only, not around every property."""
    config = item.config
    in_spec = is_spec_module_name(getattr(getattr(item, "module", None), "__name__", ""))
    if in_spec and _saved_threads_key not in config.stash:
        import torch

        config.stash[_saved_threads_key] = torch.get_num_threads()
        torch.set_num_threads(1)
    elif not in_spec and _saved_threads_key in config.stash:
        _restore_threads(config)


def _restore_threads(config):
    import torch

    torch.set_num_threads(config.stash[_saved_threads_key])
    del config.stash[_saved_threads_key]


def pytest_sessionfinish(session):
    if _saved_threads_key in session.config.stash:
        _restore_threads(session.config)
