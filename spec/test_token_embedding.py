"""Token embeddings: a learnable lookup table (long tutorial, "Token Embeddings"; seed 002)."""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from .calls import assert_close, assert_raises_naming, build, call_documented, names_value

F32, F64 = torch.float32, torch.float64


def _lookup_oracle(module, ids, conventions):
    weight = module.weight.detach().to(F64)
    return weight[ids] * oracles.token_scale(weight.shape[1], conventions["token_embedding.scale"])


@given(vocab_ids=sts.ids_with_vocab(), dim=st.integers(1, 8))
@example(vocab_ids=(3, torch.tensor(2)), dim=4)  # 0-d ids
@example(vocab_ids=(3, torch.zeros(0, 2, dtype=torch.long)), dim=4)  # empty ids
def test_output_shape(token_embedding, vocab_ids, dim):
    """TOK-SHAPE-01 (must): ids of any shape (...) - 0-d and empty included - give embeddings of shape (..., d), and m.weight is the (num_embeddings, d) parameter."""
    vocab, ids = vocab_ids
    module = build(token_embedding, vocab, dim)
    assert isinstance(module.weight, torch.nn.Parameter), f"m.weight is a {type(module.weight).__name__}"
    assert tuple(module.weight.shape) == (vocab, dim), f"m.weight has shape {tuple(module.weight.shape)}"
    out = module(ids)
    assert tuple(out.shape) == (*ids.shape, dim), f"ids {tuple(ids.shape)} gave {tuple(out.shape)}"


@given(vocab_ids=sts.ids_with_vocab(), dim=st.integers(1, 8), int32=st.booleans())
@example(vocab_ids=(5, torch.tensor([4, 0, 4])), dim=2, int32=False)
def test_lookup_is_indexing(token_embedding, conventions, vocab_ids, dim, int32):
    """TOK-LOOKUP-01 (must): the lookup returns row ids[...] of the weight, times sqrt(d) under the sqrt_dim convention, for int64 and int32 ids alike: m(ids) == weight[ids] * scale."""
    vocab, ids = vocab_ids
    module = build(token_embedding, vocab, dim)
    ids = ids.to(torch.int32) if int32 else ids
    assert_close(module(ids), _lookup_oracle(module, ids.long(), conventions),
                 atol=4 * torch.finfo(F32).eps * (1 + module.weight.detach().abs().max().item()) * dim**0.5,
                 what="m(ids) against weight[ids] * scale")


@given(vocab=st.integers(1, 12), dim=st.integers(1, 8), data=st.data())
@example(vocab=1, dim=1, data=None).via("the padding row is the only row")
def test_padding_row_starts_at_zero(token_embedding, vocab, dim, data):
    """TOK-PAD-01 (must): with padding_idx set, that row of the weight is zero at construction, and looking the padding id up gives a zero vector."""
    padding_idx = 0 if data is None else data.draw(sts.padding_indices(vocab))
    module = build(token_embedding, vocab, dim, padding_idx=padding_idx)
    row = module.weight.detach()[padding_idx]
    assert bool((row == 0).all()), f"weight[{padding_idx}] = {row.tolist()} at construction"
    out = module(torch.tensor([padding_idx]))
    assert bool((out == 0).all()), f"m([{padding_idx}]) = {out.tolist()}"


@given(vocab=st.integers(2, 12), dim=st.integers(1, 8), seed=sts.seeds(), data=st.data())
def test_padding_row_gets_no_gradient(token_embedding, vocab, dim, seed, data):
    """TOK-PAD-02 (must): the gradient of the padding row is exactly zero after any backward pass, however often the padding id occurs."""
    padding_idx = data.draw(sts.padding_indices(vocab), label="padding_idx")
    module = build(token_embedding, vocab, dim, padding_idx=padding_idx)
    ids = sts.randint(0, vocab, (3, 5), seed)
    ids[0, 0] = padding_idx  # the padding id always occurs
    upstream = sts.randn((3, 5, dim), seed + 1)
    (module(ids) * upstream).sum().backward()
    grad = module.weight.grad[padding_idx]
    assert bool((grad == 0).all()), f"padding row {padding_idx} received gradient {grad.tolist()}"


@given(vocab=st.integers(1, 8), dim=st.integers(1, 6), seed=sts.seeds(), shape=sts.shapes(max_side=5))
@example(vocab=2, dim=2, seed=0, shape=(6,))
def test_repeated_ids_accumulate_gradient(token_embedding, conventions, vocab, dim, seed, shape):
    """TOK-GRAD-01 (must): each row's gradient is the sum of the upstream gradients at every occurrence of its id (times the scale), so repeated ids accumulate."""
    module = build(token_embedding, vocab, dim)
    ids = sts.randint(0, vocab, shape, seed)
    upstream = sts.randn((*shape, dim), seed + 1)
    (module(ids) * upstream).sum().backward()
    scale = oracles.token_scale(dim, conventions["token_embedding.scale"])
    expected = oracles.scatter_rows(ids, upstream, vocab) * scale
    grad = module.weight.grad if module.weight.grad is not None else torch.zeros(vocab, dim)
    assert_close(grad, expected, atol=4 * torch.finfo(F32).eps * max(1, ids.numel()) * 8 * scale,
                 what="weight.grad against the scattered upstream gradient")


@given(vocab=st.integers(1, 12), dim=st.integers(1, 6), batch=st.integers(2, 4), seq=sts.seq_lens(max_value=6),
       seed=sts.seeds())
def test_batch_invariance(token_embedding, vocab, dim, batch, seq, seed):
    """TOK-BATCH-01 (must): embedding a batch of sequences equals embedding each sequence on its own: a row's result does not depend on the batch it sits in."""
    module = build(token_embedding, vocab, dim)
    ids = sts.randint(0, vocab, (batch, seq), seed)
    together = module(ids)
    for b in range(batch):
        assert_close(together[b], module(ids[b]).to(F64), atol=0.0, what=f"sequence {b} in the batch versus alone")


def _ids_holding(bad, alone):
    """``bad`` alone as a 0-d tensor (a single id, as in one decoding step), or after a valid id."""
    return torch.tensor(bad) if alone else torch.tensor([0, bad])


@given(vocab=st.integers(1, 12), dim=st.integers(1, 4), excess=st.integers(0, 1000), alone=st.booleans())
@example(vocab=5, dim=2, excess=0, alone=False)
@example(vocab=5, dim=2, excess=0, alone=True)
def test_out_of_range_id_raises(token_embedding, vocab, dim, excess, alone):
    """TOK-ERR-01 (should): an id >= num_embeddings raises a documented error (IndexError, ValueError or TypeError) whose message names the id, never a silent clamp or wrap."""
    module = build(token_embedding, vocab, dim)
    bad = vocab + excess
    assert_raises_naming(lambda: module(_ids_holding(bad, alone)), bad, what=f"id {bad} with {vocab} rows")


@given(vocab=st.integers(1, 12), dim=st.integers(1, 4), bad=st.integers(-1000, -1), alone=st.booleans())
@example(vocab=5, dim=2, bad=-1, alone=False)
@example(vocab=5, dim=2, bad=-1, alone=True)
def test_negative_id_raises(token_embedding, vocab, dim, bad, alone):
    """TOK-ERR-02 (should): a negative id raises a documented error whose message names it, never a Python-style index from the end."""
    module = build(token_embedding, vocab, dim)
    assert_raises_naming(lambda: module(_ids_holding(bad, alone)), bad, what=f"id {bad}")


@given(vocab=st.integers(1, 12), dim=st.integers(1, 4), dtype=st.sampled_from([torch.float32, torch.float64,
                                                                            torch.float16]))
def test_float_ids_raise(token_embedding, vocab, dim, dtype):
    """TOK-ERR-03 (should): floating-point ids raise a documented error naming the floating dtype, instead of being truncated to integers."""
    module = build(token_embedding, vocab, dim)
    assert_raises_naming(lambda: module(torch.zeros(3, dtype=dtype)), ("float", "half", "double"),
                         what=f"ids of dtype {dtype}")


@given(vocab=st.integers(2, 12), dim=st.integers(1, 4), ids=st.lists(st.integers(0, 1), min_size=1, max_size=4))
@example(vocab=5, dim=2, ids=[1, 0])
def test_ids_not_a_tensor(token_embedding, vocab, dim, ids):
    """TOK-ERR-04 (should): ids given as a Python list, not a tensor, either raise a documented error naming their type or are looked up as the tensor torch.tensor(ids) would be, never failing with an unrelated AttributeError."""
    module = build(token_embedding, vocab, dim)
    what = f"ids {ids!r} given as a list"
    exc, out = call_documented(lambda: module(list(ids)), what=what)
    if exc is not None:
        assert names_value(str(exc), "list"), f"{what}: {type(exc).__name__}({str(exc)!r}) does not name the type list"
        return
    assert_close(out, module(torch.tensor(ids)).to(F64), atol=0.0, what=what)
