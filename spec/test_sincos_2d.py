"""Fixed 2-D sincos positional encoding for a grid of patches (ViT, MAE; long tutorial, "2D Positional Encodings").

Half of the dim features are the 1-D sinusoidal encoding (of dim/2 features, in the
declared `sinusoidal.layout` and `sinusoidal.frequencies`) of the cell's row, half
that of its column; `sincos_2d.order` says which half comes first (`hw`: the row).
Cells are listed in row-major order: cell (i, j) is row i * width + j. `sincos_2d.grid`
says where a cell sits: at (i, j) (`index`), or at (i, j * height / width) (`normalised`:
both axes span the rows' extent, as diffusers' PatchEmbed grid for another aspect ratio).

Tolerance: as for the 1-D table, sin and cos of angles up to max(height, width) - 1
formed in float32 (``tolerances.angle_atol``).

The ordinary domain is a grid of two rows and two columns or more and a dim above the
smallest (4, or 8 for the endpoint schedule); a single row, a single column (a 1x1 grid
among them) and the smallest dim are SC2D-EDGE-01's.
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_relative as oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_raises_naming, assert_refused, build
from .capabilities import needs
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
CONVENTIONS = ("sincos_2d.order", "sinusoidal.layout", "sinusoidal.frequencies", "sincos_2d.grid")


def grid_sides(max_value=12):
    """Grid sides of the ordinary domain (a side of one is an edge)."""
    return st.integers(2, max_value)


def dims(max_value=32):
    """Multiples of 4 (two halves of even size), above the smallest (``_dim`` lifts them for the endpoint
    schedule)."""
    return st.integers(2, max_value // 4).map(lambda k: 4 * k)


def _smallest_dim(conventions):
    """The endpoint schedule needs each half to have at least 4 features (it divides by dim/4 - 1)."""
    return 8 if conventions["sinusoidal.frequencies"] == "endpoint" else 4


def _dim(conventions, dim):
    """A drawn dim, in the ordinary domain of the declared schedule (above its smallest dim)."""
    return max(dim, _smallest_dim(conventions) + 4)


def _oracle(conventions, height, width, dim, base=10000.0):
    """The float64 table; empty where the schedule is undefined (the endpoint one below dim 8), which the diagnosis
    by convention then skips."""
    if dim < _smallest_dim(conventions):
        return torch.empty(0, dtype=F64)
    return oracles.sincos_2d(height, width, dim, base, conventions["sincos_2d.order"],
                             conventions["sinusoidal.layout"], conventions["sinusoidal.frequencies"],
                             conventions["sincos_2d.grid"])


def _assert_formula(table, conventions, height, width, dim, base=10000.0):
    """The table against the float64 formula; a failure names the conventions it matches instead, if any."""
    assert_close_by_convention(table, lambda conventions: _oracle(conventions, height, width, dim, base), conventions,
                               CONVENTIONS, atol=_atol(height, width),
                               what=f"{height}x{width} grid, dim {dim}, base {base}, order "
                                    f"{conventions['sincos_2d.order']}")


def _table(sincos_2d, height, width, dim, **kwargs):
    table = build(sincos_2d, height, width, dim, **kwargs)
    assert isinstance(table, torch.Tensor), f"sincos_2d returned a {type(table).__name__}"
    assert tuple(table.shape) == (height * width, dim), (
        f"shape {tuple(table.shape)}, expected (height * width, dim) = {(height * width, dim)}"
    )
    return table


def _atol(height, width):
    return tolerances.angle_atol(F32, max(height, width) - 1)


def _halves(table, conventions, height, width):
    """(row half, column half), each (height, width, dim/2), per the declared order."""
    dim = table.shape[1]
    grid = table.to(F64).reshape(height, width, dim)
    first, second = grid[..., : dim // 2], grid[..., dim // 2:]
    return (first, second) if conventions["sincos_2d.order"] == "hw" else (second, first)


@given(height=grid_sides(), width=grid_sides(), dim=dims())
@example(height=2, width=3, dim=8)
@example(height=5, width=2, dim=16)
def test_values_match_formula(sincos_2d, conventions, height, width, dim):
    """SC2D-VAL-01 (must): cell (i, j), at row i * width + j, is the 1-D sinusoidal encoding (dim/2 features, declared layout and frequencies) of its row i beside that of its column j (at j * height / width on the normalised grid), in the declared order."""
    dim = _dim(conventions, dim)
    _assert_formula(_table(sincos_2d, height, width, dim), conventions, height, width, dim)


@needs("sincos_2d.base")
@given(height=grid_sides(), width=grid_sides(), dim=dims(), base=sts.bases())
@example(height=5, width=3, dim=16, base=100.0)
def test_base_is_honoured(sincos_2d, conventions, height, width, dim, base):
    """SC2D-BASE-01 (must): the wavelength constant is the base argument: a grid built with base b has the 1-D encodings for b in both halves."""
    dim = _dim(conventions, dim)
    _assert_formula(_table(sincos_2d, height, width, dim, base=base), conventions, height, width, dim, base)


@given(height=grid_sides(), width=grid_sides(), dim=dims())
@example(height=3, width=4, dim=8)
def test_rows_and_columns_share_halves(sincos_2d, conventions, height, width, dim):
    """SC2D-SHARE-01 (must): the cells of one grid row share their row half, and the cells of one grid column share their column half."""
    dim = _dim(conventions, dim)
    row_half, col_half = _halves(_table(sincos_2d, height, width, dim), conventions, height, width)
    atol = tolerances.atol(F32, operations=2)
    assert_close(row_half, row_half[:, :1].expand_as(row_half), atol=atol,
                 what="row half of cell (i, j) against that of cell (i, 0)")
    assert_close(col_half, col_half[:1].expand_as(col_half), atol=atol,
                 what="column half of cell (i, j) against that of cell (0, j)")


# Uniqueness: for sides up to 12, the float64 encodings of two cells are at least
# 0.28 apart: the highest frequency (w = 1, present in every schedule) moves by
# 2 |sin(d/2)| >= 2 |sin 3| = 0.28 for a row or column offset 1 <= d <= 11 (the
# worst is d = 6). That is 10^6 float32 ulps: a float32 table can only collapse two
# cells by a bug. Checked below as a precondition. On the normalised grid the columns sit at
# j * height / width, and an offset can come close to a multiple of 2 pi: 4 * 11 / 7 = 6.2857 (grid
# 11 x 7) is 0.0013 from it, which leaves 0.0025 at dim 4, still 10^4 float32 ulps (the smallest
# over every grid and dim drawn, computed from the oracle).
UNIQUENESS_MIN_GAP = {"index": 0.28, "normalised": 0.0025}


@given(height=grid_sides(), width=grid_sides(), dim=dims(16))
@example(height=12, width=12, dim=8)
def test_cells_distinct(sincos_2d, conventions, height, width, dim):
    """SC2D-UNIQ-01 (must): every cell of the grid has its own encoding: the height * width rows are pairwise distinct."""
    dim = _dim(conventions, dim)
    expected = _oracle(conventions, height, width, dim)
    gaps = torch.cdist(expected, expected).fill_diagonal_(float("inf"))
    bound = UNIQUENESS_MIN_GAP[conventions["sincos_2d.grid"]]
    assert gaps.min().item() > bound, "the stated uniqueness bound does not hold"
    table = _table(sincos_2d, height, width, dim).to(F64)
    gaps = torch.cdist(table, table).fill_diagonal_(float("inf"))
    p, q = divmod(int(gaps.argmin()), height * width)
    assert gaps[p, q].item() > 0.0, (
        f"cells {divmod(p, width)} and {divmod(q, width)} (rows {p} and {q}) have the same encoding "
        f"(distance {gaps[p, q].item():.3g})"
    )


def bad_dims():
    """Dims that are odd or not a multiple of 4."""
    return st.integers(1, 64).filter(lambda d: d % 4)


@given(dim=bad_dims(), height=grid_sides(4), width=grid_sides(4))
@example(dim=6, height=2, width=2)
@example(dim=2, height=2, width=3)
@example(dim=3, height=2, width=2)
def test_dim_not_multiple_of_4_rejected(sincos_2d, dim, height, width):
    """SC2D-DIM-01 (should): a dim that is odd or not a multiple of 4 is rejected with a documented error naming it: each half must itself hold (sin, cos) pairs."""
    assert_raises_naming(lambda: sincos_2d(height, width, dim), dim, what=f"dim {dim}", called=("dim",))


@given(dim=bad_dims(), height=grid_sides(4), width=grid_sides(4))
@example(dim=6, height=2, width=2)
@example(dim=3, height=2, width=2)
def test_bad_dim_refused(sincos_2d, dim, height, width):
    """SC2D-REFUSE-01 (must): a dim that is odd or not a multiple of 4 is refused by some exception, never turned into a table with zero-padded or mismatched halves. Must: such a table is silently wrong, whatever the error would have said."""
    assert_refused(lambda: sincos_2d(height, width, dim), what=f"sincos_2d({height}, {width}, {dim})")


def _edge_grids():
    """(height, width, extra) with one degenerate size: a single row, a single column (1x1 among them), or the
    smallest dim (extra = 0; otherwise dim = the smallest + 4 * extra)."""
    sides = st.integers(1, 8)
    return st.one_of(st.tuples(st.just(1), sides, st.integers(0, 3)), st.tuples(sides, st.just(1), st.integers(0, 3)),
                     st.tuples(sides, sides, st.just(0)))


@given(edge=_edge_grids())
@example(edge=(1, 1, 1))  # a 1x1 grid
@example(edge=(1, 7, 1))  # a single row
@example(edge=(5, 1, 2))  # a single column
@example(edge=(3, 4, 0))  # the smallest dim
def test_degenerate_sizes(sincos_2d, conventions, edge):
    """SC2D-EDGE-01 (must): at the degenerate sizes - a 1x1 grid, a single row, a single column, the smallest dim the schedule allows (4; 8 for the endpoint schedule) - the table has shape (height * width, dim) and follows the formula in the declared conventions."""
    height, width, extra = edge
    dim = _smallest_dim(conventions) + 4 * extra
    _assert_formula(_table(sincos_2d, height, width, dim), conventions, height, width, dim)
