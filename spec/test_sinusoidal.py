"""Sinusoidal positional encoding (Vaswani et al., 2017; long tutorial, "Sinusoidal Positional Encoding").

Values are checked against the spec's float64 oracle in the implementation's
declared layout and frequency schedule; a value failure names the layout and schedule the
output matches instead, if any (spec/diagnose.py).

The ordinary domain is two positions or more and a width above the smallest the schedule
allows (2, or 4 for the endpoint schedule); a single position, the smallest width and zero
positions are the edge clauses' (SIN-EDGE-01, SIN-EMPTY-01, SINMOD-EDGE-01), so that an
implementation that fails there is still judged on its values everywhere else.
"""

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_raises_naming, assert_refused, build
from .capabilities import needs
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
CONVENTIONS = ("sinusoidal.layout", "sinusoidal.frequencies")
BASE = "sinusoidal.base"


def table_dims(min_value=4, max_value=32):
    """Even dims of the ordinary domain (the smallest, 2, is an edge; ``_dim`` lifts them for the endpoint
    schedule)."""
    return sts.even_dims(min_value, max_value)


def _smallest_dim(conventions):
    """The endpoint schedule is only defined from dim 4 (it divides by dim/2 - 1)."""
    return 4 if conventions["sinusoidal.frequencies"] == "endpoint" else 2


def _dim(conventions, dim):
    """A drawn dim, in the ordinary domain of the declared schedule (above its smallest dim)."""
    return max(dim, _smallest_dim(conventions) + 2)


def _oracle(conventions, positions, dim, base=10000.0):
    """The float64 table (a ValueError where the schedule is undefined, the endpoint one below dim 4, which the
    diagnosis by convention skips)."""
    return oracles.sinusoidal_table(positions, dim, base, conventions["sinusoidal.layout"],
                                    conventions["sinusoidal.frequencies"])


def _table_oracle(num_positions, dim, base=10000.0):
    """conventions -> the float64 table of ``num_positions`` rows."""
    return lambda conventions: _oracle(conventions, torch.arange(num_positions), dim, base)


def _table(sinusoidal_encoding, num_positions, dim, **kwargs):
    table = build(sinusoidal_encoding, num_positions, dim, **kwargs)
    assert tuple(table.shape) == (num_positions, dim), f"table shape {tuple(table.shape)}, expected {(num_positions, dim)}"
    assert not table.requires_grad, "the sinusoidal table requires grad: it is fixed, not learned"
    return table


def _atol(table, num_positions):
    dtype = table.dtype if table.dtype in tolerances.EPS else F32
    return tolerances.angle_atol(dtype, max(num_positions - 1, 0))


@given(num_positions=st.integers(2, 64), dim=table_dims())
@example(num_positions=64, dim=4)
def test_values_match_formula(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-VAL-01 (must): PE(pos, 2i) = sin(pos / 10000^(2i/d)) and PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), in the declared layout and frequency schedule."""
    dim = _dim(conventions, dim)
    table = _table(sinusoidal_encoding, num_positions, dim)
    assert_close_by_convention(table, _table_oracle(num_positions, dim), conventions, CONVENTIONS,
                               atol=_atol(table, num_positions), what="table against the float64 formula")


@needs(BASE)
@given(num_positions=st.integers(2, 32), dim=table_dims(), base=sts.bases())
@example(num_positions=32, dim=8, base=100.0)
def test_base_is_honoured(sinusoidal_encoding, conventions, num_positions, dim, base):
    """SIN-BASE-01 (must): the wavelength constant is the base argument (10000 in the paper): a table built with base b follows the formula with b."""
    dim = _dim(conventions, dim)
    table = _table(sinusoidal_encoding, num_positions, dim, base=base)
    assert_close_by_convention(table, _table_oracle(num_positions, dim, base), conventions, CONVENTIONS,
                               atol=_atol(table, num_positions), what=f"table with base {base}")


@given(num_positions=st.integers(2, 16), dim=table_dims())
@example(num_positions=2, dim=4)
def test_row_zero_pattern(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-ROW0-01 (must): position 0 has every sine at 0 and every cosine at 1: (0, 1, 0, 1, ...) when interleaved, (0, ..., 0, 1, ..., 1) when split."""
    dim = _dim(conventions, dim)
    row = _table(sinusoidal_encoding, num_positions, dim)[0]
    assert_close_by_convention(row, lambda conventions: _oracle(conventions, torch.zeros(1), dim)[0], conventions,
                               CONVENTIONS, atol=0.0, what="row 0")


@given(num_positions=st.integers(2, 2048), dim=table_dims())
def test_entries_bounded(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-BOUND-01 (must): every entry lies in [-1, 1], at every position."""
    table = _table(sinusoidal_encoding, num_positions, _dim(conventions, dim))
    assert bool(torch.isfinite(table).all()), "the table holds NaN or inf"
    worst = table.abs().max().item()
    assert worst <= 1.0, f"an entry of magnitude {worst} > 1"


@given(num_positions=st.integers(2, 512), dim=table_dims())
def test_row_norm(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-NORM-01 (must): every row has norm sqrt(d/2), since each (sin, cos) pair has unit norm."""
    dim = _dim(conventions, dim)
    table = _table(sinusoidal_encoding, num_positions, dim)
    norms = table.to(F64).norm(dim=1)
    expected = torch.full((num_positions,), (dim / 2) ** 0.5, dtype=F64)
    assert_close(norms, expected, atol=tolerances.atol(F32, operations=dim, magnitude=dim**0.5), what="row norms")


# Uniqueness bound, checked as a precondition below: for N <= 1024 positions and
# any even d, the float64 rows are at least 5e-5 apart (the closest pair for
# d = 2, an edge width but the worst case, is 710 steps apart, 710 being within 6e-5 of a multiple of 2*pi), i.e.
# hundreds of float32 ulps; past about 10^4 positions the lowest frequency
# starts repeating to within float32 resolution for small d.
UNIQUENESS_MAX_POSITIONS = 1024
UNIQUENESS_MIN_GAP = 5e-5


@given(num_positions=st.integers(2, UNIQUENESS_MAX_POSITIONS), dim=table_dims(max_value=16))
@example(num_positions=UNIQUENESS_MAX_POSITIONS, dim=4)
def test_rows_unique(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-UNIQ-01 (must): every position has its own encoding: the rows of a table of up to 1024 positions are pairwise distinct."""
    dim = _dim(conventions, dim)
    gaps_oracle = torch.cdist(*(2 * [_oracle(conventions, torch.arange(num_positions), dim)]))
    gaps_oracle.fill_diagonal_(float("inf"))
    assert gaps_oracle.min().item() > UNIQUENESS_MIN_GAP, "the stated uniqueness bound does not hold"
    table = _table(sinusoidal_encoding, num_positions, dim).to(F64)
    gaps = torch.cdist(table, table).fill_diagonal_(float("inf"))
    p, q = divmod(int(gaps.argmin()), num_positions)
    assert gaps[p, q].item() > 0.0, f"positions {p} and {q} have the same encoding"


@given(num_positions=st.integers(2, 128), dim=table_dims(), offset=st.integers(1, 64))
@example(num_positions=8, dim=4, offset=1)
def test_offset_is_fixed_rotation(sinusoidal_encoding, conventions, num_positions, dim, offset):
    """SIN-ROT-01 (must): PE(p + k) = M(k) PE(p) for a block-diagonal rotation M(k) that depends on the offset k alone, not on p (the relative-position property)."""
    dim = _dim(conventions, dim)
    raw = _table(sinusoidal_encoding, num_positions + offset, dim)
    table = raw.to(F64)
    rotation = oracles.offset_rotation(offset, dim, layout=conventions["sinusoidal.layout"],
                                       schedule=conventions["sinusoidal.frequencies"])
    rotated = table[:num_positions] @ rotation.T  # row p: M(k) @ PE(p)
    assert_close(table[offset:], rotated, atol=2 * _atol(raw, num_positions + offset) * dim,
                 what=f"PE(p + {offset}) against M({offset}) PE(p)")


@given(num_positions=st.integers(2, 128), dim=table_dims())
def test_dot_product_depends_on_distance(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-DOT-01 (must): PE(p) . PE(q) depends only on |p - q|: it equals sum_i cos(w_i (p - q))."""
    dim = _dim(conventions, dim)
    raw = _table(sinusoidal_encoding, num_positions, dim)
    table = raw.to(F64)
    gram = table @ table.T
    distance = (torch.arange(num_positions)[:, None] - torch.arange(num_positions)[None, :]).abs()
    assert_close(gram, gram[0][distance], atol=2 * _atol(raw, num_positions) * dim,
                 what="PE(p).PE(q) against PE(0).PE(|p-q|)")
    freqs = oracles.frequencies(dim, schedule=conventions["sinusoidal.frequencies"])
    expected = torch.cos(distance[..., None].to(F64) * freqs).sum(-1)
    assert_close(gram, expected, atol=2 * _atol(raw, num_positions) * dim, what="PE(p).PE(q) against sum cos")


@given(short=st.integers(2, 64), extra=st.integers(1, 192), dim=table_dims())
def test_prefix_consistent(sinusoidal_encoding, conventions, short, extra, dim):
    """SIN-PREFIX-01 (must): the table for N positions is the first N rows of the table for any M > N: a position's encoding does not depend on how many positions were asked for."""
    dim = _dim(conventions, dim)
    small = _table(sinusoidal_encoding, short, dim)
    large = _table(sinusoidal_encoding, short + extra, dim)
    assert_close(small, large[:short].to(F64), atol=2 * _atol(large, short), what=f"table({short}) against table({short + extra})[:{short}]")


@given(trained=st.integers(1, 512), factor=st.integers(2, 8), dim=table_dims())
@example(trained=512, factor=4, dim=16)
def test_extrapolates(sinusoidal_encoding, conventions, trained, factor, dim):
    """SIN-EXTRA-01 (must): the formula extends to any length: a table several times longer than a training length still matches the formula at every new position."""
    dim = _dim(conventions, dim)
    total = trained * factor
    table = _table(sinusoidal_encoding, total, dim)
    assert_close_by_convention(table[trained:],
                               lambda conventions: _oracle(conventions, torch.arange(trained, total), dim),
                               conventions, CONVENTIONS, atol=_atol(table, total),
                               what=f"positions {trained}..{total - 1}")


@given(dim=table_dims(max_value=16), log2_positions=st.integers(14, 16))
@example(dim=16, log2_positions=16)
def test_precision_at_large_positions(sinusoidal_encoding, conventions, dim, log2_positions):
    """SIN-PREC-01 (must): at positions up to 2^16 a float32 table stays within float32 angle rounding of the float64 formula (error <= 4 eps (p w + 2)), as it does when the angles are formed in float32 or better."""
    dim = _dim(conventions, dim)
    num_positions = 2**log2_positions
    table = _table(sinusoidal_encoding, num_positions, dim)
    expected = _oracle(conventions, torch.arange(num_positions), dim)
    dtype = table.dtype if table.dtype in tolerances.EPS else F32
    # per-column bound: the angle of column pair i at position p is p * w_i
    freqs = oracles.frequencies(dim, schedule=conventions["sinusoidal.frequencies"])
    sin_cols, cos_cols = oracles.pair_columns(dim, conventions["sinusoidal.layout"])
    column_angle = torch.empty(dim, dtype=F64)
    column_angle[sin_cols] = freqs * (num_positions - 1)
    column_angle[cos_cols] = freqs * (num_positions - 1)
    bound = tolerances.SAFETY * tolerances.eps(dtype) * (column_angle + 2)
    error = (table.to(F64) - expected).abs()
    bad = error > bound
    if bad.any():
        p, c = (int(i) for i in bad.nonzero()[0])
        raise AssertionError(
            f"position {p}, column {c}: {table[p, c].item()!r} against the formula's {expected[p, c].item()!r} "
            f"(error {error[p, c].item():.3g} > bound {bound[c].item():.3g}); {int(bad.sum())} entries off"
        )


def _bad_tables():
    """(num_positions, dim) of the contract's bad input: an odd dim, or a negative number of positions."""
    return st.one_of(st.tuples(st.integers(1, 16), sts.odd_dims()),
                     st.tuples(st.integers(-64, -1), sts.even_dims(2, 16)))


@given(bad=_bad_tables())
@example(bad=(4, 5))
@example(bad=(-1, 4))
def test_bad_table_refused(sinusoidal_encoding, bad):
    """SIN-REFUSE-01 (must): an odd d and a negative number of positions are refused by some exception, never turned into a table (a zero-padded column, an empty or a wrapped table). Must: such a table is silently wrong, whatever the error would have said."""
    num_positions, dim = bad
    assert_refused(lambda: sinusoidal_encoding(num_positions, dim), what=f"sinusoidal_encoding({num_positions}, {dim})")


@given(dim=sts.odd_dims(), num_positions=st.integers(1, 16))
@example(dim=513, num_positions=4)
def test_odd_dim_rejected(sinusoidal_encoding, dim, num_positions):
    """SIN-ODD-01 (should): an odd d is rejected with a documented error naming it, since sines and cosines come in pairs."""
    assert_raises_naming(lambda: sinusoidal_encoding(num_positions, dim), dim, what=f"odd dim {dim}", called=("dim",))


@given(num_positions=st.integers(-64, -1), dim=table_dims(max_value=16))
@example(num_positions=-1, dim=4)
def test_negative_positions_rejected(sinusoidal_encoding, conventions, num_positions, dim):
    """SIN-NEG-01 (should): a negative number of positions is rejected with a documented error naming it (that it is refused at all, not turned into an empty or a wrapped table, is SIN-REFUSE-01's)."""
    dim = _dim(conventions, dim)
    assert_raises_naming(lambda: sinusoidal_encoding(num_positions, dim), num_positions,
                         what=f"num_positions = {num_positions}")


@given(dim=table_dims(2, 16))
@example(dim=4)
def test_zero_positions_give_empty_table(sinusoidal_encoding, conventions, dim):
    """SIN-EMPTY-01 (must): zero positions give the empty (0, d) table, the first zero rows of every table: a count of zero is not an error."""
    _table(sinusoidal_encoding, 0, max(dim, _smallest_dim(conventions)))


def _edge_tables():
    """(num_positions, extra) with one degenerate size: a single position (d = the smallest + 2 * extra), or the
    smallest d the schedule allows (extra = 0) at any number of positions."""
    return st.one_of(st.tuples(st.just(1), st.integers(0, 7)), st.tuples(st.integers(1, 64), st.just(0)))


@given(edge=_edge_tables())
@example(edge=(1, 1))  # a single position
@example(edge=(16, 0))  # the smallest d
def test_degenerate_sizes(sinusoidal_encoding, conventions, edge):
    """SIN-EDGE-01 (must): at the degenerate sizes - a single position, the smallest d the schedule allows (2; 4 for the endpoint schedule) - the table has shape (num_positions, d) and follows the formula in the declared layout and schedule."""
    num_positions, extra = edge
    dim = _smallest_dim(conventions) + 2 * extra
    table = _table(sinusoidal_encoding, num_positions, dim)
    assert_close_by_convention(table, _table_oracle(num_positions, dim), conventions, CONVENTIONS,
                               atol=_atol(table, num_positions),
                               what=f"table of {num_positions} position(s), d = {dim}")


# The module form: m(x) = x + table[:S], with the table a buffer.


def _module(sinusoidal_module, dim, max_len, **kwargs):
    return build(sinusoidal_module, dim, max_len, **kwargs)


def _added_oracle(x, dim, base=10000.0):
    """conventions -> x + PE[:S] in float64, for x of shape (B, S, dim)."""
    return lambda conventions: x.to(F64) + _oracle(conventions, torch.arange(x.shape[1]), dim, base)


def _module_atol(x, seq):
    return _atol(x, seq) + tolerances.atol(F32, magnitude=8.0)


@given(batch=sts.batch_sizes(), seq=sts.seq_lens(2, 32), extra=st.integers(0, 16), dim=table_dims(max_value=16),
       seed=sts.seeds())
@example(batch=2, seq=32, extra=0, dim=4, seed=0)  # S == max_len
def test_module_adds_table(sinusoidal_module, conventions, batch, seq, extra, dim, seed):
    """SINMOD-ADD-01 (must): the module returns x + PE[:S], the same position rows added to every sequence of the batch."""
    dim = _dim(conventions, dim)
    module = _module(sinusoidal_module, dim, seq + extra)
    x = sts.randn((batch, seq, dim), seed)
    assert_close_by_convention(module(x), _added_oracle(x, dim), conventions, CONVENTIONS,
                               atol=_module_atol(x, seq), what="m(x)")


@needs(BASE)
@given(seq=sts.seq_lens(2, 32), extra=st.integers(0, 8), dim=table_dims(max_value=16), base=sts.bases(),
       seed=sts.seeds())
@example(seq=32, extra=0, dim=8, base=100.0, seed=0)
def test_module_base_is_honoured(sinusoidal_module, conventions, seq, extra, dim, base, seed):
    """SINMOD-BASE-01 (must): the module's base argument reaches its table: a module built with base b adds the formula's table for b."""
    dim = _dim(conventions, dim)
    module = _module(sinusoidal_module, dim, seq + extra, base=base)
    x = sts.randn((1, seq, dim), seed)
    assert_close_by_convention(module(x), _added_oracle(x, dim, base), conventions, CONVENTIONS,
                               atol=_module_atol(x, seq), what=f"m(x) with base {base}")


@given(dim=table_dims(max_value=16), max_len=st.integers(2, 32))
def test_module_table_is_buffer(sinusoidal_module, conventions, dim, max_len):
    """SINMOD-BUF-01 (must): the table is a registered buffer (it moves and is saved with the module) and not a parameter: the module has nothing to train."""
    dim = _dim(conventions, dim)
    module = _module(sinusoidal_module, dim, max_len)
    trainable = [name for name, p in module.named_parameters() if p.requires_grad]
    assert not trainable, f"trainable parameters {trainable} in a fixed encoding"
    buffers = [b for b in module.buffers() if b.numel() >= max_len * dim]
    assert buffers, "no buffer holds the (max_len, dim) table"


@given(dim=table_dims(max_value=16), seq=sts.seq_lens(2, 64), seed=sts.seeds())
@example(dim=4, seq=64, seed=0)
def test_module_follows_double(sinusoidal_module, conventions, dim, seq, seed):
    """SINMOD-MOVE-01 (must): m.double() casts the table buffer to float64 with the module, and m(x) for float64 x is float64 and still matches the formula (to the precision the table was built in)."""
    dim = _dim(conventions, dim)
    module = _module(sinusoidal_module, dim, seq).double()
    stale = [name for name, b in module.named_buffers() if b.is_floating_point() and b.dtype != F64]
    assert not stale, f"buffers {stale} did not follow .double()"
    x = sts.randn((2, seq, dim), seed, F64)
    out = module(x)
    assert out.dtype == F64, f"output dtype {out.dtype} after .double()"
    # the table may have been computed in float32 before the cast, so float32 accuracy is what is owed
    assert_close_by_convention(out, _added_oracle(x, dim), conventions, CONVENTIONS,
                               atol=tolerances.angle_atol(F32, seq) + tolerances.atol(F64, magnitude=8.0),
                               what="m.double()(x)")


@given(dim=table_dims(max_value=16), max_len=st.integers(2, 16), over=st.integers(1, 16), seed=sts.seeds())
@example(dim=4, max_len=8, over=1, seed=0)  # S == max_len + 1
def test_module_beyond_max_len(sinusoidal_module, conventions, dim, max_len, over, seed):
    """SINMOD-BEYOND-01 (must): a sequence longer than max_len is handled as declared: under `raise` it is refused by some exception, never truncated or wrapped; under `extend` m(x) has the formula's values at every position."""
    dim = _dim(conventions, dim)
    module = _module(sinusoidal_module, dim, max_len)
    seq = max_len + over
    x = sts.randn((1, seq, dim), seed)
    what = f"m(x) with S = {seq} > max_len = {max_len}"
    if conventions["sinusoidal.beyond_max_len"] == "raise":
        assert_refused(lambda: module(x), what=what)
    else:
        assert_close_by_convention(module(x), _added_oracle(x, dim), conventions, CONVENTIONS,
                                   atol=_module_atol(x, seq), what=what)


@given(dim=table_dims(max_value=16), max_len=st.integers(2, 16), over=st.integers(1, 16), seed=sts.seeds())
@example(dim=4, max_len=8, over=1, seed=0)  # S == max_len + 1
def test_module_length_error(sinusoidal_module, conventions, dim, max_len, over, seed):
    """SINMOD-LEN-01 (should): under `raise`, a sequence longer than max_len raises a documented error naming its length (that it is refused at all is SINMOD-BEYOND-01's), not a broadcasting error from inside torch."""
    if conventions["sinusoidal.beyond_max_len"] != "raise":
        pytest.skip("SINMOD-LEN-01 applies under sinusoidal.beyond_max_len = raise")
    module = _module(sinusoidal_module, _dim(conventions, dim), max_len)
    seq = max_len + over
    x = sts.randn((1, seq, _dim(conventions, dim)), seed)
    assert_raises_naming(lambda: module(x), seq, what=f"S = {seq} > max_len = {max_len}")


@given(dim=sts.odd_dims(), max_len=st.integers(1, 16))
def test_module_odd_dim_rejected(sinusoidal_module, dim, max_len):
    """SINMOD-ODD-01 (should): constructing the module with an odd d raises a documented error naming it."""
    assert_raises_naming(lambda: sinusoidal_module(dim, max_len), dim, what=f"odd dim {dim}", called=("dim",))


@given(dim=sts.odd_dims(), max_len=st.integers(1, 16), seed=sts.seeds())
@example(dim=5, max_len=4, seed=0)
def test_module_odd_dim_refused(sinusoidal_module, dim, max_len, seed):
    """SINMOD-REFUSE-01 (must): a module with an odd d is refused by some exception, when built or at the latest when called, never run with a zero-padded or truncated table."""
    x = sts.randn((1, max_len, dim), seed)
    assert_refused(lambda: sinusoidal_module(dim, max_len)(x), what=f"the module with odd dim {dim} applied to x")


def _edge_inputs():
    """(batch, seq, max_len, extra) with one degenerate size: an empty batch, an empty sequence, a single position
    (in a table of one row), or the smallest d (d = the smallest + 2 * extra)."""
    sides = st.integers(2, 6)
    return st.one_of(
        st.tuples(st.just(0), sides, sides.map(lambda m: m + 6), st.integers(1, 4)),
        st.tuples(sts.batch_sizes(), st.just(0), sides, st.integers(1, 4)),
        st.tuples(sts.batch_sizes(), st.just(1), st.just(1), st.integers(1, 4)),
        st.tuples(sts.batch_sizes(), sides, sides.map(lambda m: m + 6), st.just(0)),
    )


@given(edge=_edge_inputs(), seed=sts.seeds())
@example(edge=(0, 3, 8, 1), seed=0)  # an empty batch
@example(edge=(2, 0, 4, 1), seed=0)  # an empty sequence
@example(edge=(2, 1, 1, 1), seed=0)  # a single position, max_len 1
@example(edge=(2, 5, 8, 0), seed=0)  # the smallest d
def test_module_degenerate_sizes(sinusoidal_module, conventions, edge, seed):
    """SINMOD-EDGE-01 (must): at the degenerate sizes - an empty batch, an empty sequence, a single position with max_len 1, the smallest d the schedule allows - m(x) is x + PE[:S], of the shape of x."""
    batch, seq, max_len, extra = edge
    dim = _smallest_dim(conventions) + 2 * extra
    module = _module(sinusoidal_module, dim, max_len)
    x = sts.randn((batch, seq, dim), seed)
    assert_close_by_convention(module(x), _added_oracle(x, dim), conventions, CONVENTIONS,
                               atol=_module_atol(x, max(seq, 1)),
                               what=f"m(x) for x of shape {tuple(x.shape)}, max_len {max_len}")
