"""The plugin as users meet it: choosing the implementation, conventions, skips, clause ids."""

import os
import subprocess
import sys
import textwrap
import types

import pytest

from embedspec.loading import ImplementationError, load_implementation

SPEC_ARGS = ["--pyargs", "embedspec.spec.test_token_embedding", "-p", "no:cacheprovider"]

GOOD = """
import embedspec.reference as r
token_embedding = r.token_embedding
"""


@pytest.fixture
def run(pytester):
    pytester.syspathinsert()

    def run(*args, module=GOOD, name="my_impl", env=None):
        pytester.makepyfile(**{name: textwrap.dedent(module)})
        if env:
            for key, value in env.items():
                pytester._monkeypatch.setenv(key, value)
        return pytester.runpytest_subprocess(*SPEC_ARGS, *args)

    return run


HEADER = "embedspec: implementation {name}, conventions {{'token_embedding.scale': 'one'*"


def test_impl_option_selects_implementation(run):
    result = run("--impl=my_impl", "-v")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines([HEADER.format(name="my_impl")])
    result.stdout.fnmatch_lines(["*test_lookup_is_indexing?TOK-LOOKUP-01? PASSED*"])


def test_environment_variable_selects_implementation(run):
    result = run(module="token_embedding = None\nsinusoidal_encoding = lambda n, d, base=1e4: 1 / 0\n",
                 env={"EMBEDSPEC_IMPL": "my_impl"})
    result.assert_outcomes(skipped=12)  # this module provides no token family
    result.stdout.fnmatch_lines([HEADER.format(name="my_impl")])


def test_option_beats_environment(run, pytester):
    pytester.makepyfile(other="x = 1\n")
    result = run("--impl=my_impl", env={"EMBEDSPEC_IMPL": "other"})
    result.assert_outcomes(passed=12)


def test_hook_in_conftest(run, pytester):
    pytester.makeconftest("""
        def pytest_embedspec_implementation(config):
            import my_impl
            return my_impl
    """)
    result = run("-v")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines([HEADER.format(name="my_impl")])  # issue 14: the hook's choice was not named


def test_missing_family_is_skipped_not_provided(run):
    result = run("--impl=my_impl", "-rs", module="import embedspec.reference as r\nsinusoidal_encoding = r.sinusoidal_encoding\n")
    result.assert_outcomes(skipped=12)
    result.stdout.fnmatch_lines(["*not provided: token_embedding*"])


def test_unimportable_impl_is_one_usage_error(run):
    result = run("--impl=my_impl", module="import nonexistent_dependency_xyz\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot import the implementation module 'my_impl'*nonexistent_dependency_xyz*"])
    assert "Traceback" not in result.stderr.str()


def test_syntax_error_impl_is_one_usage_error(run):
    result = run("--impl=my_impl", module="def broken(:\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot import the implementation module 'my_impl'*", "SyntaxError: invalid syntax"])


def test_impl_without_families_is_one_usage_error(run):
    result = run("--impl=my_impl", module="x = 1\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*provides none of the contract's families*"])


def test_unknown_convention_is_one_usage_error(run):
    result = run("--impl=my_impl", module=GOOD + "conventions = {'sinusoidal.layout': 'diagonal', 'rope.colour': 'x'}\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*convention 'sinusoidal.layout' has no value 'diagonal'; legal values: interleaved, split*",
    ])
    result.stderr.fnmatch_lines(["*unknown convention key 'rope.colour'*"])


def test_factory_errors_name_the_call(run):
    module = GOOD.replace("token_embedding = r.token_embedding",
                          "def token_embedding(n, d):\n    return r.token_embedding(n, d)")
    result = run("--impl=my_impl", "-k", "PAD-01", module=module)
    # a factory that cannot take the contract's arguments: one ERROR, its family's properties skipped
    # (embedspec.plugin.SignatureChecks)
    result.assert_outcomes(errors=1, skipped=1)
    result.stdout.fnmatch_lines(["*the factory my_impl.token_embedding(n, d) cannot be called with the contract's "
                                 "arguments (num_embeddings, embedding_dim, *, padding_idx=...)*"])


def test_user_suites_keep_their_hypothesis_profile(pytester):
    pytester.makepyfile(test_user="""
        from hypothesis import given, settings, strategies as st
        def test_default_profile():
            assert settings.default.max_examples == 100
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_console_script(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(my_impl=GOOD)
    result = pytester.run("embedspec", "--impl=my_impl", "-q")
    assert result.ret == 0, result.stdout.str()
    # the verdict table, then the path of the JSON report, written by default
    result.stdout.fnmatch_lines(["*passed*skipped*", "*embedspec verdict: my_impl*",
                                 "token_embedding *conforms strictly", "*not provided*",
                                 f"JSON report: {pytester.path / 'embedspec-report.json'}"])
    assert '"status": "complete"' in (pytester.path / "embedspec-report.json").read_text()


def test_console_script_fails_on_failure(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(my_impl="import torch\ndef token_embedding(n, d, padding_idx=None):\n    return torch.nn.Embedding(n, d)\n")
    result = pytester.run("embedspec", "--impl=my_impl", "-q", "-k", "TOK")
    assert result.ret == 1


# --- issue 14: every way of choosing an implementation -----------------------------------------------------


def _console_script(pytester, *args):
    """`embedspec ARGS` in pytester's folder as a user's shell runs it: without pytester's PYTHONPATH (which puts
    the working directory on sys.path, as a console script does not)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(["embedspec", *args], cwd=pytester.path, env=env, capture_output=True, text=True,
                          timeout=600)


def test_console_script_finds_a_module_in_the_working_directory(pytester):
    """`embedspec --impl my_adapter` (the README's worked example) failed with ModuleNotFoundError: the console
    script does not put the working directory on sys.path, as `python -m pytest` does."""
    pytester.makepyfile(my_adapter=GOOD)
    result = _console_script(pytester, "--impl=my_adapter", "-q", "-k", "LOOKUP")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedspec verdict: my_adapter" in result.stdout


def test_a_file_path_is_an_implementation(pytester):
    """`--impl ./my_adapter.py` failed with "the 'package' argument is required"."""
    pytester.makepyfile(my_adapter=GOOD)
    result = _console_script(pytester, "--impl=./my_adapter.py", "-k", "TOK-LOOKUP")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedspec: implementation ./my_adapter.py, conventions " in result.stdout, result.stdout
    assert " 1 passed" in result.stdout, result.stdout


def test_a_file_in_a_folder_imports_beside_it(tmp_path, monkeypatch):
    """A file path with an :attribute, relative to the run's directory, is imported as the module it is, its folder
    first on sys.path so that the modules beside it import; a file that is not there is one ImplementationError."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / "adapters"
    folder.mkdir()
    (folder / "helper_beside_issue14.py").write_text("import embedspec.reference as r\n")
    (folder / "adapter_in_a_folder_issue14.py").write_text(
        "import types\nfrom helper_beside_issue14 import r\n"
        "layers = types.SimpleNamespace(token_embedding=r.token_embedding)\n")
    for name in ("helper_beside_issue14", "adapter_in_a_folder_issue14"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    implementation = load_implementation("adapters/adapter_in_a_folder_issue14.py:layers", tmp_path)
    assert implementation.provided == ["token_embedding"]
    assert sys.modules["adapter_in_a_folder_issue14"].__file__ == str(folder / "adapter_in_a_folder_issue14.py")
    with pytest.raises(ImplementationError, match=r"the implementation file './nowhere.py' does not exist"):
        load_implementation("./nowhere.py", tmp_path)


HOOK_IMPORTING = """
    def pytest_embedspec_implementation(config):
        import my_missing_adapter
        return my_missing_adapter
"""


def test_a_hook_whose_import_fails_is_one_usage_error(run, pytester):
    """The hook's ImportError was a 72-line INTERNALERROR (exit 3) and a JSON report saying "complete"."""
    pytester.makeconftest(HOOK_IMPORTING)
    result = run("--embedspec-report=report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines(["*embedspec: the pytest_embedspec_implementation hook in *conftest.py raised "
                                 "ModuleNotFoundError: No module named 'my_missing_adapter'*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    report = pytester.path / "report.json"
    assert not report.exists() or '"status": "complete"' not in report.read_text()


def test_the_default_implementation_prints_the_header(run):
    """With the hook or the default implementation, the header naming the implementation and its conventions was
    not printed (the option, the environment variable and the hook: the tests above)."""
    result = run("-k", "LOOKUP")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([HEADER.format(name="embedspec.reference")])


LAZY_LIBRARY = """
import sys
import types


class LazyModule(types.ModuleType):
    # as speechbrain's: the real module is imported on first attribute access (here that import fails, an optional
    # dependency missing), except for inspect's own probing, which gets an AttributeError
    def __getattr__(self, name):
        if sys._getframe(1).f_code.co_filename.endswith("inspect.py"):
            raise AttributeError(name)
        raise ImportError(f"lazy import of {self.__name__} failed (asked for {name})")


sys.modules["lazy_library.integrations"] = LazyModule("lazy_library.integrations")
"""


def test_lazy_modules_in_sys_modules_do_not_stop_the_run(run, pytester):
    """An adapter whose library leaves lazy modules in sys.modules (speechbrain) ended the run in an INTERNALERROR
    before any test: Hypothesis walked sys.modules for local constants before the plugin switched that off."""
    pytester.makepyfile(lazy_library=LAZY_LIBRARY)
    # Hypothesis' own pytest_collection_modifyitems walks sys.modules; whether it runs before embedspec's depends on
    # the order the plugins were installed in. A conftest's hook runs before the installed plugins' ones: this one
    # does the same walk, as Hypothesis' hook does where it comes first.
    pytester.makeconftest("""
        def pytest_collection_modifyitems(items):
            from hypothesis.internal.conjecture.providers import _get_local_constants

            _get_local_constants()
    """)
    result = run("--impl=my_impl", "-k", "LOOKUP", module="import lazy_library\n" + GOOD)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)


def test_a_family_lookup_that_raises_names_the_adapter():
    """An implementation whose attributes import lazily, and fail: one ImplementationError (a usage error) naming
    the adapter and the family, not a traceback."""
    class Lazy(types.ModuleType):
        def __getattr__(self, name):
            raise ImportError(f"optional dependency of {name} is missing")

    with pytest.raises(ImplementationError, match=r"implementation 'my_impl': looking up its family "
                                                  r"'token_embedding' raised ImportError: optional dependency of "
                                                  r"token_embedding is missing"):
        load_implementation(Lazy("my_impl"))


def test_torch_settings_change_only_inside_the_specification(pytester):
    """Running the specification in the same session as a user's own tests set torch.get_num_threads() to 1 for
    those tests too."""
    pytester.makeconftest("import torch\ntorch.set_num_threads(3)\n")
    pytester.makepyfile(test_mine="""
        import torch

        def test_threads_are_mine():
            assert torch.get_num_threads() == 3
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "test_mine.py",
                                           "--pyargs", "embedspec.spec.test_token_embedding", "-k", "mine or LOOKUP",
                                           "--hypothesis-seed=0")
    result.assert_outcomes(passed=2)
