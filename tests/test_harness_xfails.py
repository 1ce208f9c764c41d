"""Expected failures from ``--xfails FILE``: the file's format, matching, stale entries, strictness, pinning."""

import json
import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedspec import xfails
from embedspec.xfails import Entry, XfailsError

ADAPTERS = Path(__file__).resolve().parent / "adapters_bad"

FILE = """
# known divergences of tests/adapters_bad/bad_families.py
[[xfail]]
id = "TOK-LOOKUP-01"
reason = "a NaN in the second element for three ids or more"
link = "https://example.org/issues/1"

[[xfail]]
id = "spec/test_token_embedding.py::test_out_of_range_id_raises[TOK-ERR-01]"
reason = "thought to clamp out-of-range ids"

[[xfail]]
id = "TOK-BATCH-01"
reason = "only on CUDA"
device = "cuda"
"""
STALE = """
[[xfail]]
id = "TOK-LOKUP-01"
reason = "a typo"

[[xfail]]
id = "tok-err-03"
reason = "a lower-case id"
"""


def _write(tmp_path, text, name="xfails.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- the file ---------------------------------------------------------------------

def test_parse_reads_every_field(tmp_path):
    entries = xfails.parse(_write(tmp_path, FILE + '\n[[xfail]]\nid = "TOK-ERR-03"\nreason = "r"\ndtype = "torch.float16"\n'))
    assert [e.id for e in entries] == ["TOK-LOOKUP-01", "spec/test_token_embedding.py::test_out_of_range_id_raises"
                                       "[TOK-ERR-01]", "TOK-BATCH-01", "TOK-ERR-03"]
    assert entries[0].link == "https://example.org/issues/1" and entries[0].number == 1
    assert entries[2].device == "cuda" and entries[3].dtype == "float16"
    assert entries[0].marker_reason() == ("a NaN in the second element for three ids or more [xfails: TOK-LOOKUP-01] "
                                          "https://example.org/issues/1")


@pytest.mark.parametrize("text, message", [
    ('[[xfail]]\nid = "TOK-ERR-01"\n', "entry 1: missing reason"),
    ('[[xfail]]\nid = "TOK-ERR-01"\nreason = "r"\nresaon = "x"\n', "entry 1: unknown key(s) resaon"),
    ('[[xfail]]\nid = "TOK-ERR-01"\nreason = ""\n', "entry 1: reason must be non-empty strings"),
    ('[[xfail]]\nid = "TOK-ERR-01"\nreason = "r"\ndtype = "float17"\n', "dtype 'float17' is not a torch dtype"),
    ('[[xfail]]\nid = "TOK-ERR-01"\nreason = "r"\ndevice = "gpu0"\n', "device 'gpu0' is not a torch device"),
    ('[[xfail]]\nid = "A-B-01"\nreason = "r"\n[[xfail]]\nid = "A-B-01"\nreason = "s"\n',
     "entry 2: the same id and scope as entry 1"),
    ('[xfail]\nid = "A-B-01"\n', "`xfail` must be an array of tables"),
    ('[[xfails]]\nid = "A-B-01"\n', "unknown top-level key(s) xfails"),
    ('[[xfail]\n', "is not valid TOML"),
])
def test_malformed_files_are_one_clear_error(tmp_path, text, message):
    with pytest.raises(XfailsError, match=None) as caught:
        xfails.parse(_write(tmp_path, text))
    assert message in str(caught.value)


def test_stale_entries_name_no_clause_and_no_test():
    entries = [Entry("TOK-LOOKUP-01", "r"), Entry("TOK-LOKUP-01", "typo"),
               Entry("spec/test_token_embedding.py::test_output_shape[TOK-SHAPE-01]", "r"),
               Entry("test_token_embedding.py::test_output_shape", "r"),
               Entry("spec/test_token_embedding.py::test_output_shape[TOK-LOOKUP-01]", "wrong clause"),
               Entry("spec/test_token_embedding.py::test_no_such_thing", "no function"),
               Entry("spec/test_nothing.py::test_output_shape", "no module")]
    assert [e.reason for e in xfails.stale(entries)] == ["typo", "wrong clause", "no function", "no module"]


def test_unknown_ids_get_a_suggestion():
    """Issue 14, item 10: the nearest clause or test (difflib), and the case of the id, are named."""
    assert xfails.suggestion(Entry("ROPE-PREC-2", "r")) == "did you mean ROPE-PREC-02?"
    assert xfails.suggestion(Entry("rope-prec-02", "r")) == "did you mean ROPE-PREC-02? (clause ids are upper-case)"
    assert xfails.suggestion(Entry("spec/test_token_embedding.py::test_lookup_is_indexin", "r")) == (
        "did you mean spec/test_token_embedding.py::test_lookup_is_indexing?")
    assert xfails.suggestion(Entry("spec/test_token_embedding.py::test_output_shape[TOK-LOOKUP-01]", "r")) == (
        "did you mean spec/test_token_embedding.py::test_output_shape[TOK-SHAPE-01]?")
    assert xfails.suggestion(Entry("QQQ-ZZZ-99", "r")) == "no clause id is close; the clause catalogue lists them all"


def _item(nodeid, params=None):
    path, _, rest = nodeid.partition("::")
    return SimpleNamespace(nodeid=nodeid, path=Path(path), name=rest,
                           callspec=SimpleNamespace(params=params) if params else None)


def test_matching_by_clause_node_id_and_scope():
    import torch

    item = _item("spec/test_token_embedding.py::test_lookup_is_indexing[TOK-LOOKUP-01]")
    assert xfails.matches(Entry("TOK-LOOKUP-01", "r"), item, "TOK-LOOKUP-01")
    assert not xfails.matches(Entry("TOK-SHAPE-01", "r"), item, "TOK-LOOKUP-01")
    assert xfails.matches(Entry("test_token_embedding.py::test_lookup_is_indexing[TOK-LOOKUP-01]", "r"), item, None)
    assert xfails.matches(Entry("spec/test_token_embedding.py::test_lookup_is_indexing", "r"), item, None)
    assert not xfails.matches(Entry("spec/test_sinusoidal.py::test_lookup_is_indexing", "r"), item, None)
    assert not xfails.matches(Entry("TOK-LOOKUP-01", "r", device="cuda"), item, "TOK-LOOKUP-01")  # a cpu case
    on_gpu = _item("spec/test_x.py::test_y[X-Y-01-cuda:1]", {"embedspec_device": "cuda:1", "dtype": torch.float16})
    assert xfails.matches(Entry("X-Y-01", "r", device="cuda"), on_gpu, "X-Y-01")
    assert not xfails.matches(Entry("X-Y-01", "r", device="cuda:0"), on_gpu, "X-Y-01")
    assert xfails.matches(Entry("X-Y-01", "r", dtype="float16"), on_gpu, "X-Y-01")
    assert not xfails.matches(Entry("X-Y-01", "r", dtype="bfloat16"), on_gpu, "X-Y-01")
    assert not xfails.matches(Entry("TOK-LOOKUP-01", "r", dtype="float16"), item, "TOK-LOOKUP-01")


@settings(database=None, max_examples=5)
@given(st.integers())
def _property(x):
    pass


def test_an_expected_failure_runs_derandomized_with_the_database():
    """Pinned: a Hypothesis property under an xfail entry generates the same examples on every run
    and replays the saved counterexample first, whatever the profile."""
    original = _property._hypothesis_internal_use_settings
    stash = pytest.Stash()
    stash[xfails.XFAIL_ENTRY] = Entry("X-Y-01", "r")
    item = SimpleNamespace(stash=stash, obj=_property)
    hook = xfails.pytest_runtest_call(item)
    next(hook)
    inside = _property._hypothesis_internal_use_settings
    assert inside.derandomize and inside.max_examples == 5
    assert inside.database is None  # this property had none; a profile's database is kept (see below)
    with pytest.raises(StopIteration):
        hook.send(None)
    assert _property._hypothesis_internal_use_settings is original
    from embedspec.reproduce import derandomized

    kept = derandomized(settings(max_examples=5))
    assert kept.derandomize and kept.database is not None


# --- in a run -----------------------------------------------------------------------

@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ADAPTERS), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("EMBEDSPEC_IMPL", raising=False)

    def run(text, *args):
        pytester.makefile(".toml", xfails=textwrap.dedent(text))
        return pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-p", "no:randomly", "--pyargs", "embedspec.spec.test_token_embedding",
            "--impl=bad_families", "--hypothesis-seed=0", "--xfails=xfails.toml", "-k", "LOOKUP or ERR-01 or SHAPE",
            "-rxX", *args)

    return run


def test_xfails_file_in_a_run(run, pytester):
    """An expected failure is XFAIL with its reason; one that passes is reported so the file can shrink;
    an entry out of scope is listed; an entry that names nothing is said plainly, at the start and at the end of
    the run, with the id it was probably meant to be (issue 14: a typo and a lower-case id were one warning in the
    warnings summary, with no suggestion); the JSON report carries them."""
    result = run(FILE + STALE, "--embedspec-report=report.json")
    result.assert_outcomes(passed=1, xfailed=1, xpassed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "embedspec: 5 expected failure(s) from *xfails.toml",
    ])
    unknown = ["embedspec: --xfails *xfails.toml: 2 entries name no clause and no test of the specification:",
               "    TOK-LOKUP-01 (entry 4): did you mean TOK-LOOKUP-01?",
               "    tok-err-03 (entry 5): did you mean TOK-ERR-03? (clause ids are upper-case)"]
    result.stdout.fnmatch_lines(unknown)
    result.stdout.fnmatch_lines(["*1 xfails entry matched no test of this run*", *unknown])  # and again at the end
    result.stdout.fnmatch_lines([
        "*embedspec: 1 expected failure(s) now pass: remove their entries from the xfails file*",
        "XPASS *test_out_of_range_id_raises[[]TOK-ERR-01[]]*",
        "embedspec: 1 xfails entry matched no test of this run (not selected, not provided, or out of scope): "
        "TOK-BATCH-01, device=cuda (entry 3)",
    ])
    result.stdout.fnmatch_lines([
        "XFAIL *test_lookup_is_indexing[[]TOK-LOOKUP-01[]] - a NaN in the second element for three ids or more "
        "[[]xfails: TOK-LOOKUP-01[]] https://example.org/issues/1",
    ])
    report = json.loads((pytester.path / "report.json").read_text())
    properties = {p["id"]: p for p in report["families"]["token_embedding"]["properties"]}
    assert properties["TOK-LOOKUP-01"]["outcome"] == "xfailed"
    assert properties["TOK-LOOKUP-01"]["xfail"]["link"] == "https://example.org/issues/1"
    assert properties["TOK-ERR-01"]["outcome"] == "xpassed"
    assert report["summary"]["xfailed"] == 1 and report["summary"]["xpassed"] == 1


def test_strict_xfails(run):
    """--strict-xfails: an expected failure that passes fails the run."""
    result = run(FILE, "--strict-xfails")
    result.assert_outcomes(passed=1, xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*thought to clamp out-of-range ids*"])


def _config(tmp_path, **options):
    options = {"embedspec_xfails": "xfails.toml", "embedspec_strict_xfails": False, **options}
    return SimpleNamespace(getoption=lambda name, default=None: options.get(name, default),
                           invocation_params=SimpleNamespace(dir=tmp_path), stash=pytest.Stash(),
                           issue_config_time_warning=lambda warning, stacklevel: None)


def test_strict_xfails_make_a_stale_entry_a_usage_error(tmp_path):
    _write(tmp_path, FILE + STALE)
    config = _config(tmp_path)
    xfails.pytest_configure(config)  # reported in the run (above), not an error
    assert len(xfails.entries_of(config)) == 5
    with pytest.raises(pytest.UsageError, match=r"2 entries name no clause and no test of the specification:\n"
                                                r"    TOK-LOKUP-01 \(entry 4\): did you mean TOK-LOOKUP-01\?\n"
                                                r"    tok-err-03 \(entry 5\): did you mean TOK-ERR-03\? "):
        xfails.pytest_configure(_config(tmp_path, embedspec_strict_xfails=True))
    _write(tmp_path, '[[xfail]]\nid = "TOK-ERR-01"\n')
    with pytest.raises(pytest.UsageError, match="entry 1: missing reason"):
        xfails.pytest_configure(_config(tmp_path))
