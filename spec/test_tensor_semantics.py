"""Tensor semantics the embedding layers rely on (seeds 000 and 002).

These properties check torch itself: they state the facts about broadcasting,
views and projections that every layer in this specification depends on, so that
a torch build (or a patched torch) that breaks one is named before the layer
properties fail in confusing ways.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as sts
from .calls import assert_close, assert_equal

F64 = torch.float64


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(max_value=8), dim=st.integers(1, 8), seed=sts.seeds())
def test_batch_broadcast_equals_expand_and_repeat(batch, seq, dim, seed):
    """TEN-BCAST-01 (must): (B, S, d) + (S, d) adds the same position row to every batch element: it equals adding pe.unsqueeze(0).expand(B, -1, -1) and pe.unsqueeze(0).repeat(B, 1, 1)."""
    x, pe = sts.randn((batch, seq, dim), seed, F64), sts.randn((seq, dim), seed + 1, F64)
    broadcast = x + pe
    assert_equal(broadcast, x + pe.unsqueeze(0).expand(batch, -1, -1), what="x + pe versus expand")
    assert_equal(broadcast, x + pe.unsqueeze(0).repeat(batch, 1, 1), what="x + pe versus repeat")
    for b in range(batch):  # the definition, one batch element at a time
        assert_equal(broadcast[b], x[b] + pe, what=f"batch element {b}")


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(max_value=8), dim=st.integers(1, 8), seed=sts.seeds())
def test_seq_first_broadcast(batch, seq, dim, seed):
    """TEN-BCAST-02 (must): in the sequence-first layout, (S, B, d) + (S, 1, d) adds row s of the positions to every batch element at step s."""
    x, pe = sts.randn((seq, batch, dim), seed, F64), sts.randn((seq, 1, dim), seed + 1, F64)
    assert_equal(x + pe, x + pe.expand(seq, batch, dim), what="seq-first broadcast")
    assert_equal((x + pe)[:, -1], x[:, -1] + pe[:, 0], what="last batch element")


@given(vocab_ids=sts.ids_with_vocab(), dim=st.integers(1, 6), seed=sts.seeds())
def test_embedding_is_row_lookup(vocab_ids, dim, seed):
    """TEN-LOOKUP-01 (must): torch's embedding lookup returns the rows of the weight at the ids, the same as indexing the weight and stacking the rows."""
    vocab, ids = vocab_ids
    weight = sts.randn((vocab, dim), seed, F64)
    looked_up = torch.nn.functional.embedding(ids, weight)
    assert_equal(looked_up, weight[ids], what="embedding versus weight[ids]")
    rows = [weight[i] for i in ids.reshape(-1).tolist()]
    stacked = torch.stack(rows) if rows else weight[:0]
    assert_equal(looked_up.reshape(-1, dim), stacked, what="embedding versus stacked rows")


@given(rows=st.integers(1, 6), cols=st.integers(1, 6), seed=sts.seeds())
def test_view_shares_storage(rows, cols, seed):
    """TEN-VIEW-01 (must): view reinterprets the same contiguous memory: it shares storage with its source, so a write through one is seen through the other."""
    x = sts.randn((rows * cols,), seed, F64)
    y = x.view(rows, cols)
    assert y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr(), "view made a new storage"
    assert_equal(y.reshape(-1), x, what="view values")
    y[-1, -1] = 1e9
    assert x[-1].item() == 1e9, "a write through the view is not seen in the source"


@given(rows=st.integers(2, 6), cols=st.integers(2, 6), seed=sts.seeds())
def test_view_refuses_transpose_reshape_copies(rows, cols, seed):
    """TEN-VIEW-02 (must): a transposed tensor is not contiguous, view refuses to flatten it, and reshape succeeds by copying into a new storage with the same values in row-major order."""
    x = sts.randn((rows, cols), seed, F64)
    transposed = x.t()
    assert not transposed.is_contiguous(), "a transpose of a (rows>1, cols>1) tensor is contiguous"
    with pytest.raises(RuntimeError):
        transposed.view(rows * cols)
    flat = transposed.reshape(rows * cols)
    assert flat.untyped_storage().data_ptr() != x.untyped_storage().data_ptr(), "reshape did not copy"
    expected = torch.stack([x[:, j] for j in range(cols)]).reshape(-1)
    assert_equal(flat, expected, what="reshape of the transpose")


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(max_value=6), d_in=st.integers(1, 8), d_out=st.integers(1, 8),
       seed=sts.seeds())
def test_matmul_projects_every_token(batch, seq, d_in, d_out, seed):
    """TEN-MATMUL-01 (must): x @ W for x of shape (B, S, in) and W of shape (in, out) applies the same projection to every token vector: out[b, s] = x[b, s] @ W."""
    x, weight = sts.randn((batch, seq, d_in), seed, F64), sts.randn((d_in, d_out), seed + 1, F64)
    projected = x @ weight
    per_token = (x.unsqueeze(-1) * weight).sum(-2)  # (B, S, in, 1) * (in, out) summed over in
    assert_close(projected, per_token, atol=1e-12 * d_in, what="x @ W versus per-token products")


@given(d_in=st.integers(1, 8), d_out=st.integers(1, 8), batch=sts.batch_sizes(), seed=sts.seeds())
def test_linear_stores_weight_out_by_in(d_in, d_out, batch, seed):
    """TEN-LINEAR-01 (must): nn.Linear(in, out) stores its weight as (out, in), and linear(x) equals x @ weight.T + bias."""
    torch.manual_seed(seed)
    linear = torch.nn.Linear(d_in, d_out, dtype=F64)
    assert tuple(linear.weight.shape) == (d_out, d_in), f"weight shape {tuple(linear.weight.shape)}"
    assert tuple(linear.bias.shape) == (d_out,), f"bias shape {tuple(linear.bias.shape)}"
    x = sts.randn((batch, 3, d_in), seed, F64)
    expected = (x.unsqueeze(-1) * linear.weight.detach().T).sum(-2) + linear.bias.detach()
    assert_close(linear(x), expected, atol=1e-12 * d_in, what="linear(x)")
