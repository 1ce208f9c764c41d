"""Learned absolute positional embeddings (GPT-2, BERT; long tutorial, "Learned Positional Embeddings")."""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from . import tolerances
from .calls import TensorCallRecorder, assert_close, assert_raises_naming, build

F32, F64 = torch.float32, torch.float64


def _expected(module, x, positions, conventions):
    weight = module.weight.detach().to(F64)
    scale = oracles.learned_scale(weight.shape[1], conventions["learned_positional.scale"])
    return x.to(F64) + weight[positions] * scale


def _atol(x):
    return tolerances.atol(F32, operations=2, magnitude=1 + x.abs().max().item())


def _module(learned_positional, max_len, dim):
    module = build(learned_positional, max_len, dim)
    assert isinstance(module.weight, torch.nn.Parameter), f"m.weight is a {type(module.weight).__name__}"
    assert tuple(module.weight.shape) == (max_len, dim), f"m.weight has shape {tuple(module.weight.shape)}"
    return module


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(), extra=st.integers(0, 8), dim=st.integers(1, 8), seed=sts.seeds())
@example(batch=1, seq=1, extra=0, dim=1, seed=0)
@example(batch=2, seq=8, extra=0, dim=2, seed=0)  # S == max_len
def test_adds_rows_from_zero(learned_positional, conventions, batch, seq, extra, dim, seed):
    """LPOS-ADD-01 (must): m(x) = x + weight[0:S]: position s of every sequence gets row s of the table (scaled per the declared convention)."""
    module = _module(learned_positional, seq + extra, dim)
    x = sts.randn((batch, seq, dim), seed)
    assert_close(module(x), _expected(module, x, torch.arange(seq), conventions), atol=_atol(x), what="m(x)")


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(), max_len=st.integers(1, 32), dim=st.integers(1, 8), seed=sts.seeds())
def test_explicit_positions(learned_positional, conventions, batch, seq, max_len, dim, seed):
    """LPOS-POS-01 (must): with explicit positions of shape (S,), m(x, positions) = x + weight[positions], in any order and with repeats."""
    module = _module(learned_positional, max_len, dim)
    x = sts.randn((batch, seq, dim), seed)
    positions = sts.randint(0, max_len, (seq,), seed + 1)
    assert_close(module(x, positions), _expected(module, x, positions, conventions), atol=_atol(x),
                 what=f"m(x, positions={positions.tolist()})")


@given(batch=st.integers(2, 4), seq=sts.seq_lens(), max_len=st.integers(1, 32), dim=st.integers(1, 8), seed=sts.seeds())
def test_batched_positions(learned_positional, conventions, batch, seq, max_len, dim, seed):
    """LPOS-POS-02 (must): positions of shape (B, S) give each sequence its own positions: m(x, positions)[b] = x[b] + weight[positions[b]]."""
    module = _module(learned_positional, max_len, dim)
    x = sts.randn((batch, seq, dim), seed)
    positions = sts.randint(0, max_len, (batch, seq), seed + 1)
    assert_close(module(x, positions), _expected(module, x, positions, conventions), atol=_atol(x),
                 what="m(x, positions of shape (B, S))")


@given(max_len=st.integers(1, 16), over=st.integers(1, 64), dim=st.integers(1, 4), seed=sts.seeds())
@example(max_len=4, over=1, dim=2, seed=0)  # S == max_len + 1
def test_too_long_raises(learned_positional, max_len, over, dim, seed):
    """LPOS-LEN-01 (should): a sequence longer than max_len raises a documented error naming its length: a learned table cannot extrapolate, and must not clamp or wrap."""
    module = _module(learned_positional, max_len, dim)
    seq = max_len + over
    assert_raises_naming(lambda: module(sts.randn((1, seq, dim), seed)), seq, what=f"S = {seq} > max_len = {max_len}")


@given(max_len=st.integers(1, 16), over=st.integers(1, 8), dim=st.integers(1, 4))
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


@given(max_len=st.integers(1, 16), dim=st.integers(1, 4), bad=st.one_of(st.integers(-64, -1), st.integers(0, 64)))
@example(max_len=4, dim=2, bad=4)
@example(max_len=4, dim=2, bad=-1)
def test_bad_position_raises(learned_positional, max_len, dim, bad):
    """LPOS-POSERR-01 (should): an explicit position outside [0, max_len) raises a documented error naming it."""
    bad = bad + max_len if bad >= 0 else bad
    module = _module(learned_positional, max_len, dim)
    positions = torch.tensor([0, bad])
    assert_raises_naming(lambda: module(torch.zeros(1, 2, dim), positions), bad, what=f"position {bad}")


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(), extra=st.integers(0, 8), dim=st.integers(1, 6), seed=sts.seeds(),
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
    scale = oracles.learned_scale(dim, conventions["learned_positional.scale"])
    expected = oracles.scatter_rows(used.expand(batch, seq), upstream, max_len) * scale
    grad = module.weight.grad if module.weight.grad is not None else torch.zeros(max_len, dim)
    assert_close(grad, expected, atol=tolerances.atol(F32, operations=batch, magnitude=8.0), what="weight.grad")


@given(seq=sts.seq_lens(), dim=st.integers(1, 6), seed=sts.seeds())
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
    assert_close(out, _expected(module, x, torch.arange(seq), conventions), atol=_atol(x), what="m(x)")
