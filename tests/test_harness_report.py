"""The report's parts on their own: dependencies, outcomes, inputs, snippets, the JSON file, sub-plugins."""

import dataclasses
import enum
import json
import math
from types import SimpleNamespace

import pytest
import torch

from embedspec import jsonreport, plugin, report, reproduce
from embedspec.spec import test_rope as rope_spec


def test_subplugins_are_registered(pytestconfig):
    """plugin.SUBPLUGINS are imported and registered by pytest_addhooks, in every pytest session."""
    for name in plugin.SUBPLUGINS:
        assert pytestconfig.pluginmanager.has_plugin(name), name
    for option in ("embedspec_timeout", "embedspec_xfails", "embedspec_strict_xfails", "embedspec_report"):
        pytestconfig.getoption(option)


def test_depends_on_exact_ids_win_over_patterns_and_unknown_ids_depend_on_nothing():
    assert report.depends_on("TOK-LOOKUP-01") == ("TOK-SHAPE-01",)
    assert report.depends_on("TOK-ERR-02") == ("TOK-SHAPE-01",)
    assert report.depends_on("TOK-PAD-01") == ("TOK-SHAPE-01", "TOK-LOOKUP-01")
    assert report.depends_on("TOK-SHAPE-01") == ()  # never itself
    assert report.depends_on("SIN-ODD-01") == ()
    assert report.depends_on("SIN-ROT-01") == ("SIN-VAL-01",)
    assert report.depends_on("SINMOD-BUF-01") == ("SINMOD-ADD-01",)  # not SIN-*: a longer pattern wins
    assert report.depends_on("ROPE-REL-01") == ("ROPE-VAL-01",)
    assert report.depends_on("NEWFAMILY-REL-01") == ()  # a family the table does not know
    assert report.depends_on(None) == ()


def _report(when, outcome, **extra):
    return SimpleNamespace(when=when, outcome=outcome, passed=outcome == "passed", failed=outcome == "failed",
                           skipped=outcome == "skipped", longrepr=extra.pop("longrepr", None), **extra)


@pytest.mark.parametrize("phases, expected", [
    ([("setup", "passed"), ("call", "passed"), ("teardown", "passed")], "passed"),
    ([("setup", "passed"), ("call", "failed"), ("teardown", "passed")], "failed"),
    ([("setup", "failed"), ("teardown", "passed")], "error"),
    ([("setup", "passed"), ("setup", "failed"), ("teardown", "passed")], "error"),  # a signature error
    ([("setup", "skipped"), ("teardown", "passed")], "skipped"),
    ([("setup", "passed"), ("call", "passed"), ("teardown", "failed")], "error"),
    ([("setup", "passed"), ("???", "failed")], "failed"),  # pytest-xdist: the worker crashed
    ([("setup", "passed")], "incomplete"),  # interrupted in the call
])
def test_outcome_of(phases, expected):
    assert report.outcome_of([_report(when, outcome) for when, outcome in phases]) == expected


def test_outcome_of_expected_failures():
    xfailed = [_report("setup", "passed"), _report("call", "skipped", wasxfail="r")]
    xpassed = [_report("setup", "passed"), _report("call", "passed", wasxfail="r")]
    strict = [_report("setup", "passed"), _report("call", "failed", longrepr="[XPASS(strict)] r")]
    assert [report.outcome_of(r) for r in (xfailed, xpassed, strict)] == ["xfailed", "xpassed", "xpassed"]


def test_inputs_leave_fixtures_out():
    note = ("Falsifying example: test_x(\n    token_embedding=token_embedding,\n    conventions={'a': 'b',\n"
            "     'c': 'd'},\n    vocab_ids=(5, tensor([4, 0, 4])),\n    dim=2,\n)")
    assert report._inputs_from_note(note, {"token_embedding", "conventions"}) == "vocab_ids=(5, tensor([4, 0, 4])), dim=2"
    assert report._inputs_from_note("Falsifying example: test_x(m=<object at 0x1>)", set()) is None


def test_messages_are_clipped():
    text = report._clip("\n".join(str(i) * 300 for i in range(100)))
    assert len(text) < 1700 and "cut" in text


@dataclasses.dataclass(frozen=True)
class Config:
    """A drawn configuration held in a dataclass."""

    dim: int
    scale: float = 1.0
    x: torch.Tensor = None


class Pairing(enum.Enum):
    HALF = "half"


def _rebuilt(value):
    """Rebuild ``value`` from its source, as a snippet does: the imports the serialiser asks for, then the source."""
    imports = set()
    text = reproduce.source(value, imports)
    namespace = {"torch": torch}
    exec("\n".join(reproduce.import_lines(imports)), namespace)
    return eval(text, namespace)


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(
            a.detach(), b.detach()) and a.requires_grad == b.requires_grad)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", [
    None, 3, -1.5, "x", (1,), (2, (3, 4)), [1, 2], {"a": 1}, torch.float16, torch.device("cpu"),
    torch.tensor([4, 0, 4]), torch.tensor(2), torch.zeros(0, 2, dtype=torch.long), torch.tensor([[0.1, -2.5]]),
    torch.tensor([1.0, 2.0], dtype=torch.bfloat16, requires_grad=True), torch.Size([2, 3]), {1, 2}, 1 + 2j,
    rope_spec.Case(batch=1, seq=8, heads=1, head_dim=32, batched=False, seed=0),  # issue 14: written as a tuple
    Config(dim=4, x=torch.tensor([1.5])), Pairing.HALF,
    {"label": "padding_idx=0", "vocab": 7, "dim": 4, "padding_idx": 0, "dtype": torch.bfloat16},
    [rope_spec.Case(2, 3, 2, 2, True, 0), (torch.int32, torch.device("cpu"))],
])
def test_source_rebuilds_values(value):
    """The serialiser of the snippets: every kind of drawn value is rebuilt as itself (type and contents)."""
    assert _same(_rebuilt(value), value), reproduce.source(value)


def test_source_finds_registry_entries_and_named_objects():
    """An object its module keeps in a registry (the cross-cutting properties' families) is found there."""
    from embedspec.spec.families import REGISTRY

    family = next(iter(REGISTRY.values()))
    assert _rebuilt(family) is family
    assert _rebuilt(torch.nn.Linear) is torch.nn.Linear


def test_source_of_special_floats_and_unrepresentable_values():
    assert math.isnan(eval(reproduce.source(float("nan"))))
    assert eval(reproduce.source(torch.tensor([float("inf"), float("nan")])), {"torch": torch})[0] == float("inf")
    with pytest.raises(reproduce.NotSource):
        reproduce.source(object())
    with pytest.raises(reproduce.NotSource, match="too large"):
        reproduce.source(torch.zeros(1000))


def test_recorded_examples_keep_their_types():
    """The watch's copy of an example keeps a named tuple, a dataclass and a torch.Size as themselves."""
    from embedspec.examples import _snapshot

    for value in (rope_spec.Case(1, 8, 1, 32, False, 0), Config(dim=2, x=torch.ones(2)), torch.Size([1])):
        copy = _snapshot(value)
        assert _same(copy, value)
    tensor = torch.ones(2)
    assert _snapshot(Config(dim=2, x=tensor)).x is not tensor


def test_report_file_is_written_atomically(tmp_path):
    path = tmp_path / "sub" / "report.json"
    jsonreport.write_atomically(path, {"a": 1})
    jsonreport.write_atomically(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_a_state_machine_counterexample_is_its_program():
    exc = AssertionError("off")
    for note in ["Failing test case: <state machine>", "state = CallSequence_rope()", "state.build(config={'a': 1})",
                 "Draw 1 (length): 2", "state.call(data=data(...), dtype=torch.float16)",
                 "state.call_again_in_another_dtype(dtype=torch.float64)", "state.teardown()"]:
        exc.add_note(note)
    how, text = report._inputs(exc, set())
    assert how == "Hypothesis' shortest failing sequence of calls"
    assert text == ("state.build(config={'a': 1}); Draw 1 (length): 2; state.call(data=data(...), dtype=torch.float16); "
                    "state.call_again_in_another_dtype(dtype=torch.float64)")


def _verdicts(provided, reports_by_test):
    """A Verdicts collector of a run against an implementation providing ``provided``, fed these reports."""
    from embedspec import verdict
    from embedspec.loading import load_implementation

    target = SimpleNamespace(**{family: (lambda *args, **kwargs: None) for family in provided})
    config = SimpleNamespace(stash=pytest.Stash(), getoption=lambda name, default=None: default)
    config.stash[plugin._implementation_key] = load_implementation(target)
    collector = verdict.Verdicts(config)
    for nodeid, (family, clause, level, phases) in reports_by_test.items():
        for when, outcome, extra in phases:
            collector.pytest_runtest_logreport(_report(
                when, outcome, nodeid=nodeid, embedspec={"families": [family], "clause": clause, "level": level},
                **extra))
    return collector


def test_expected_failures_alone_are_not_called_nonconformant():
    """Issue 14, item 13: a family whose only failures were expected (the run exits 0) read "nonconformant"."""
    xfailed = [("setup", "passed", {}), ("call", "skipped", {"wasxfail": "known"})]
    passed = [("setup", "passed", {}), ("call", "passed", {})]
    collector = _verdicts(["sinusoidal_encoding"], {
        "a": ("sinusoidal_encoding", "SIN-VAL-01", "must", xfailed),
        "b": ("sinusoidal_encoding", "SIN-ROT-01", "must", passed),
    })
    [row] = collector.rows()
    assert row.verdict == "1 known divergence"
    failed = [("setup", "passed", {}), ("call", "failed", {})]
    collector = _verdicts(["sinusoidal_encoding"], {
        "a": ("sinusoidal_encoding", "SIN-VAL-01", "must", xfailed),
        "b": ("sinusoidal_encoding", "SIN-ROT-01", "must", failed),
    })
    assert collector.rows()[0].verdict == "nonconformant"


def test_the_table_lists_only_provided_families():
    """Issue 14, item 13: every family had a row, "not provided" ones too; they are named once below the table."""
    skipped = [("setup", "skipped", {"longrepr": ("f", 1, "Skipped: not provided: rope")})]
    passed = [("setup", "passed", {}), ("call", "passed", {})]
    collector = _verdicts(["token_embedding"], {
        "a": ("token_embedding", "TOK-LOOKUP-01", "must", passed),
        "b": ("rope", "ROPE-VAL-01", "must", skipped),
        "c": ("alibi_bias", "ALIBI-VAL-01", "must", skipped),
    })
    lines = collector.table()
    assert [line.split()[0] for line in lines[1:-1]] == ["token_embedding"]
    assert lines[-1] == "not provided: rope, alibi_bias"
