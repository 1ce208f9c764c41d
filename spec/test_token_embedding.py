"""Token embeddings: a learnable lookup table (long tutorial, "Token Embeddings"; seed 002).

The ordinary domain is a vocabulary of two rows or more, a width of two or more and ids of one to three non-empty
sides; 0-d ids, empty ids, a single row and a width of one are TOK-EDGE-01's, so that an implementation that
fails there is still judged on its lookup, gradients and errors.
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from .calls import assert_close, assert_raises_naming, assert_refused, build, call_documented, names_value
from .capabilities import needs
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
SCALE = ("token_embedding.scale",)
PADDING = "token_embedding.padding_idx"


def ordinary_ids():
    """(vocab, ids): two rows or more, ids of a non-empty shape of one to three sides."""
    return sts.ids_with_vocab(min_vocab=2, shape_strategy=sts.ordinary_shapes())


def widths():
    return st.integers(2, 8)


def _lookup_oracle(module, ids):
    """conventions -> weight[ids] * scale, in float64."""
    weight = module.weight.detach().to(F64)
    return lambda conventions: weight[ids] * oracles.token_scale(weight.shape[1], conventions["token_embedding.scale"])


def _lookup_atol(module):
    return 4 * torch.finfo(F32).eps * (1 + module.weight.detach().abs().max().item()) * module.weight.shape[1] ** 0.5


@given(vocab_ids=ordinary_ids(), dim=widths())
def test_output_shape(token_embedding, vocab_ids, dim):
    """TOK-SHAPE-01 (must): ids of shape (...) give embeddings of shape (..., d), and m.weight is the (num_embeddings, d) parameter."""
    vocab, ids = vocab_ids
    module = build(token_embedding, vocab, dim)
    assert isinstance(module.weight, torch.nn.Parameter), f"m.weight is a {type(module.weight).__name__}"
    assert tuple(module.weight.shape) == (vocab, dim), f"m.weight has shape {tuple(module.weight.shape)}"
    out = module(ids)
    assert tuple(out.shape) == (*ids.shape, dim), f"ids {tuple(ids.shape)} gave {tuple(out.shape)}"


@given(vocab_ids=ordinary_ids(), dim=widths(), int32=st.booleans())
@example(vocab_ids=(5, torch.tensor([4, 0, 4])), dim=2, int32=False)
def test_lookup_is_indexing(token_embedding, conventions, vocab_ids, dim, int32):
    """TOK-LOOKUP-01 (must): the lookup returns row ids[...] of the weight, times sqrt(d) under the sqrt_dim convention, for int64 and int32 ids alike: m(ids) == weight[ids] * scale."""
    vocab, ids = vocab_ids
    module = build(token_embedding, vocab, dim)
    ids = ids.to(torch.int32) if int32 else ids
    assert_close_by_convention(module(ids), _lookup_oracle(module, ids.long()), conventions, SCALE,
                               atol=_lookup_atol(module), what="m(ids) against weight[ids] * scale")


@needs(PADDING)
@given(vocab=st.integers(2, 12), dim=widths(), data=st.data())
def test_padding_row_starts_at_zero(token_embedding, vocab, dim, data):
    """TOK-PAD-01 (must): with padding_idx set, that row of the weight is zero at construction, and looking the padding id up gives a zero vector."""
    padding_idx = data.draw(sts.padding_indices(vocab), label="padding_idx")
    module = build(token_embedding, vocab, dim, padding_idx=padding_idx)
    row = module.weight.detach()[padding_idx]
    assert bool((row == 0).all()), f"weight[{padding_idx}] = {row.tolist()} at construction"
    out = module(torch.tensor([padding_idx]))
    assert bool((out == 0).all()), f"m([{padding_idx}]) = {out.tolist()}"


@needs(PADDING)
@given(vocab=st.integers(2, 12), dim=widths(), seed=sts.seeds(), data=st.data())
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


@given(vocab=st.integers(2, 8), dim=st.integers(2, 6), seed=sts.seeds(), shape=sts.ordinary_shapes(max_side=5))
@example(vocab=2, dim=2, seed=0, shape=(6,))
@example(vocab=3, dim=2, seed=0, shape=(2, 5))  # a batch of sequences longer than a lookup chunk of 4
def test_repeated_ids_accumulate_gradient(token_embedding, conventions, vocab, dim, seed, shape):
    """TOK-GRAD-01 (must): each row's gradient is the sum of the upstream gradients at every occurrence of its id (times the scale), so repeated ids accumulate."""
    module = build(token_embedding, vocab, dim)
    ids = sts.randint(0, vocab, shape, seed)
    upstream = sts.randn((*shape, dim), seed + 1)
    (module(ids) * upstream).sum().backward()
    scattered = oracles.scatter_rows(ids, upstream, vocab)
    grad = module.weight.grad if module.weight.grad is not None else torch.zeros(vocab, dim)
    scale = oracles.token_scale(dim, "sqrt_dim")  # the larger of the two scales bounds the rounding
    assert_close_by_convention(
        grad, lambda conventions: scattered * oracles.token_scale(dim, conventions["token_embedding.scale"]),
        conventions, SCALE, atol=4 * torch.finfo(F32).eps * ids.numel() * 8 * scale,
        what="weight.grad against the scattered upstream gradient")


@given(vocab=st.integers(2, 12), dim=st.integers(2, 6), batch=st.integers(2, 4), seq=sts.seq_lens(max_value=6),
       seed=sts.seeds())
def test_batch_invariance(token_embedding, vocab, dim, batch, seq, seed):
    """TOK-BATCH-01 (must): embedding a batch of sequences equals embedding each sequence on its own: a row's result does not depend on the batch it sits in."""
    module = build(token_embedding, vocab, dim)
    ids = sts.randint(0, vocab, (batch, seq), seed)
    together = module(ids)
    for b in range(batch):
        assert_close(together[b], module(ids[b]).to(F64), atol=0.0, what=f"sequence {b} in the batch versus alone")


def _ids_holding(bad, alone):
    """``bad`` alone (a single id, as in one decoding step), or after a valid id."""
    return torch.tensor([bad]) if alone else torch.tensor([0, bad])


@given(vocab=st.integers(2, 12), dim=st.integers(2, 4), excess=st.integers(0, 1000), alone=st.booleans())
@example(vocab=5, dim=2, excess=0, alone=False)
@example(vocab=5, dim=2, excess=0, alone=True)
def test_out_of_range_id_raises(token_embedding, vocab, dim, excess, alone):
    """TOK-ERR-01 (should): an id >= num_embeddings raises a documented error (IndexError, ValueError or TypeError) whose message names the id. That it is refused at all is TOK-REFUSE-01's (must); this clause is the error discipline that finds the bad id in a batch."""
    module = build(token_embedding, vocab, dim)
    bad = vocab + excess
    assert_raises_naming(lambda: module(_ids_holding(bad, alone)), bad, what=f"id {bad} with {vocab} rows")


@given(vocab=st.integers(2, 12), dim=st.integers(2, 4), bad=st.integers(-1000, -1), alone=st.booleans())
@example(vocab=5, dim=2, bad=-1, alone=False)
@example(vocab=5, dim=2, bad=-1, alone=True)
def test_negative_id_raises(token_embedding, vocab, dim, bad, alone):
    """TOK-ERR-02 (should): a negative id raises a documented error whose message names it (that it is refused, never a Python-style index from the end, is TOK-REFUSE-01's)."""
    module = build(token_embedding, vocab, dim)
    assert_raises_naming(lambda: module(_ids_holding(bad, alone)), bad, what=f"id {bad}")


@given(vocab=st.integers(2, 12), dim=st.integers(2, 4), dtype=st.sampled_from([torch.float32, torch.float64,
                                                                            torch.float16]))
def test_float_ids_raise(token_embedding, vocab, dim, dtype):
    """TOK-ERR-03 (should): floating-point ids raise a documented error naming the floating dtype (that they are refused, never truncated to integers, is TOK-REFUSE-01's)."""
    module = build(token_embedding, vocab, dim)
    assert_raises_naming(lambda: module(torch.zeros(3, dtype=dtype)), ("float", "half", "double"),
                         what=f"ids of dtype {dtype}")


@given(vocab=st.integers(2, 12), dim=st.integers(2, 4), ids=st.lists(st.integers(0, 1), min_size=1, max_size=4))
@example(vocab=5, dim=2, ids=[1, 0])
def test_ids_not_a_tensor(token_embedding, vocab, dim, ids):
    """TOK-ERR-04 (should): ids given as a Python list, not a tensor, either raise a documented error naming their type or are looked up as the tensor torch.tensor(ids) would be, never failing with an unrelated AttributeError. Should: an AttributeError still refuses the list (TOK-REFUSE-01), it only explains nothing."""
    module = build(token_embedding, vocab, dim)
    what = f"ids {ids!r} given as a list"
    exc, out = call_documented(lambda: module(list(ids)), what=what)
    if exc is not None:
        assert names_value(str(exc), "list"), f"{what}: {type(exc).__name__}({str(exc)!r}) does not name the type list"
        return
    assert_close(out, module(torch.tensor(ids)).to(F64), atol=0.0, what=what)


def _bad_ids():
    """(vocab, ids) for every kind of bad ids the should clauses try: an id past the table, a negative id (each alone or
    after a valid id), floating ids, and ids given as a Python list."""
    vocab = st.integers(2, 12)
    alone = st.booleans()
    return st.one_of(
        st.tuples(vocab, st.integers(0, 1000), alone).map(lambda v: (v[0], _ids_holding(v[0] + v[1], v[2]))),
        st.tuples(vocab, st.integers(-1000, -1), alone).map(lambda v: (v[0], _ids_holding(v[1], v[2]))),
        st.tuples(vocab, st.sampled_from([torch.float32, torch.float64, torch.float16])).map(
            lambda v: (v[0], torch.zeros(3, dtype=v[1]))),
        st.tuples(vocab, st.lists(st.integers(0, 1), min_size=1, max_size=4)),
    )


@given(vocab_ids=_bad_ids(), dim=st.integers(2, 4))
@example(vocab_ids=(5, torch.tensor([0, 5])), dim=2)
@example(vocab_ids=(5, torch.tensor([0, -1])), dim=2)
@example(vocab_ids=(5, torch.tensor([0.0, 1.0, 2.0])), dim=2)
@example(vocab_ids=(5, [1, 0]), dim=2)
def test_bad_ids_refused(token_embedding, vocab_ids, dim):
    """TOK-REFUSE-01 (must): an id >= num_embeddings, a negative id and floating ids are refused by some exception, never looked up as a clamped, wrapped or truncated id; ids given as a list are refused or looked up as torch.tensor(ids). Must: a clamped id is a silently wrong embedding, whatever the error would have said."""
    vocab, ids = vocab_ids
    module = build(token_embedding, vocab, dim)
    what = f"ids {ids!r} with {vocab} rows"
    if not isinstance(ids, list):
        assert_refused(lambda: module(ids), what=what)
        return

    def looked_up_as_a_tensor(result):
        expected = module(torch.tensor(ids)).detach().to(F64)
        same = isinstance(result, torch.Tensor) and result.shape == expected.shape and bool(
            (result.detach().to(F64) == expected).all())
        return None if same else "not the lookup of torch.tensor(ids)"

    assert_refused(lambda: module(ids), what=what, handled=looked_up_as_a_tensor)


def _edge_sizes():
    """(vocab, dim, ids shape) with one degenerate size: 0-d ids (one decoding step's single id), empty ids, a
    vocabulary of one row, a width of one."""
    sizes = st.integers(2, 6)
    return st.one_of(
        st.tuples(sizes, sizes, st.just(())),
        st.tuples(sizes, sizes, sts.empty_shapes()),
        st.tuples(st.just(1), sizes, sts.ordinary_shapes()),
        st.tuples(sizes, st.just(1), sts.ordinary_shapes()),
    )


@given(sizes=_edge_sizes(), seed=sts.seeds())
@example(sizes=(3, 4, ()), seed=0)
@example(sizes=(3, 4, (0, 2)), seed=0)
@example(sizes=(3, 4, (2, 0)), seed=0)
@example(sizes=(1, 3, (2, 3)), seed=0)
@example(sizes=(5, 1, (2, 3)), seed=0)
def test_degenerate_sizes(token_embedding, conventions, supports, sizes, seed):
    """TOK-EDGE-01 (must): at the degenerate sizes - 0-d ids, empty ids, a vocabulary of one row, a width of one - m.weight is (num_embeddings, d) and m(ids) is weight[ids] * scale of shape (..., d); with one row, padding_idx=0 makes that row, and its lookup, zero."""
    vocab, dim, shape = sizes
    module = build(token_embedding, vocab, dim)
    assert tuple(module.weight.shape) == (vocab, dim), f"m.weight has shape {tuple(module.weight.shape)}"
    ids = sts.randint(0, vocab, shape, seed)
    what = f"m(ids) for ids of shape {shape} with {vocab} row(s) of width {dim}"
    assert_close_by_convention(module(ids), _lookup_oracle(module, ids), conventions, SCALE,
                               atol=_lookup_atol(module), what=what)
    if vocab == 1 and supports(PADDING):
        padded = build(token_embedding, 1, dim, padding_idx=0)
        out = padded(ids)
        assert bool((padded.weight.detach() == 0).all()) and bool((out == 0).all()), (
            f"with padding_idx=0 the only row is {padded.weight.detach().tolist()} and m(ids) is not zero")
