"""Hybrid positional embedding: learned rows up to max_len, the sinusoidal table past it
(long tutorial, "Hybrid approach: use sinusoidal for positions > max_seq_len").

The learned rows are set to seeded random values before each check, so that a
learned row can never be mistaken for the sinusoidal one at the same position
(an implementation may legitimately initialise its rows from the sinusoidal table).

The ordinary domain is a batch of one or more sequences of two positions or more, a table of two rows or more and
an even width from 4 (the endpoint frequency schedule needs dim >= 4); a single position, S == max_len == 1, a
one-row table, an empty batch and the narrowest width are HYB-EDGE-01's.
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles, oracles_extra
from . import strategies as sts
from . import tolerances
from .calls import assert_close, build
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
# what a hybrid's output depends on besides its weights
CONVENTIONS = ("sinusoidal.layout", "sinusoidal.frequencies", "hybrid.switch")


def _narrowest(conventions):
    """The smallest width the sinusoidal part allows: 2, or 4 under the endpoint frequency schedule."""
    return 4 if conventions["sinusoidal.frequencies"] == "endpoint" else 2


def widths(max_value=16):
    return sts.even_dims(4, max_value)


def table_lengths(max_value=16):
    return st.integers(2, max_value)


def _module(hybrid_positional, max_len, dim, seed, **kwargs):
    module = build(hybrid_positional, max_len, dim, **kwargs)
    weight = module.weight
    assert isinstance(weight, torch.nn.Parameter), f"m.weight is a {type(weight).__name__}, not a Parameter"
    assert tuple(weight.shape) == (max_len, dim), f"m.weight has shape {tuple(weight.shape)}, expected {(max_len, dim)}"
    with torch.no_grad():
        weight.copy_(sts.randn((max_len, dim), seed))
    return module


def _expected(module, x, base=10000.0):
    """conventions -> x + the hybrid's encoding, in float64."""
    return lambda conventions: x.to(F64) + oracles_extra.hybrid_table(
        module.weight, x.shape[1], conventions["hybrid.switch"], base, conventions["sinusoidal.layout"],
        conventions["sinusoidal.frequencies"])


def _assert_hybrid(module, x, conventions, what, base=10000.0):
    """m(x) is x + the encoding the declared conventions give; on failure, names the convention the output matches."""
    assert_close_by_convention(module(x), _expected(module, x, base), conventions, CONVENTIONS, atol=_atol(x),
                               what=f"{what}, hybrid.switch = {conventions['hybrid.switch']!r}")


def _atol(x):
    # the sinusoidal part: angles up to S - 1 radians (the highest frequency is 1) formed in float32;
    # then one rounded addition of values of size |x| + 3 (learned rows are standard normal draws)
    return (tolerances.angle_atol(F32, x.shape[1])
            + tolerances.atol(F32, operations=2, magnitude=(x.abs().max().item() if x.numel() else 0.0) + 3.0))


@given(batch=sts.batch_sizes(3), max_len=table_lengths(), shorter=st.integers(0, 14), dim=widths(), seed=sts.seeds())
@example(batch=2, max_len=8, shorter=0, dim=4, seed=0)  # S == max_len
def test_learned_rows_up_to_max_len(hybrid_positional, conventions, batch, max_len, shorter, dim, seed):
    """HYB-LEARNED-01 (must): a sequence of S <= max_len positions (S == max_len included) gets exactly the learned rows: m(x) = x + weight[:S]."""
    seq = max(max_len - shorter, 2)
    module = _module(hybrid_positional, max_len, dim, seed)
    x = sts.randn((batch, seq, dim), seed + 1)
    assert_close(module(x), x.to(F64) + module.weight.detach().to(F64)[:seq], atol=_atol(x),
                 what=f"m(x) with S = {seq} <= max_len = {max_len}")


@given(batch=sts.batch_sizes(3), max_len=table_lengths(), over=st.integers(1, 24), dim=widths(), base=sts.bases(),
       seed=sts.seeds())
@example(batch=2, max_len=8, over=1, dim=4, base=10000.0, seed=0)  # S == max_len + 1
@example(batch=1, max_len=3, over=20, dim=8, base=100.0, seed=0)
def test_sinusoidal_past_max_len(hybrid_positional, conventions, batch, max_len, over, dim, base, seed):
    """HYB-BEYOND-01 (must): past max_len (S == max_len + 1 included) the sinusoidal table takes over as declared by hybrid.switch, in the declared layout, frequencies and base: for every position under `sequence`, from position max_len on under `position`."""
    module = _module(hybrid_positional, max_len, dim, seed, base=base)
    x = sts.randn((batch, max_len + over, dim), seed + 1)
    _assert_hybrid(module, x, conventions, f"m(x) with S = {max_len + over} > max_len = {max_len}", base)


@given(max_len=table_lengths(), over=st.integers(1, 16), dim=widths(), seed=sts.seeds())
@example(max_len=8, over=1, dim=4, seed=0)
def test_crossing_max_len(hybrid_positional, conventions, max_len, over, dim, seed):
    """HYB-CROSS-01 (must): crossing max_len leaves every position below it untouched under `position`, while under `sequence` every position switches to the sinusoidal table, so position 0's encoding jumps from weight[0] to PE(0) (the discontinuity `position` exists to avoid)."""
    module = _module(hybrid_positional, max_len, dim, seed)
    at_max = module(torch.zeros(1, max_len, dim))[0].detach().to(F64)  # the encodings themselves: x = 0
    beyond = module(torch.zeros(1, max_len + over, dim))[0].detach().to(F64)
    weight = module.weight.detach().to(F64)
    atol = _atol(torch.zeros(1, max_len + over, dim))
    assert_close(at_max, weight, atol=atol, what=f"encodings at S = max_len = {max_len}")
    if conventions["hybrid.switch"] == "position":
        assert_close(beyond[:max_len], at_max, atol=atol,
                     what=f"positions below max_len at S = {max_len + over} against S = {max_len}")
    else:
        pe0 = oracles.sinusoidal_table([0], dim, layout=conventions["sinusoidal.layout"],
                                       schedule=conventions["sinusoidal.frequencies"])[0]
        assert_close(beyond[0], pe0, atol=atol, what=f"position 0 at S = {max_len + over}: PE(0)")
        gap = (beyond[0] - at_max[0]).abs().max().item()
        assert gap > atol, f"position 0's encoding did not change when S crossed max_len = {max_len}"


@given(batch=sts.batch_sizes(3), max_len=table_lengths(12), seq=st.integers(2, 24), dim=widths(8), seed=sts.seeds())
@example(batch=2, max_len=6, seq=6, dim=4, seed=0)  # S == max_len
@example(batch=2, max_len=6, seq=7, dim=4, seed=0)  # S == max_len + 1
def test_gradient_reaches_learned_rows_used(hybrid_positional, conventions, batch, max_len, seq, dim, seed):
    """HYB-GRAD-01 (must): the gradient reaches exactly the learned rows in use: row p receives the batch sum of the upstream gradient at position p when row p is used, and every other row exactly zero."""
    module = _module(hybrid_positional, max_len, dim, seed)
    x = sts.randn((batch, seq, dim), seed + 1)
    upstream = sts.randn((batch, seq, dim), seed + 2)
    out = module(x)
    if out.requires_grad:
        (out * upstream).sum().backward()
    used = oracles_extra.hybrid_learned_positions(max_len, seq, conventions["hybrid.switch"])
    expected = oracles.scatter_rows(used.expand(batch, len(used)), upstream[:, : len(used)], max_len)
    grad = module.weight.grad if module.weight.grad is not None else torch.zeros(max_len, dim)
    # each row is a float32 sum of `batch` upstream values
    atol = tolerances.atol(F32, operations=batch, magnitude=batch * upstream.abs().max().item())
    assert_close(grad, expected, atol=atol,
                 what=f"weight.grad with S = {seq}, max_len = {max_len}")


@given(max_len=table_lengths(), over=st.integers(1, 16), dim=widths(), seed=sts.seeds())
@example(max_len=4, over=1, dim=4, seed=0)
def test_only_learned_rows_are_parameters(hybrid_positional, max_len, over, dim, seed):
    """HYB-PARAM-01 (must): the module's only parameter is the (max_len, dim) learned table, before and after a sequence longer than max_len: nothing past max_len is a parameter (the sinusoidal part is fixed)."""
    module = _module(hybrid_positional, max_len, dim, seed)
    for moment in ("at construction", f"after a sequence of {max_len + over} positions"):
        if moment != "at construction":
            module(sts.randn((1, max_len + over, dim), seed + 1))
        others = [(name, tuple(p.shape)) for name, p in module.named_parameters() if p is not module.weight]
        assert not others, f"parameters besides m.weight {moment}: {others}"


def _edge_sizes():
    """(batch, max_len, seq, narrowest) with one degenerate size: a single position, S == max_len == 1, a sequence
    past a table of one row, an empty batch, or the narrowest width the sinusoidal part allows."""
    batch, max_len, seq = st.integers(1, 3), st.integers(2, 6), st.integers(2, 12)
    return st.one_of(
        st.tuples(batch, max_len, st.just(1), st.just(False)),
        st.tuples(batch, st.just(1), st.just(1), st.just(False)),
        st.tuples(batch, st.just(1), st.integers(2, 8), st.just(False)),
        st.tuples(st.just(0), max_len, seq, st.just(False)),
        st.tuples(batch, max_len, seq, st.just(True)),
    )


@given(sizes=_edge_sizes(), seed=sts.seeds())
@example(sizes=(2, 4, 1, False), seed=0)
@example(sizes=(2, 1, 1, False), seed=0)
@example(sizes=(2, 1, 3, False), seed=0)
@example(sizes=(0, 4, 3, False), seed=0)
@example(sizes=(0, 4, 6, False), seed=0)
@example(sizes=(2, 4, 3, True), seed=0)
@example(sizes=(2, 4, 6, True), seed=0)
def test_degenerate_sizes(hybrid_positional, conventions, sizes, seed):
    """HYB-EDGE-01 (must): at the degenerate sizes - a single position, S == max_len == 1, a sequence past a table of one row, an empty batch, the narrowest width the sinusoidal part allows - m(x) is x plus the learned rows up to max_len and the declared sinusoidal table past it, of x's shape."""
    batch, max_len, seq, narrowest = sizes
    dim = _narrowest(conventions) if narrowest else 8
    module = _module(hybrid_positional, max_len, dim, seed)
    _assert_hybrid(module, sts.randn((batch, seq, dim), seed + 1), conventions,
                   f"m(x) for B = {batch}, S = {seq}, max_len = {max_len}, d = {dim}")
