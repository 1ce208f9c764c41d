"""Conformance levels: every clause states one, `--level` gates the exit code on it, both levels are reported."""

import ast
import json
import textwrap
from xml.etree import ElementTree
from pathlib import Path

import pytest

from embedspec.clauses import CLAUSE_ID

ROOT = Path(__file__).resolve().parent.parent
SPEC_ARGS = ["--pyargs", "embedspec.spec.test_token_embedding", "-p", "no:cacheprovider"]

# Correct values, and torch's own RuntimeError for a float id: an error-discipline gap (TOK-ERR-03, should), not
# a silent wrong result, since the float ids are still refused (TOK-REFUSE-01, must).
UNHELPFUL_ERRORS = """
import torch
import embedspec.reference as r

class _Embedding(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.weight = inner.weight

    def forward(self, ids):
        if isinstance(ids, torch.Tensor) and ids.is_floating_point():
            raise RuntimeError("expected an integer tensor")
        return self.inner(ids)

def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None):
    return _Embedding(r.token_embedding(num_embeddings, embedding_dim, padding_idx=padding_idx))
"""


def _properties():
    for path in sorted((ROOT / "spec").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield f"{path.name}::{node.name}", ast.get_docstring(node) or ""


def test_every_property_states_its_clause_and_level():
    unstated = [name for name, doc in _properties() if not CLAUSE_ID.match(doc)]
    assert not unstated, f"properties whose docstring does not begin 'CLAUSE-ID (must|should): claim': {unstated}"


@pytest.fixture
def run(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(my_impl=textwrap.dedent(UNHELPFUL_ERRORS))
    return lambda *args: pytester.runpytest_subprocess(*SPEC_ARGS, "--impl=my_impl", *args)


def test_should_gaps_are_reported_but_do_not_gate_at_level_must(run):
    result = run("-rf")
    result.stdout.fnmatch_lines(["*FAILED*TOK-ERR-03*"])
    assert result.ret == 0, result.stdout.str()


def test_level_should_gates_on_both_levels(run):
    result = run("--level=should")
    result.stdout.fnmatch_lines(["*FAILED*TOK-ERR-03*"])
    assert result.ret == 1


def test_unknown_level_is_a_usage_error(run):
    result = run("--level=may")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--level*invalid choice*may*"])


def test_both_levels_side_by_side_in_table_json_and_junit(run, pytester):
    result = run("--embedspec-report=report.json", "--junitxml=junit.xml")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["family *passed*failed*should*skipped*xfailed*verdict",
                                 "token_embedding *conforms; 1 should gap"])
    data = json.loads((pytester.path / "report.json").read_text())
    assert data["level"] == "must" and data["exit_code"] == 0
    levels = data["families"]["token_embedding"]["summary"]["levels"]
    assert levels["should"]["failed"] == 1 and levels["must"]["failed"] == 0 and levels["must"]["passed"] > 0
    failed = [p for p in data["families"]["token_embedding"]["properties"] if p["outcome"] == "failed"]
    assert [(p["id"], p["level"]) for p in failed] == [("TOK-ERR-03", "should")]
    properties = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
                  for case in ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    assert properties["test_float_ids_raise[TOK-ERR-03]"]["level"] == "should"
    assert properties["test_lookup_is_indexing[TOK-LOOKUP-01]"]["level"] == "must"
