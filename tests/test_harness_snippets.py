"""Every failure's standalone snippet runs and fails the same way (issue 14, item 5).

The snippet of a RoPE failure wrote its drawn ``case`` as a bare tuple and crashed with AttributeError when run.
Here the specification runs against broken implementations whose failures draw every kind of input the spec
has (a named tuple of sizes, draws from ``st.data()``, a family of the cross-cutting registry, dtypes), and the
snippet of every failing property is executed in a fresh interpreter: each must raise the exception the report
shows, with the same first line.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.inline import run_inline

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / "tests" / "adapters_bad"

RUNS = {
    "rope": ("tests.mutants.rope:rotate_half_sign_flipped", ["embedspec.spec.test_rope"], []),
    "cross_cutting": ("tests.mutants.cross_cutting:sinusoidal_table_plain_attribute",
                      ["embedspec.spec.test_devices", "embedspec.spec.test_dtypes", "embedspec.spec.test_stateful"],
                      ["-k", "sinusoidal_module"]),
    "bad_families": ("bad_families", ["embedspec.spec.test_token_embedding", "embedspec.spec.test_sinusoidal",
                                      "embedspec.spec.test_learned_positional"], []),
}

# Runs each snippet in its own namespace and prints, per snippet, the first line of what it raised.
RUNNER = textwrap.dedent("""
    import json, sys
    results = []
    for text in json.load(open(sys.argv[1])):
        try:
            exec(compile(text, "snippet.py", "exec"), {"__name__": "__snippet__"})
        except BaseException as exc:
            shown = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            results.append(shown.splitlines()[0])
        else:
            results.append(None)
    print(json.dumps(results))
""")


def test_the_snippet_of_every_failure_fails_the_same_way(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ADAPTERS))
    monkeypatch.delenv("EMBEDSPEC_IMPL", raising=False)
    failures = []
    for name, (impl, modules, extra) in RUNS.items():
        report = tmp_path / f"{name}.json"
        run = run_inline(["--pyargs", *modules, f"--impl={impl}", "--hypothesis-seed=0", f"--embedspec-report={report}",
                          *extra], monkeypatch, tmp_path)
        assert run.code == pytest.ExitCode.TESTS_FAILED, (name, run.code)
        found = [(p["test"], p["failure"]) for family in json.loads(report.read_text())["families"].values()
                 for p in family["properties"] if p.get("failure")]
        # a factory's wrong signature (an error) is fixed in the adapter: it has no call to reproduce
        assert all(failure.get("snippet") is None for _, failure in found if failure["kind"] == "error")
        found = [(test, failure) for test, failure in found if failure["kind"] != "error"]
        assert len(found) >= 5, (name, [test for test, _ in found])
        failures += found
    for test, failure in failures:
        assert failure.get("snippet"), f"{test}: no snippet"
        assert "not reproducible" not in failure["snippet"], f"{test}:\n{failure['snippet']}"
    (tmp_path / "snippets.json").write_text(json.dumps([failure["snippet"] for _, failure in failures]))
    path = os.pathsep.join(filter(None, [str(ADAPTERS), str(ROOT), os.environ.get("PYTHONPATH")]))
    ran = subprocess.run([sys.executable, "-c", RUNNER, "snippets.json"], cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    raised = json.loads(ran.stdout.strip().splitlines()[-1])
    for (test, failure), shown in zip(failures, raised):
        expected = failure["message"].splitlines()[0]
        assert shown == expected, (f"{test}: the snippet raised\n  {shown}\nthe report shows\n  {expected}\n"
                                   f"{failure['snippet']}")


def test_an_inline_run_leaves_the_hypothesis_profile_as_it_was(monkeypatch, tmp_path):
    """Hypothesis' plugin keeps a --hypothesis-profile loaded after the session. Left so, an in-process run of the
    catalogue (the power profile: no shrinking) made the next run import the spec under it: its SEQ-CALLS-01
    report showed an unshrunk program that the snippet, run afresh, shrank to another."""
    from hypothesis import settings

    from tests.inline import POWER_PROFILE

    before = settings.get_current_profile_name()
    run_inline([str(ROOT / "spec" / "test_alibi.py"), "-k", "ALIBI-SLOPE-01", f"--hypothesis-profile={POWER_PROFILE}"],
               monkeypatch, tmp_path)
    assert settings.get_current_profile_name() == before
