"""Transformer-XL's relative shift (Dai et al., 2019; long tutorial, "Relative Position Embeddings (Transformer-XL)").

Scores computed against a table of relative distances k_len-1 ... 0 are
re-indexed so that out[..., i, j] holds the score for the distance from query i
(the queries are the last q_len positions, after the memory) to key j:
out[..., i, j] = scores[..., i, j + q_len - 1 - i] on the band j <= i + k_len - q_len.
Everything is checked against an explicit-index oracle; entries above the band
are masked in use and left unspecified.

The ordinary domain is scores with one to three non-empty leading sides and two
queries or more; a single query (RSHIFT-Q1-01), an empty batch and scores with no
leading side (RSHIFT-EDGE-01) are edge clauses, so that a shift that fails there is
still judged on its band, precision and gradients.
"""

import re

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles, oracles_extra
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_equal, assert_refused, call_documented, names_value

F32, F64 = torch.float32, torch.float64

# The integer dtype of each float dtype's width, to compare bit patterns.
BITS = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


def _shift(relative_shift, scores):
    out = relative_shift(scores)
    assert isinstance(out, torch.Tensor), f"relative_shift returned a {type(out).__name__}"
    assert tuple(out.shape) == tuple(scores.shape), (
        f"shape {tuple(out.shape)} for scores of shape {tuple(scores.shape)}"
    )
    return out


def _assert_band(out, scores, what):
    """out equals the oracle on the band, value for value (a re-indexing has no rounding)."""
    q_len, k_len = scores.shape[-2:]
    band, _ = oracles_extra.relative_shift_index(q_len, k_len)
    expected = oracles_extra.relative_shift(scores.detach().to(F64))
    # entries above the band are unspecified: compare them to themselves
    assert_equal(torch.where(band, out.detach().to(F64), expected), expected, what=what)


def _scores(lead, q_len, k_len, seed, dtype=F32, contiguous=True):
    if contiguous:
        return sts.randn((*lead, q_len, k_len), seed, dtype)
    return sts.randn((*lead, k_len, q_len), seed, dtype).transpose(-1, -2)  # a transposed view, as einsum may give


@given(lead=sts.ordinary_shapes(max_dims=3, max_side=3), length=st.integers(2, 12), contiguous=st.booleans(),
       seed=sts.seeds())
@example(lead=(1,), length=2, contiguous=True, seed=0)
@example(lead=(2, 3), length=5, contiguous=False, seed=0)
def test_band_without_memory(relative_shift, lead, length, contiguous, seed):
    """RSHIFT-BAND-01 (must): with q_len == k_len, out[..., i, j] = scores[..., i, j + q_len - 1 - i] for every j <= i, for scores of any leading shape and memory layout."""
    scores = _scores(lead, length, length, seed, contiguous=contiguous)
    _assert_band(_shift(relative_shift, scores), scores, what=f"shifted scores of shape {tuple(scores.shape)}")


@given(lead=sts.ordinary_shapes(max_dims=2, max_side=3), q_len=st.integers(2, 8), memory=st.integers(1, 96),
       seed=sts.seeds())
@example(lead=(2,), q_len=3, memory=61, seed=0)  # memory far longer than the segment
@example(lead=(1, 2), q_len=8, memory=1, seed=0)
@example(lead=(1,), q_len=4, memory=4, seed=0)  # memory as long as the segment (mem_len == tgt_len)
def test_band_with_memory(relative_shift, lead, q_len, memory, seed):
    """RSHIFT-MEM-01 (must): with memory (k_len = memory + q_len > q_len, as in segment recurrence and incremental decoding), out[..., i, j] = scores[..., i, j + q_len - 1 - i] for every j <= i + memory."""
    scores = _scores(lead, q_len, q_len + memory, seed)
    _assert_band(_shift(relative_shift, scores), scores,
                 what=f"shifted scores with q_len {q_len}, memory {memory}")


@given(lead=sts.ordinary_shapes(max_dims=2, max_side=3), k_len=st.integers(1, 128), seed=sts.seeds())
@example(lead=(1,), k_len=1, seed=0)
@example(lead=(2, 2), k_len=100, seed=0)
def test_single_query(relative_shift, lead, k_len, seed):
    """RSHIFT-Q1-01 (must): a single query (q_len == 1, one decoding step) is already in place: its whole row is the band and the shift returns it unchanged."""
    scores = _scores(lead, 1, k_len, seed)
    assert_equal(_shift(relative_shift, scores), scores.to(F64), what=f"shift of a single query row of {k_len} keys")


def _with_special_values(shape, seed, dtype):
    """Normal draws with NaN, infinities, signed zeros, subnormals and the extremes mixed in."""
    info = torch.finfo(dtype)
    specials = torch.tensor([float("nan"), float("inf"), float("-inf"), -0.0, info.tiny / 2, info.max, -info.max,
                             info.tiny], dtype=F64).to(dtype)
    values = sts.randn(shape, seed, dtype) * 1000.0  # many bits of mantissa in use
    which = sts.randint(0, 3 * len(specials), shape, seed + 1)
    return torch.where(which < len(specials), specials[which.clamp(max=len(specials) - 1)], values)


@given(dtype=st.sampled_from([F64, F32, torch.float16, torch.bfloat16]),
       lead=sts.ordinary_shapes(max_dims=2, max_side=3), q_len=st.integers(2, 6), memory=st.integers(0, 16),
       seed=sts.seeds())
@example(dtype=torch.float16, lead=(2,), q_len=3, memory=2, seed=0)
@example(dtype=F64, lead=(1,), q_len=4, memory=5, seed=0)
def test_pure_reindexing(relative_shift, dtype, lead, q_len, memory, seed):
    """RSHIFT-EXACT-01 (must): the shift is a pure re-indexing: in every floating dtype the output keeps the input's dtype and every band entry is bit for bit the input entry it comes from, infinities, -0.0 and subnormals included (a NaN stays a NaN)."""
    scores = _with_special_values((*lead, q_len, q_len + memory), seed, dtype)
    out = _shift(relative_shift, scores)
    assert out.dtype == dtype, f"output dtype {out.dtype} for {dtype} scores"
    band, _ = oracles_extra.relative_shift_index(q_len, q_len + memory)
    bits = BITS[dtype]
    expected = oracles_extra.relative_shift(scores.view(bits))  # the oracle moves bit patterns
    actual = out.view(bits)
    # a NaN only has to stay a NaN: torch's own kernels (gather on bfloat16, for one) may change its payload
    both_nan = out.isnan() & oracles_extra.relative_shift(scores).isnan()
    wrong = band & (actual != expected) & ~both_nan
    if wrong.any():
        index = tuple(int(i) for i in wrong.nonzero()[0])
        source = index[-1] + q_len - 1 - index[-2]
        raise AssertionError(
            f"{dtype}: out{list(index)} = {out[index].item()!r} is not bit for bit "
            f"scores{list(index[:-1]) + [source]} = {scores[(*index[:-1], source)].item()!r}; "
            f"{int(wrong.sum())} band entries differ"
        )


@given(lead=sts.ordinary_shapes(max_dims=2, max_side=2), q_len=st.integers(2, 8), memory=st.integers(0, 24),
       dim=sts.even_dims(2, 16), seed=sts.seeds())
@example(lead=(2,), q_len=4, memory=12, dim=8, seed=0)
@example(lead=(1,), q_len=2, memory=5, dim=2, seed=0)
def test_scores_depend_on_distance(relative_shift, lead, q_len, memory, dim, seed):
    """RSHIFT-DIST-01 (must): with R the sinusoidal table for distances k_len-1 ... 0 (Transformer-XL's descending order), the shifted q R^T at (i, j) equals q_i . R(i + k_len - q_len - j), so the score depends on the distance alone and a repeated query gives equal scores along every diagonal."""
    k_len = q_len + memory
    # Transformer-XL's own table: sines then cosines (the split layout), the paper's frequencies
    table = oracles.sinusoidal_table(torch.arange(k_len - 1, -1, -1), dim, layout="split")  # (k_len, dim)
    queries = sts.randn((*lead, q_len, dim), seed, F64)
    out = _shift(relative_shift, queries @ table.T)
    band, _ = oracles_extra.relative_shift_index(q_len, k_len)
    distance = oracles_extra.relative_distance(q_len, k_len).clamp(min=0)
    by_distance = oracles.sinusoidal_table(distance.reshape(-1), dim, layout="split").reshape(q_len, k_len, dim)
    expected = torch.einsum("...id,ijd->...ij", queries, by_distance)
    # a dot product of dim float64 terms, each at most |q_i| |R| in size
    largest = queries.abs().sum(-1).max().item() if queries.numel() else 0.0
    atol = tolerances.atol(F64, operations=dim, magnitude=largest)
    assert_close(torch.where(band, out, expected), expected, atol=atol, what="shifted q R^T against q_i . R(distance)")
    # one query repeated in every row: the band is constant along each diagonal (Toeplitz)
    repeated = (sts.randn((dim,), seed + 1, F64) @ table.T).expand(q_len, k_len).contiguous()
    shifted = _shift(relative_shift, repeated)
    inner = band[:-1, :-1]
    assert_equal(shifted[1:, 1:][inner], shifted[:-1, :-1][inner].to(F64),
                 what="scores of a repeated query along the diagonals of the band")


@given(lead=sts.ordinary_shapes(max_dims=1, max_side=2), q_len=st.integers(2, 4), memory=st.integers(0, 6),
       seed=sts.seeds())
@example(lead=(2,), q_len=3, memory=2, seed=0)
@example(lead=(1,), q_len=2, memory=0, seed=0)
def test_gradient_routes_through_band(relative_shift, lead, q_len, memory, seed):
    """RSHIFT-GRAD-01 (must): gradients flow back through the band to the score they were read from: gradcheck passes in float64 and the gradient of scores[..., i, c] is the upstream gradient at the band entry that reads it, zero where no band entry does."""
    k_len = q_len + memory
    band, _ = oracles_extra.relative_shift_index(q_len, k_len)
    scores = sts.randn((*lead, q_len, k_len), seed, F64).requires_grad_(True)
    try:
        torch.autograd.gradcheck(lambda s: relative_shift(s)[..., band], (scores,), eps=1e-6, atol=1e-7, fast_mode=True)
    except Exception as exc:  # GradcheckError, or a RuntimeError when nothing requires grad
        raise AssertionError(f"gradcheck of the band of the shift: {type(exc).__name__}: {exc}") from None
    upstream = sts.randn((*lead, q_len, k_len), seed + 1, F64) * band  # only the band carries gradient
    (grad,) = torch.autograd.grad(relative_shift(scores), scores, upstream)
    # re-indexing moves gradient values without arithmetic: exact
    assert_equal(grad, oracles_extra.relative_shift_gradient(upstream), what="scores.grad through the band")



@given(k_len=st.integers(1, 40), excess=st.integers(1, 40), seed=sts.seeds())
@example(k_len=7, excess=1, seed=0)  # q_len = k_len + 1
@example(k_len=1, excess=11, seed=0)
def test_more_queries_than_keys_raises(relative_shift, k_len, excess, seed):
    """RSHIFT-ERR-01 (should): q_len > k_len (more queries than keys: no memory layout gives that) raises a documented error whose message names both lengths (that it is refused at all, never re-indexed, is RSHIFT-REFUSE-01's)."""
    q_len = k_len + excess
    scores = sts.randn((2, q_len, k_len), seed)
    what = f"q_len {q_len} > k_len {k_len}"
    exc, result = call_documented(lambda: relative_shift(scores), what=what)
    assert exc is not None, f"{what}: no error; returned shape {tuple(result.shape)}"
    missing = [f"{name} {value}" for name, value in (("q_len", q_len), ("k_len", k_len))
               if not names_value(str(exc), value)]
    assert not missing, f"{type(exc).__name__}({str(exc)!r}) does not name {' and '.join(missing)}"


def _names_shape(message, shape):
    """The message gives the shape, as a tuple or a list, or the number of dimensions ("1-D", "1 dim", "ndim 1")."""
    ndim = len(shape)
    return (str(tuple(shape)) in message or str(list(shape)) in message
            or re.search(rf"(?<![0-9]){ndim}[- ]?d\b|(?<![0-9]){ndim} dim|dim\w*\W+{ndim}(?![0-9])", message,
                         re.IGNORECASE) is not None)


def low_rank_shapes():
    """Shapes of fewer than two dimensions: 0-d, or a single side of 2 to 40."""
    return st.one_of(st.just(()), st.integers(2, 40).map(lambda length: (length,)))


@given(shape=low_rank_shapes(), seed=sts.seeds())
@example(shape=(7,), seed=0)
@example(shape=(), seed=0)
def test_fewer_than_two_dims_raises(relative_shift, shape, seed):
    """RSHIFT-ERR-02 (should): scores with fewer than two dimensions (no query-by-key grid to shift) raise a documented error naming the shape, not a bare unpacking or indexing failure."""
    scores = sts.randn(shape, seed)
    what = f"scores of shape {tuple(scores.shape)}"
    exc, result = call_documented(lambda: relative_shift(scores), what=what)
    assert exc is not None, f"{what}: no error; returned {type(result).__name__}"
    assert _names_shape(str(exc), scores.shape), (
        f"{what}: {type(exc).__name__}({str(exc)!r}) names neither the shape nor the number of dimensions")


def _bad_scores():
    """The contract's bad scores: more queries than keys, or fewer than two dimensions."""
    more_queries = st.tuples(st.integers(1, 40), st.integers(1, 40)).map(lambda k_len_excess: (
        2, sum(k_len_excess), k_len_excess[0]))  # (2, q_len, k_len) with q_len = k_len + excess
    return st.one_of(more_queries, low_rank_shapes())


@given(shape=_bad_scores(), seed=sts.seeds())
@example(shape=(2, 8, 7), seed=0)  # q_len = k_len + 1
@example(shape=(7,), seed=0)
@example(shape=(), seed=0)
def test_bad_scores_refused(relative_shift, shape, seed):
    """RSHIFT-REFUSE-01 (must): scores with q_len > k_len, or with fewer than two dimensions, are refused by some exception, never re-indexed into a result. Must: the re-indexed result is silently wrong, whatever the error would have said."""
    assert_refused(lambda: relative_shift(sts.randn(shape, seed)), what=f"scores of shape {shape}")


def _edge_scores():
    """(lead, q_len, memory) with one degenerate size: an empty batch (a zero-length leading side), or no leading
    side at all (a bare (q_len, k_len) grid)."""
    return st.tuples(st.one_of(sts.empty_shapes(max_dims=3, max_side=3), st.just(())), st.integers(1, 6),
                     st.integers(0, 6))


@given(edge=_edge_scores(), seed=sts.seeds())
@example(edge=((0, 2), 3, 2), seed=0)  # an empty batch
@example(edge=((), 4, 3), seed=0)  # no leading side
def test_degenerate_sizes(relative_shift, edge, seed):
    """RSHIFT-EDGE-01 (must): at the degenerate sizes - an empty batch (a zero-length leading side), scores with no leading side - the shift keeps the shape and out[..., i, j] = scores[..., i, j + q_len - 1 - i] on the band."""
    lead, q_len, memory = edge
    scores = _scores(lead, q_len, q_len + memory, seed)
    _assert_band(_shift(relative_shift, scores), scores, what=f"shifted scores of shape {tuple(scores.shape)}")
