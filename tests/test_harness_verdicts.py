"""Broken adapters get an exact verdict (tests/adapters_bad/): errors, failures, hangs, crashes, interrupts.

The import errors, syntax errors and unknown conventions of an adapter are usage
errors, tested in test_plugin.py. Each run here is a subprocess, the way users
run the specification, with ``--hypothesis-seed=0`` so that every verdict is a
function of the adapter alone.
"""

import json
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import torch

ADAPTERS = Path(__file__).resolve().parent / "adapters_bad"
TOKEN = "embedspec.spec.test_token_embedding"
SINUSOIDAL = "embedspec.spec.test_sinusoidal"


@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ADAPTERS), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("EMBEDSPEC_IMPL", raising=False)

    def run(impl, *args, modules=(TOKEN,)):
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--pyargs", *modules,
                                             f"--impl={impl}", "--hypothesis-seed=0", *args)

    return run


def _report(pytester, name="report.json"):
    return json.loads((pytester.path / name).read_text())


def _properties(report):
    """Each property by its clause id; a check without a clause (a factory's signature) by its test name."""
    return {p["id"] or p["test"]: p for family in report["families"].values() for p in family["properties"]}


def _section(out, test):
    start = out.index(f"{test} ___")
    following = out.find("\n___", start + 1)
    return out[start:following if following > 0 else None]


def test_one_defect_per_family(run, pytester, monkeypatch):
    """tests/adapters_bad/bad_families.py, one serial run:

    - a factory without a contract argument: its family's properties are ERRORs naming the factory
      and the call; the other families run;
    - a factory that raises on valid arguments: FAILED, naming the exact call;
    - a NaN, and a table off by 0.5: each failure says, in this order, the claim, the smallest inputs,
      expected versus actual at the first differing index, and how to reproduce it; no tensor dumps;
    - clauses that rely on a failed basic one are "blocked by" it;
    - the JSON report and the JUnit XML carry the same verdicts; the standalone snippet reproduces.
    """
    result = run("bad_families", "--embedspec-report=report.json", "--junitxml=junit.xml",
                 modules=(TOKEN, SINUSOIDAL, "embedspec.spec.test_learned_positional"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    properties = _properties(_report(pytester))
    outcomes = {k: p["outcome"] for k, p in properties.items()}

    # the wrong signature: one ERROR naming the factory and the contract's arguments; that family's properties skipped
    sinmod = {k: v for k, v in outcomes.items() if k.startswith("SINMOD-")}
    assert {"SINMOD-ADD-01", "SINMOD-BUF-01", "SINMOD-ODD-01"} <= set(sinmod) and set(sinmod.values()) == {"skipped"}
    assert outcomes["factory_signature[sinusoidal_module]"] == "error"
    result.stdout.fnmatch_lines(["*ERROR at setup of factory_signature[[]sinusoidal_module[]]*",
                                 "*FactorySignatureError: the factory bad_families.sinusoidal_module(dim) cannot be "
                                 "called with the contract's arguments (dim, max_len, *, base=...): too many "
                                 "positional arguments"])
    # the raising factory: failures naming the call; the clauses that rely on SIN-VAL-01 are blocked by it
    assert outcomes["SIN-VAL-01"] == "failed" and outcomes["SIN-ODD-01"] == "failed"
    assert "raised by the factory call bad_families.sinusoidal_encoding(" in _section(
        out, "test_values_match_formula[SIN-VAL-01]")
    # ... except that a factory that always raises refuses every bad input (SIN-REFUSE-01 passes), and the edge
    # clauses fail on their own, never blocked
    assert outcomes["SIN-REFUSE-01"] == "passed"
    edges = ("SIN-EDGE-01", "SIN-EMPTY-01")
    assert {outcomes[k] for k in edges} == {"failed"}
    assert {v for k, v in outcomes.items()
            if k.startswith("SIN-") and k not in ("SIN-VAL-01", "SIN-ODD-01", "SIN-REFUSE-01", *edges)} == {"blocked"}
    # the NaN: the report's order, the first differing index, the command
    section = _section(out, "test_lookup_is_indexing[TOK-LOOKUP-01]")
    order = ["Claim (TOK-LOOKUP-01, family token_embedding):", "Smallest failing inputs (an explicit @example):",
             "vocab_ids=(5, tensor([4, 0, 4])), dim=2, int32=False",
             "Expected versus actual:", "first difference at index (0, 1): actual nan, expected",
             "Reproduce:", "python -m pytest --pyargs "
             "'embedspec.spec.test_token_embedding::test_lookup_is_indexing[TOK-LOOKUP-01]' --impl=bad_families "
             "--hypothesis-seed=0", "standalone script", "Traceback"]
    positions = [section.index(text) for text in order]
    assert positions == sorted(positions), positions
    assert outcomes["TOK-LOOKUP-01"] == "failed"
    assert outcomes["TOK-GRAD-01"] == "blocked" and properties["TOK-GRAD-01"]["blocked_by"] == ["TOK-LOOKUP-01"]
    result.stdout.fnmatch_lines(["*embedspec: * failure(s) blocked by a failing basic clause*",
                                 "BLOCKED *test_repeated_ids_accumulate_gradient[[]TOK-GRAD-01[]] by TOK-LOOKUP-01"])
    # off by 0.5 on 32 numbers: the message names one index, and no tensor is printed in full
    section = _section(out, "test_adds_rows_from_zero[LPOS-ADD-01]")
    assert "first difference at index (0, 0, 0)" in section
    assert len(re.findall(r"-?\d+\.\d+", section)) < 16, section
    # the JUnit XML: each property a test case, its family the class name
    cases = ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    classes = {case.get("name"): case.get("classname") for case in cases}
    assert classes["test_lookup_is_indexing[TOK-LOOKUP-01]"] == "token_embedding"
    assert classes["test_values_match_formula[SIN-VAL-01]"] == "sinusoidal_encoding"
    # the standalone snippet fails the same way
    failure = properties["TOK-LOOKUP-01"]["failure"]
    assert failure["counterexample"] == "vocab_ids=(5, tensor([4, 0, 4])), dim=2, int32=False"
    monkeypatch.syspath_prepend(str(ADAPTERS))
    with pytest.raises(AssertionError, match=re.escape("first difference at index (0, 1): actual nan, expected")):
        exec(compile(failure["snippet"], "snippet.py", "exec"), {})


def test_hang_is_a_timeout_naming_the_example(run):
    """An example that hangs fails its property after --embedspec-timeout, naming the example; the run goes on."""
    result = run("bad_crash", "-k", "ERR-01 or SHAPE", "--embedspec-timeout=1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "Timeout:",
        "*ExampleTimeout: an example ran past the time limit of 1 s (--embedspec-timeout): "
        "test_out_of_range_id_raises[[]TOK-ERR-01[]] with vocab=5, dim=2, excess=0, alone=False",
    ])


def test_crashes_under_xdist_are_failures_and_the_run_completes(run, pytester):
    """Under -n: a segfault, and a hang no signal reaches (the watchdog's hard stop), each kill a worker;
    each is that test's failure, in the terminal, the JUnit XML and the JSON report; the rest runs. (A hang that
    the time limit stops is not here: it would block the family's later properties on its worker, see
    test_a_family_that_timed_out_costs_one_limit.)"""
    result = run("bad_crash", "-n", "2", "-k", "SHAPE or ERR-02 or ERR-03", "--embedspec-timeout=1",
                 "--junitxml=junit.xml", "--embedspec-report=report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running '*test_float_ids_raise[[]TOK-ERR-03[]]'*"])
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running '*test_negative_id_raises[[]TOK-ERR-02[]]'*"])
    report = _report(pytester)
    assert report["status"] == "complete"
    properties = _properties(report)
    assert {k: (p["outcome"], (p.get("failure") or {}).get("kind")) for k, p in properties.items()} == {
        "TOK-SHAPE-01": ("passed", None), "TOK-ERR-02": ("failed", "crash"), "TOK-ERR-03": ("failed", "crash")}
    cases = {c.get("name"): c for c in ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    assert {name: case.get("classname") for name, case in cases.items()} == dict.fromkeys(
        ["test_output_shape[TOK-SHAPE-01]", "test_negative_id_raises[TOK-ERR-02]", "test_float_ids_raise[TOK-ERR-03]"],
        "token_embedding")
    assert {child.tag for child in cases["test_float_ids_raise[TOK-ERR-03]"]} & {"failure", "error"}  # a crash: error
    properties_xml = {p.get("name"): p.get("value") for p in cases["test_output_shape[TOK-SHAPE-01]"].iter("property")}
    assert properties_xml["clause"] == "TOK-SHAPE-01"


def test_interrupted_run_still_writes_the_report(run, pytester):
    """Ctrl-C in the middle of a run: exit code 2, and a whole JSON report that says so."""
    result = run("bad_interrupt", "--embedspec-report=report.json", "-k", "SHAPE or ERR-03")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = _report(pytester)
    assert report["status"] == "interrupted"
    assert report["exit_code"] == 2
    assert _properties(report)["TOK-ERR-03"]["outcome"] == "incomplete"
    assert report["implementation"]["name"] == "bad_interrupt"
    assert report["versions"]["torch"]
    assert not list(pytester.path.glob(".report.json.*"))  # no temporary file left behind


def test_two_checks_failing_on_different_inputs_are_both_reported(run, pytester):
    """Issue 14, item 9: Hypothesis tells failures apart by the line that raised them, and the spec's verdicts are
    raised by its helpers (``assert_equal``): two checks of one property failing on different inputs (x written in
    place with two heads, positions with one) were one failure, the second input never shown. The watch ends such
    a traceback at the property's own line, so each check is reported with its own smallest input."""
    result = run("bad_inplace", "-k", "INPLACE", "--embedspec-report=report.json", modules=("embedspec.spec.test_rope",))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["Failure 1 of 2: Smallest failing inputs*"])
    result.stdout.fnmatch_lines(["Failure 2 of 2: Smallest failing inputs*"])
    out = result.stdout.str()
    assert "AssertionError: x after f(x, positions)" in out and "AssertionError: positions after f(x, positions)" in out
    failure = _properties(_report(pytester))["ROPE-INPLACE-01"]["failure"]
    assert isinstance(failure["counterexample"], list) and len(failure["counterexample"]) == 2


def _two_checks(first, second):
    from embedspec.spec.calls import assert_equal

    assert_equal(first, torch.zeros(1), what="first")
    assert_equal(second, torch.zeros(1), what="second")


def test_a_verdict_raised_in_a_helper_is_attributed_to_the_property_line():
    """The mechanism of the test above, on its own: the two checks' failures have two Hypothesis origins once the
    watch has ended their tracebacks at the property; an error raised by the implementation keeps its own line."""
    from hypothesis.internal.escalation import InterestingOrigin

    from embedspec.examples import _end_at_call_site

    origins = []
    for args in ((torch.ones(1), torch.zeros(1)), (torch.zeros(1), torch.ones(1))):
        with pytest.raises(AssertionError) as caught:
            _two_checks(*args)
        before = InterestingOrigin.from_exception(caught.value)
        _end_at_call_site(caught.value, _two_checks)
        origins.append((before, InterestingOrigin.from_exception(caught.value)))
    assert origins[0][0] == origins[1][0]  # both raised by assert_close: one failure to Hypothesis
    assert origins[0][1] != origins[1][1]  # two lines of the property: two failures
    assert origins[0][1].filename == __file__

    def implementation_raises():
        raise AssertionError("the implementation's own assert")

    def prop():
        implementation_raises()

    with pytest.raises(AssertionError) as caught:
        prop()
    before = InterestingOrigin.from_exception(caught.value)
    _end_at_call_site(caught.value, prop)
    assert InterestingOrigin.from_exception(caught.value) == before


def test_a_family_that_timed_out_costs_one_limit(run, pytester):
    """Issue 14, item 8: an implementation that hangs cost the time limit once per property (``-k sinusoidal``
    ran past ten minutes at the default limit). The first example past the limit fails its property; the family's
    remaining properties are not run: each fails at once, blocked by the one that timed out."""
    result = run("bad_hang", "--embedspec-timeout=2", "--embedspec-report=report.json", modules=(SINUSOIDAL,))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    properties = _properties(_report(pytester))
    timed_out = [k for k, p in properties.items() if p["outcome"] == "failed"]
    assert len(timed_out) == 1 and properties[timed_out[0]]["failure"]["kind"] == "timeout", properties
    blocked = {k: p for k, p in properties.items() if p["outcome"] == "blocked"}
    assert len(blocked) >= 10 and {tuple(p["blocked_by"]) for p in blocked.values()} == {tuple(timed_out)}
    assert all(p["failure"]["message"].startswith("FamilyTimedOut: not run:") for p in blocked.values())
    seconds = sum(p["duration"] for p in properties.values())
    assert seconds < 3 * 2, f"{seconds:.1f} s for {len(properties)} properties"
    result.stdout.fnmatch_lines(["*FamilyTimedOut: not run: an example of test_*[[]SIN-*[]] (family "
                                 "sinusoidal_encoding) ran past the time limit of 2 s (--embedspec-timeout)*"])


def test_a_wrong_signature_is_one_error_per_factory(run, pytester):
    """Issue 14, item 4: three factories with wrong signatures gave 41 ERRORs, each "at setup of" a property. Each
    factory's signature is checked once at the start of the run: one ERROR per factory, naming the factory, its
    signature and the contract's arguments; its family's properties are skipped, blocked by it."""
    result = run("bad_signatures", "--embedspec-report=report.json", "-rs",
                 modules=(TOKEN, SINUSOIDAL, "embedspec.spec.test_rope"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = _report(pytester)
    errors = [p for family in report["families"].values() for p in family["properties"] if p["outcome"] == "error"]
    assert sorted(p["test"] for p in errors) == ["factory_signature[rope]", "factory_signature[sinusoidal_encoding]",
                                                 "factory_signature[token_embedding]"]
    result.stdout.fnmatch_lines([
        "*FactorySignatureError: the factory bad_signatures.token_embedding(num_embeddings, embedding_dim) cannot be "
        "called with the contract's arguments (num_embeddings, embedding_dim, *, padding_idx=...): got an "
        "unexpected keyword argument 'padding_idx'"])
    result.stdout.fnmatch_lines(["*bad_signatures.rope(head_dim, *, base=10000.0) cannot be called with the "
                                 "contract's arguments (head_dim, *, base=..., max_seq_len=...)*"])
    for family in ("token_embedding", "sinusoidal_encoding", "rope"):
        summary = report["families"][family]["summary"]
        assert summary["error"] == 1 and summary["passed"] == summary["failed"] == 0, (family, summary)
        reasons = {p.get("reason") for p in report["families"][family]["properties"] if p["outcome"] == "skipped"}
        assert reasons == {f"blocked by the {family} factory's signature (the ERROR of factory_signature[{family}])"}
    result.stdout.fnmatch_lines(["*3 error*"])
