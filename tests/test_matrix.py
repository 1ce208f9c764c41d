"""The Markdown matrix (embedspec matrix): each cell shows the must results and the should results apart."""

from types import SimpleNamespace

from embedspec.matrix import Result


def _prop(outcome, level, clause="ROPE-VAL-01"):
    return {"id": clause, "outcome": outcome, "level": level, "nodeid": f"spec/test_rope.py::t[{clause}]"}


def _result(properties, entries=()):
    data = {"families": {"rope": {"properties": properties}}}
    implementation = SimpleNamespace(conventions={}, unsupported=frozenset({"rope.batched_positions"}))
    adapter = SimpleNamespace(name="lib", title="a library", distribution="lib", impl="lib:impl")
    return Result(adapter, data, list(entries), {}, ["rope"], implementation, 1.0)


def test_cell_shows_must_then_should_apart():
    result = _result([_prop("passed", "must"), _prop("passed", "must"), _prop("failed", "should", "ROPE-ODD-01"),
                      _prop("skipped", "must")])
    assert result.cell("rope") == "passed 2 · should: **failed** 1/1"
    assert result.unsupported == ["rope.batched_positions"]


def test_cell_of_a_family_without_should_clauses_in_the_run():
    assert _result([_prop("failed", "must"), _prop("passed", "must")]).cell("rope") == "**failed** 1/2"
    assert _result([]).cell("rope") == "untested"
    assert _result([]).cell("alibi_bias") == "—"
