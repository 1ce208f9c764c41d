"""Resampling a learned positional table to a new length (long tutorial, interpolate_position_embeddings).

The contract's meaning is the tutorial's: linear interpolation between linspace(0, 1)
grids on both sides, i.e. align_corners=True: output row k samples the table at
coordinate k * (L - 1) / (new_len - 1), so the first and last rows map onto the first
and last rows. An align_corners=False resampler (half-pixel centres, as
F.interpolate's default) is a different map and does not conform. Values are
specified for new_len >= 2 (a single row has no grid spacing, so which row it
samples is left free: it only has to lie within the table's range); new_len <= 0 is
bad input (INTERP-REFUSE-01, INTERP-ERR-01).

The ordinary domain is a table of two rows or more and two features or more,
resampled to two rows or more; a single-row table, a single feature and new_len = 1
are INTERP-EDGE-01's.

Tolerance. Each output is (1 - t) a + t b, with t the fractional part of the
coordinate c = k (L - 1) / (new_len - 1). Formed in float32, c carries an absolute
error of up to about eps (L - 1) (it is a number up to L - 1), which t inherits and
multiplies by |b - a|, at most the largest step S between neighbouring rows; the
combination adds a few roundings of values of size M = max |table|:
4 eps32 ((L - 1) S + 4 M) (``tolerances.atol``). A bound of a few roundings of M
alone is too tight: F.interpolate itself misses it by 10% at L = 41, new_len = 71.
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_relative as oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_raises_naming, assert_refused

F32, F64 = torch.float32, torch.float64


def lengths(min_value=2, max_value=48):
    """Table lengths and new lengths of the ordinary domain (one row is an edge)."""
    return st.integers(min_value, max_value)


def widths():
    """Features of the ordinary domain (one feature is an edge)."""
    return st.integers(2, 8)


def _resample(interpolate_positions, table, new_len):
    out = interpolate_positions(table.clone(), new_len)
    assert isinstance(out, torch.Tensor), f"interpolate_positions returned a {type(out).__name__}"
    assert tuple(out.shape) == (new_len, table.shape[1]), (
        f"shape {tuple(out.shape)} for a ({table.shape[0]}, {table.shape[1]}) table resampled to {new_len}"
    )
    return out


def _atol(table):
    """The coordinate's absolute error (up to eps (L - 1)) times the largest step between neighbouring
    rows, plus 4 roundings of the combination of values of size M = max |table|."""
    t = table.to(F64)
    step = (t[1:] - t[:-1]).abs().max().item() if len(t) > 1 else 0.0
    return (tolerances.atol(F32, operations=max(len(t) - 1, 1), magnitude=step)
            + tolerances.atol(F32, operations=4, magnitude=max(t.abs().max().item(), 1.0)))


@given(length=lengths(), new_len=lengths(2, 96), dim=widths(), seed=sts.seeds())
@example(length=4, new_len=7, dim=2, seed=0)  # upsampling
@example(length=9, new_len=4, dim=2, seed=0)  # downsampling
def test_values_linear_align_corners(interpolate_positions, length, new_len, dim, seed):
    """INTERP-VAL-01 (must): output row k is the linear interpolation of the table at coordinate k (L - 1) / (new_len - 1), the two grids being linspace(0, 1) (align_corners=True)."""
    table = sts.randn((length, dim), seed)
    assert_close(_resample(interpolate_positions, table, new_len), oracles.interpolate(table, new_len),
                 atol=_atol(table), what=f"({length}, {dim}) table resampled to {new_len}")


@given(length=lengths(), dim=widths(), seed=sts.seeds())
@example(length=2, dim=2, seed=0)
def test_same_length_is_identity(interpolate_positions, length, dim, seed):
    """INTERP-ID-01 (must): resampling to the table's own length returns the table."""
    table = sts.randn((length, dim), seed)
    assert_close(_resample(interpolate_positions, table, length), table.to(F64), atol=_atol(table),
                 what=f"({length}, {dim}) table resampled to {length}")


@given(length=lengths(), new_len=lengths(2, 96), dim=widths(), seed=sts.seeds())
@example(length=10, new_len=3, dim=2, seed=0)
@example(length=3, new_len=10, dim=2, seed=0)
def test_endpoints_preserved(interpolate_positions, length, new_len, dim, seed):
    """INTERP-END-01 (must): the first and last rows of the result are the first and last rows of the table: position 0 and the last position keep their embeddings."""
    table = sts.randn((length, dim), seed)
    out = _resample(interpolate_positions, table, new_len)
    ends = torch.stack([out[0], out[-1]])
    assert_close(ends, torch.stack([table[0], table[-1]]).to(F64), atol=_atol(table),
                 what=f"first and last rows, ({length}, {dim}) resampled to {new_len}")


@given(length=lengths(), new_len=lengths(2, 96), dim=widths(), seed=sts.seeds())
@example(length=4, new_len=13, dim=2, seed=0)
def test_within_input_range(interpolate_positions, length, new_len, dim, seed):
    """INTERP-RANGE-01 (must): every output lies within the per-feature range of the input, as a linear interpolation (a convex combination of neighbouring rows) must: no overshoot."""
    table = sts.randn((length, dim), seed)
    _assert_within_range(_resample(interpolate_positions, table, new_len), table,
                         what=f"({length}, {dim}) table resampled to {new_len}")


def _assert_within_range(out, table, *, what):
    out = out.to(F64)
    atol = _atol(table)
    low, high = table.to(F64).min(0).values - atol, table.to(F64).max(0).values + atol
    bad = ~((out >= low) & (out <= high))
    if bad.any():
        k, c = (int(i) for i in bad.nonzero()[0])
        raise AssertionError(f"{what}: row {k}, feature {c}: {out[k, c].item()!r} outside the input's range "
                             f"[{low[c].item() + atol!r}, {high[c].item() - atol!r}] ({int(bad.sum())} entries)")


@given(length=lengths(), new_len=lengths(2, 96), dim=widths(), seed=sts.seeds())
@example(length=5, new_len=9, dim=2, seed=0)
@example(length=8, new_len=3, dim=2, seed=0)
def test_reproduces_a_line(interpolate_positions, length, new_len, dim, seed):
    """INTERP-LINE-01 (must): a table that is linear in position, row p = a + p b, is resampled onto the same line: output row k is a + k (L - 1) / (new_len - 1) b."""
    a, b = sts.randn((dim,), seed), sts.randn((dim,), seed + 1)
    table = a + torch.arange(length, dtype=F32)[:, None] * b  # (L, dim)
    coordinate = torch.arange(new_len, dtype=F64)[:, None] * (length - 1) / (new_len - 1)
    expected = a.to(F64) + coordinate * b.to(F64)
    assert_close(_resample(interpolate_positions, table, new_len), expected, atol=_atol(table),
                 what=f"a line over {length} positions resampled to {new_len}")


@given(new_len=st.integers(-64, 0), length=lengths(), dim=st.integers(2, 4), seed=sts.seeds())
@example(new_len=0, length=4, dim=2, seed=0)
@example(new_len=-1, length=4, dim=2, seed=0)
def test_nonpositive_length_rejected(interpolate_positions, new_len, length, dim, seed):
    """INTERP-ERR-01 (should): resampling to a length of zero or less raises a documented error naming that length, not a backend failure (that it is refused at all is INTERP-REFUSE-01's)."""
    table = sts.randn((length, dim), seed)
    assert_raises_naming(lambda: interpolate_positions(table, new_len), new_len,
                         what=f"a ({length}, {dim}) table resampled to {new_len}")


@given(new_len=st.integers(-64, 0), length=lengths(), dim=st.integers(2, 4), seed=sts.seeds())
@example(new_len=0, length=4, dim=2, seed=0)
@example(new_len=-1, length=4, dim=2, seed=0)
def test_nonpositive_length_refused(interpolate_positions, new_len, length, dim, seed):
    """INTERP-REFUSE-01 (must): resampling to a length of zero or less is refused by some exception, never answered with an empty table. Must: an empty table silently drops every position."""
    table = sts.randn((length, dim), seed)
    assert_refused(lambda: interpolate_positions(table, new_len),
                   what=f"a ({length}, {dim}) table resampled to {new_len}")


def _edge_resamplings():
    """(length, new_len, dim) with one degenerate size: a single-row table, new_len = 1, a single feature."""
    return st.one_of(st.tuples(st.just(1), lengths(1, 24), widths()), st.tuples(lengths(1), st.just(1), widths()),
                     st.tuples(lengths(), lengths(2, 24), st.just(1)))


@given(edge=_edge_resamplings(), seed=sts.seeds())
@example(edge=(1, 5, 2), seed=0)  # a single row, upsampled
@example(edge=(6, 1, 3), seed=0)  # new_len 1
@example(edge=(4, 7, 1), seed=0)  # a single feature
def test_degenerate_sizes(interpolate_positions, edge, seed):
    """INTERP-EDGE-01 (must): at the degenerate sizes - a single-row table, new_len = 1, a single feature - the result has shape (new_len, dim): a single row is repeated new_len times, new_len = 1 gives one row within the table's range, and a single feature is resampled as any other (the align_corners=True interpolation)."""
    length, new_len, dim = edge
    table = sts.randn((length, dim), seed)
    out = _resample(interpolate_positions, table, new_len)
    what = f"({length}, {dim}) table resampled to {new_len}"
    if new_len == 1:
        _assert_within_range(out, table, what=what)
    else:
        assert_close(out, oracles.interpolate(table, new_len), atol=_atol(table), what=what)
