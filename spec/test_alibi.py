"""ALiBi, attention with linear biases (Press et al., 2021; long tutorial, "ALiBi").

Head h adds -m_h * |i - j| to the score of query i and key j. Under the declared
`alibi.mode` `causal`, only keys at or before the query (j <= i) are specified, and
only up to a constant per query row (softmax ignores it): the BLOOM and MPT forms.
With q_len < k_len the queries are the last q_len positions (incremental decoding).

Tolerance. A bias is one slope (a power of two computed by pow, a few ulps) times an
integer distance below k_len, and a causal row is compared after subtracting its
diagonal entry, one more rounding: 4 float32 roundings of values of size k_len
(``tolerances.atol(F32, operations=4, magnitude=k_len)``).

The ordinary domain is two heads or more and two keys or more (one query, a decoding
step, is ordinary); a single head and a single position are the edge clauses' (ALIBI-EDGE-01
for the slopes, ALIBI-EDGE-02 for the bias).
"""


import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_relative as oracles
from . import tolerances
from .calls import assert_close, assert_raises_naming, assert_refused, build
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
MODE = ("alibi.mode",)


def head_counts(max_value=40):
    """Head counts of the ordinary domain (one head is an edge)."""
    return st.integers(2, max_value)


@st.composite
def bias_shapes(draw, max_len=24):
    """(num_heads, q_len, k_len) with 1 <= q_len <= k_len, k_len >= 2: prefill (q_len = k_len) and decoding
    (q_len < k_len)."""
    num_heads = draw(st.one_of(st.sampled_from([6, 8, 12]), head_counts(16)))
    k_len = draw(st.integers(2, max_len))
    q_len = draw(st.one_of(st.just(k_len), st.just(1), st.integers(1, k_len)))
    return num_heads, q_len, k_len


def _slopes(alibi_slopes, num_heads):
    slopes = build(alibi_slopes, num_heads)
    assert isinstance(slopes, torch.Tensor), f"alibi_slopes returned a {type(slopes).__name__}"
    assert tuple(slopes.shape) == (num_heads,), f"slopes of shape {tuple(slopes.shape)} for {num_heads} heads"
    return slopes


def _bias(alibi_bias, num_heads, q_len, k_len):
    bias = build(alibi_bias, num_heads, q_len, k_len)
    assert isinstance(bias, torch.Tensor), f"alibi_bias returned a {type(bias).__name__}"
    assert tuple(bias.shape) == (num_heads, q_len, k_len), (
        f"bias of shape {tuple(bias.shape)}, expected {(num_heads, q_len, k_len)}"
    )
    return bias.to(F64)


def _visible(q_len, k_len):
    """Keys at or before their query: (q_len, k_len) bool."""
    return oracles.alibi_distance(q_len, k_len) >= 0


def _diagonal(bias, q_len, k_len):
    """Each query row's entry at its own position k_len - q_len + r: (H, q_len, 1)."""
    columns = torch.arange(k_len - q_len, k_len)
    return bias[:, torch.arange(q_len), columns].unsqueeze(-1)


def _atol(k_len):
    return tolerances.atol(F32, operations=4, magnitude=max(k_len, 1))


def _bias_oracle(bias, num_heads, q_len, k_len):
    """conventions -> the bias the declared mode specifies, as a tensor comparable with ``bias`` itself: the
    symmetric form, or, causal, -m (i - j) plus the row constant ``bias`` chose (its diagonal entry) on the visible
    keys and ``bias`` itself on the unspecified ones."""
    symmetric = oracles.alibi_bias(num_heads, q_len, k_len)

    def oracle(conventions):
        if conventions["alibi.mode"] == "symmetric":
            return symmetric
        return torch.where(_visible(q_len, k_len), symmetric + _diagonal(bias, q_len, k_len), bias)
    return oracle


def _compared(bias, mode, q_len, k_len):
    """What the mode specifies: the bias itself (symmetric), or, causal, the bias minus its
    row's diagonal entry on the visible keys (0 elsewhere, in both bias and expectation)."""
    if mode == "symmetric":
        return bias, torch.ones(q_len, k_len, dtype=torch.bool)
    visible = _visible(q_len, k_len)
    return torch.where(visible, bias - _diagonal(bias, q_len, k_len), 0.0), visible


@given(log2_heads=st.integers(1, 6))
@example(log2_heads=3)
def test_power_of_two_slopes(alibi_slopes, log2_heads):
    """ALIBI-SLOPE-01 (must): for n heads, n a power of two, the slopes are the geometric sequence 2^(-8/n), 2^(-16/n), ..., 2^(-8), strictly decreasing."""
    num_heads = 2**log2_heads
    slopes = _slopes(alibi_slopes, num_heads).to(F64)
    expected = torch.pow(2.0, -8.0 / num_heads * torch.arange(1, num_heads + 1, dtype=F64))
    assert_close(slopes, expected, atol=tolerances.atol(F32, operations=2), what=f"slopes for {num_heads} heads")
    rises = (slopes[1:] >= slopes[:-1]).nonzero()
    assert not len(rises), f"slope {int(rises[0]) + 1} is not below slope {int(rises[0])}: {slopes.tolist()}"


@given(num_heads=head_counts().filter(lambda n: n & (n - 1)))
@example(num_heads=6)
@example(num_heads=12)
@example(num_heads=3)
def test_other_head_counts(alibi_slopes, num_heads):
    """ALIBI-SLOPE-02 (must): for n heads, n not a power of two, the slopes follow the ALiBi paper's code: the slopes of the largest power of two p below n, then every other slope of 2p heads (2^(-4/p), 2^(-12/p), ...), n - p of them."""
    slopes = _slopes(alibi_slopes, num_heads)
    assert_close(slopes, oracles.alibi_slopes(num_heads), atol=tolerances.atol(F32, operations=2),
                 what=f"slopes for {num_heads} heads")


@given(num_heads=head_counts(64))
@example(num_heads=2)
def test_slopes_in_unit_interval(alibi_slopes, num_heads):
    """ALIBI-SLOPE-03 (must): every slope lies in (0, 1]: each head penalises distance, none rewards it, none by more than 1 per position."""
    slopes = _slopes(alibi_slopes, num_heads).to(F64)
    bad = ~((slopes > 0) & (slopes <= 1))
    assert not bad.any(), f"slope of head {int(bad.nonzero()[0])} is {slopes[bad][0].item()!r}, outside (0, 1]"


@given(shape=bias_shapes())
@example(shape=(8, 5, 5))
@example(shape=(6, 1, 7))  # one decoding step
@example(shape=(12, 3, 9))
def test_bias_values(alibi_bias, conventions, shape):
    """ALIBI-VAL-01 (must): head h adds -m_h |i - j| to the score of query i and key j, with the paper's slopes m_h and query row r at position k_len - q_len + r; under `causal`, -m_h (i - j) for j <= i up to a constant per query row."""
    num_heads, q_len, k_len = shape
    bias = _bias(alibi_bias, num_heads, q_len, k_len)
    assert_close_by_convention(bias, _bias_oracle(bias, num_heads, q_len, k_len), conventions, MODE, atol=_atol(k_len),
                               what=f"{conventions['alibi.mode']} bias {shape} (causal: up to each row's diagonal)")


@given(shape=bias_shapes())
@example(shape=(4, 3, 8))
def test_own_position_least_penalised(alibi_bias, conventions, shape):
    """ALIBI-DIAG-01 (must): a query's own position carries the largest bias of its row among the keys it may see (the nearest key is penalised least), and that bias is zero under `symmetric`."""
    num_heads, q_len, k_len = shape
    mode = conventions["alibi.mode"]
    bias = _bias(alibi_bias, num_heads, q_len, k_len)
    diagonal = _diagonal(bias, q_len, k_len)  # (H, q_len, 1)
    seen = torch.ones(q_len, k_len, dtype=torch.bool) if mode == "symmetric" else _visible(q_len, k_len)
    above = (bias > diagonal + _atol(k_len)) & seen
    if above.any():
        h, r, j = (int(i) for i in above.nonzero()[0])
        raise AssertionError(f"head {h}, query row {r} (position {k_len - q_len + r}): key {j} has bias "
                             f"{bias[h, r, j].item()!r} above the query's own {diagonal[h, r, 0].item()!r}")
    if mode == "symmetric":
        assert_close(diagonal, torch.zeros_like(diagonal), atol=0.0, what="the bias at each query's own position")


@given(first=bias_shapes(), second=bias_shapes())
@example(first=(4, 4, 4), second=(4, 2, 9))
def test_depends_only_on_offset(alibi_bias, conventions, first, second):
    """ALIBI-REL-01 (must): the bias depends only on the offset i - j, whatever q_len and k_len: equal offsets get equal biases across rows and across calls (causal: up to each row's constant)."""
    num_heads = first[0]
    mode = conventions["alibi.mode"]
    reach = max(first[2], second[2])
    square, _ = _compared(_bias(alibi_bias, num_heads, reach, reach), mode, reach, reach)
    # the bias at offset d, read off the square call: last row for d >= 0, first row for d < 0
    # (H, 2 reach - 1), offsets d = -(reach - 1) .. reach - 1
    by_offset = torch.cat([square[:, 0, 1:].flip(-1), square[:, -1, :].flip(-1)], dim=-1)
    for q_len, k_len in ((reach, reach), first[1:], second[1:]):
        bias, mask = _compared(_bias(alibi_bias, num_heads, q_len, k_len), mode, q_len, k_len)
        offset = oracles.alibi_distance(q_len, k_len).to(torch.long) + reach - 1
        expected = torch.where(mask, by_offset[:, offset], 0.0)  # (H, q_len, k_len)
        assert_close(bias, expected, atol=2 * _atol(reach),
                     what=f"bias ({num_heads}, {q_len}, {k_len}) against the same offsets in "
                          f"({num_heads}, {reach}, {reach})")


@given(num_heads=st.integers(-64, 0))
@example(num_heads=0)
@example(num_heads=-1)
def test_no_heads_rejected(alibi_slopes, num_heads):
    """ALIBI-ERR-01 (should): a head count of zero or less raises a documented error naming it: there is no head to give a slope, and the slope rule (log2 of the head count) is undefined there."""
    assert_raises_naming(lambda: build(alibi_slopes, num_heads), num_heads, what=f"alibi_slopes({num_heads})",
                         called=("head",))


@given(num_heads=st.integers(-64, 0))
@example(num_heads=0)
@example(num_heads=-1)
def test_no_heads_refused(alibi_slopes, num_heads):
    """ALIBI-REFUSE-01 (must): a head count of zero or less is refused by some exception, never answered with an empty slope tensor. Must: an empty tensor of slopes silently broadcasts into a bias for no head."""
    assert_refused(lambda: build(alibi_slopes, num_heads), what=f"alibi_slopes({num_heads})")


def _edge_shapes():
    """(num_heads, q_len, k_len) with one degenerate size: a single head, or a single position (q_len = k_len = 1)."""
    lengths = st.integers(2, 12)
    one_head = st.tuples(lengths, lengths).map(lambda qk: (1, min(qk), max(qk)))
    return st.one_of(one_head, head_counts(16).map(lambda heads: (heads, 1, 1)))


def test_single_head_slope(alibi_slopes):
    """ALIBI-EDGE-01 (must): for a single head, the degenerate head count, the slopes are the one-element tensor [2^-8] (the paper's rule at n = 1)."""
    assert_close(_slopes(alibi_slopes, 1), torch.tensor([2.0**-8], dtype=F64), atol=tolerances.atol(F32, operations=2),
                 what="slopes for 1 head")


@given(shape=_edge_shapes())
@example(shape=(1, 3, 5))  # a single head
@example(shape=(8, 1, 1))  # a single position
def test_degenerate_sizes(alibi_bias, conventions, shape):
    """ALIBI-EDGE-02 (must): at the degenerate sizes - a single head, a single position - the bias has shape (num_heads, q_len, k_len) and the declared mode's values (one head: -2^-8 |i - j|; one position: 0 under `symmetric`)."""
    num_heads, q_len, k_len = shape
    bias = _bias(alibi_bias, num_heads, q_len, k_len)
    assert_close_by_convention(bias, _bias_oracle(bias, num_heads, q_len, k_len), conventions, MODE, atol=_atol(k_len),
                               what=f"{conventions['alibi.mode']} bias {shape}")
