"""The plugin as users meet it: choosing the implementation, conventions, skips, clause ids."""

import textwrap

import pytest

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


def test_impl_option_selects_implementation(run):
    result = run("--impl=my_impl", "-v")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*test_lookup_is_indexing?TOK-LOOKUP-01? PASSED*"])


def test_environment_variable_selects_implementation(run):
    result = run(module="token_embedding = None\nsinusoidal_encoding = lambda n, d, base=1e4: 1 / 0\n",
                 env={"EMBEDSPEC_IMPL": "my_impl"})
    result.assert_outcomes(skipped=12)  # this module provides no token family


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
    # a factory that cannot take the contract's arguments: an ERROR (see embedspec/report.py)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the factory my_impl.token_embedding(n, d) cannot be called as "
                                 "my_impl.token_embedding(*padding_idx=*"])


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
