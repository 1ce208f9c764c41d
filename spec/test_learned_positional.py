"""Learned absolute positional embeddings (GPT-2, BERT; long tutorial, "Learned Positional Embeddings").

The ordinary domain is a batch of one or more sequences of two positions or more, a table of two rows or more and
a width of two or more; a single position, S == max_len == 1, zero positions, a width of one and an empty batch
are LPOS-EDGE-01's.
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from . import tolerances
from .calls import TensorCallRecorder, assert_close, assert_raises_naming, assert_refused, build
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
SCALE = ("learned_positional.scale",)


def _expected(module, x, positions):
    """conventions -> x + weight[positions] * scale, in float64."""
    weight = module.weight.detach().to(F64)
    return lambda conventions: x.to(F64) + weight[positions] * oracles.learned_scale(
        weight.shape[1], conventions["learned_positional.scale"])


def _assert_adds(out, module, x, positions, conventions, what):
    assert_close_by_convention(out, _expected(module, x, positions), conventions, SCALE, atol=_atol(x), what=what)


def _atol(x):
    return tolerances.atol(F32, operations=2, magnitude=1 + (x.abs().max().item() if x.numel() else 0.0))


def widths(max_value=8):
    return st.integers(2, max_value)


def table_lengths(max_value):
    return st.integers(2, max_value)


def _module(learned_positional, max_len, dim):
    module = build(learned_positional, max_len, dim)
    assert isinstance(module.weight, torch.nn.Parameter), f"m.weight is a {type(module.weight).__name__}"
    assert tuple(module.weight.shape) == (max_len, dim), f"m.weight has shape {tuple(module.weight.shape)}"
    return module


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(2), extra=st.integers(0, 8), dim=widths(), seed=sts.seeds())
@example(batch=2, seq=8, extra=0, dim=2, seed=0)  # S == max_len
def test_adds_rows_from_zero(learned_positional, conventions, batch, seq, extra, dim, seed):
    """LPOS-ADD-01 (must): m(x) = x + weight[0:S]: position s of every sequence gets row s of the table (scaled per the declared convention)."""
    module = _module(learned_positional, seq + extra, dim)
    x = sts.randn((batch, seq, dim), seed)
    _assert_adds(module(x), module, x, torch.arange(seq), conventions, what="m(x)")


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(2), max_len=table_lengths(32), dim=widths(), seed=sts.seeds())
def test_explicit_positions(learned_positional, conventions, batch, seq, max_len, dim, seed):
    """LPOS-POS-01 (must): with explicit positions of shape (S,), m(x, positions) = x + weight[positions], in any order and with repeats."""
    module = _module(learned_positional, max_len, dim)
    x = sts.randn((batch, seq, dim), seed)
    positions = sts.randint(0, max_len, (seq,), seed + 1)
    _assert_adds(module(x, positions), module, x, positions, conventions, what=f"m(x, positions={positions.tolist()})")


@given(batch=st.integers(2, 4), seq=sts.seq_lens(2), max_len=table_lengths(32), dim=widths(), seed=sts.seeds())
def test_batched_positions(learned_positional, conventions, batch, seq, max_len, dim, seed):
    """LPOS-POS-02 (must): positions of shape (B, S) give each sequence its own positions: m(x, positions)[b] = x[b] + weight[positions[b]]."""
    module = _module(learned_positional, max_len, dim)
    x = sts.randn((batch, seq, dim), seed)
    positions = sts.randint(0, max_len, (batch, seq), seed + 1)
    _assert_adds(module(x, positions), module, x, positions, conventions, what="m(x, positions of shape (B, S))")


@given(max_len=table_lengths(16), over=st.integers(1, 64), dim=widths(4), seed=sts.seeds())
@example(max_len=4, over=1, dim=2, seed=0)  # S == max_len + 1
def test_too_long_raises(learned_positional, max_len, over, dim, seed):
    """LPOS-LEN-01 (should): a sequence longer than max_len raises a documented error naming its length (that it is refused at all, never clamped or wrapped, is LPOS-REFUSE-01's)."""
    module = _module(learned_positional, max_len, dim)
    seq = max_len + over
    assert_raises_naming(lambda: module(sts.randn((1, seq, dim), seed)), seq, what=f"S = {seq} > max_len = {max_len}")


@given(max_len=table_lengths(16), over=st.integers(1, 8), dim=widths(4))
@example(max_len=4, over=1, dim=2)
def test_too_long_raises_before_device_work(learned_positional, max_len, over, dim):
    """LPOS-LEN-02 (should): the length check comes before any device work: no tensor is created (no position range, no lookup) before the error, so on an accelerator it is a Python error rather than a device-side assert."""
    module = _module(learned_positional, max_len, dim)
    x = torch.zeros(1, max_len + over, dim)
    recorder = TensorCallRecorder()
    try:
        with recorder:
            module(x)
    except Exception:
        pass
    else:
        raise AssertionError(f"no error for S = {max_len + over} > max_len = {max_len}")
    assert not recorder.calls, f"tensors were made before the error: {recorder.calls[:5]}"


def bad_positions():
    """How far outside [0, max_len) a position lies: negative ones as they are, others counted from max_len."""
    return st.one_of(st.integers(-64, -1), st.integers(0, 64))


@given(max_len=table_lengths(16), dim=widths(4), bad=bad_positions())
@example(max_len=4, dim=2, bad=0)
@example(max_len=4, dim=2, bad=-1)
def test_bad_position_raises(learned_positional, max_len, dim, bad):
    """LPOS-POSERR-01 (should): an explicit position outside [0, max_len) raises a documented error naming it (that it is refused at all, never clamped or wrapped, is LPOS-REFUSE-01's)."""
    bad = bad + max_len if bad >= 0 else bad
    module = _module(learned_positional, max_len, dim)
    positions = torch.tensor([0, bad])
    assert_raises_naming(lambda: module(torch.zeros(1, 2, dim), positions), bad, what=f"position {bad}")


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(2), extra=st.integers(0, 8), dim=widths(6), seed=sts.seeds(),
       explicit=st.booleans())
def test_gradient_reaches_used_rows(learned_positional, conventions, batch, seq, extra, dim, seed, explicit):
    """LPOS-GRAD-01 (must): the gradient reaches exactly the rows used: row r receives the sum of the upstream gradients at the positions equal to r, every other row exactly zero."""
    max_len = seq + extra
    module = _module(learned_positional, max_len, dim)
    x = sts.randn((batch, seq, dim), seed)
    positions = sts.randint(0, max_len, (seq,), seed + 2) if explicit else None
    upstream = sts.randn((batch, seq, dim), seed + 1)
    (module(x, positions) if explicit else module(x)).mul(upstream).sum().backward()
    used = positions if explicit else torch.arange(seq)
    scattered = oracles.scatter_rows(used.expand(batch, seq), upstream, max_len)
    grad = module.weight.grad if module.weight.grad is not None else torch.zeros(max_len, dim)
    assert_close_by_convention(
        grad, lambda declared: scattered * oracles.learned_scale(dim, declared["learned_positional.scale"]),
        conventions, SCALE, atol=tolerances.atol(F32, operations=batch, magnitude=8.0), what="weight.grad")


@given(seq=sts.seq_lens(2), dim=widths(6), seed=sts.seeds())
def test_positions_made_on_input_device(learned_positional, conventions, seq, dim, seed):
    """LPOS-DEV-01 (must): the default positions are made on the input's device, not the default device: with the default device switched to meta, m(x) for a CPU x is still computed on the CPU, with the right values."""
    module = _module(learned_positional, seq, dim)
    x = sts.randn((2, seq, dim), seed)
    try:
        with torch.device("meta"):
            out = module(x)
    except Exception as exc:
        raise AssertionError(f"a tensor was made on the default device instead of x's: {type(exc).__name__}: {exc}") from exc
    assert out.device == x.device, f"output on {out.device}, input on {x.device}"
    _assert_adds(out, module, x, torch.arange(seq), conventions, what="m(x)")


@given(max_len=table_lengths(16), dim=widths(4), too_long=st.booleans(), over=st.integers(1, 64), bad=bad_positions(),
       seed=sts.seeds())
@example(max_len=4, dim=2, too_long=True, over=1, bad=0, seed=0)  # S == max_len + 1
@example(max_len=4, dim=2, too_long=False, over=1, bad=0, seed=0)  # position max_len
@example(max_len=4, dim=2, too_long=False, over=1, bad=-1, seed=0)
def test_bad_lengths_and_positions_refused(learned_positional, max_len, dim, too_long, over, bad, seed):
    """LPOS-REFUSE-01 (must): a sequence longer than max_len, and an explicit position outside [0, max_len), are refused by some exception, never clamped to the last row or wrapped from the end. Must: a clamped position is a silently wrong encoding."""
    module = _module(learned_positional, max_len, dim)
    if too_long:
        seq = max_len + over
        assert_refused(lambda: module(sts.randn((1, seq, dim), seed)), what=f"S = {seq} > max_len = {max_len}")
        return
    bad = bad + max_len if bad >= 0 else bad
    assert_refused(lambda: module(torch.zeros(1, 2, dim), torch.tensor([0, bad])), what=f"position {bad}")


def _edge_sizes():
    """(batch, seq, max_len, dim) with one degenerate size: a single position, S == max_len == 1, zero positions,
    a width of one, an empty batch."""
    batch, seq, extra, dim = st.integers(1, 3), st.integers(2, 6), st.integers(0, 4), st.integers(2, 6)
    return st.one_of(
        st.tuples(batch, st.just(1), st.integers(2, 6), dim),
        st.tuples(batch, st.just(1), st.just(1), dim),
        st.tuples(batch, st.just(0), st.integers(1, 6), dim),
        st.tuples(batch, seq, extra, st.just(1)).map(lambda s: (s[0], s[1], s[1] + s[2], s[3])),
        st.tuples(st.just(0), seq, extra, dim).map(lambda s: (s[0], s[1], s[1] + s[2], s[3])),
    )


@given(sizes=_edge_sizes(), explicit=st.booleans(), seed=sts.seeds())
@example(sizes=(2, 1, 4, 3), explicit=False, seed=0)
@example(sizes=(2, 1, 4, 3), explicit=True, seed=0)
@example(sizes=(2, 1, 1, 3), explicit=False, seed=0)
@example(sizes=(2, 0, 3, 3), explicit=False, seed=0)
@example(sizes=(2, 4, 5, 1), explicit=False, seed=0)
@example(sizes=(0, 3, 4, 3), explicit=False, seed=0)
def test_degenerate_sizes(learned_positional, conventions, sizes, explicit, seed):
    """LPOS-EDGE-01 (must): at the degenerate sizes - a single position, S == max_len == 1, zero positions, a width of one, an empty batch - m(x) = x + weight[0:S] and m(x, positions) = x + weight[positions] (scaled per convention), of x's shape."""
    batch, seq, max_len, dim = sizes
    module = _module(learned_positional, max_len, dim)
    x = sts.randn((batch, seq, dim), seed)
    # explicit positions count back from the last row, so that they differ from the default 0..S-1 where they can
    positions = max_len - 1 - torch.arange(seq) if explicit else torch.arange(seq)
    out = module(x, positions) if explicit else module(x)
    assert tuple(out.shape) == tuple(x.shape), f"m(x) has shape {tuple(out.shape)} for x of shape {tuple(x.shape)}"
    _assert_adds(out, module, x, positions, conventions,
                 what=f"m(x{f', positions={positions.tolist()}' if explicit else ''}) for B = {batch}, S = {seq}, "
                      f"max_len = {max_len}, d = {dim}")
