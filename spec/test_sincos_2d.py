"""Fixed 2-D sincos positional encoding for a grid of patches (ViT, MAE; long tutorial, "2D Positional Encodings").

Half of the dim features are the 1-D sinusoidal encoding (of dim/2 features, in the
declared `sinusoidal.layout` and `sinusoidal.frequencies`) of the cell's row, half
that of its column; `sincos_2d.order` says which half comes first (`hw`: the row).
Cells are listed in row-major order: cell (i, j) is row i * width + j. `sincos_2d.grid`
says where a cell sits: at (i, j) (`index`), or at (i, j * height / width) (`normalised`:
both axes span the rows' extent, as diffusers' PatchEmbed grid for another aspect ratio).

Tolerance: as for the 1-D table, sin and cos of angles up to max(height, width) - 1
formed in float32 (``tolerances.angle_atol``).
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_relative as oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_raises_naming, build

F32, F64 = torch.float32, torch.float64


def grid_sides(max_value=12):
    return st.integers(1, max_value)


def dims(max_value=32):
    """Multiples of 4 (two halves of even size)."""
    return st.integers(1, max_value // 4).map(lambda k: 4 * k)


def _dim(conventions, dim):
    """The endpoint schedule needs each half to have at least 4 features (it divides by dim/4 - 1)."""
    return max(dim, 8) if conventions["sinusoidal.frequencies"] == "endpoint" else dim


def _oracle(conventions, height, width, dim, base=10000.0):
    return oracles.sincos_2d(height, width, dim, base, conventions["sincos_2d.order"],
                             conventions["sinusoidal.layout"], conventions["sinusoidal.frequencies"],
                             conventions["sincos_2d.grid"])


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


@given(height=grid_sides(), width=grid_sides(), dim=dims(), base=sts.bases())
@example(height=2, width=3, dim=4, base=10000.0)
@example(height=1, width=7, dim=8, base=10000.0)
@example(height=5, width=1, dim=16, base=100.0)
def test_values_match_formula(sincos_2d, conventions, height, width, dim, base):
    """SC2D-VAL-01 (must): cell (i, j), at row i * width + j, is the 1-D sinusoidal encoding (dim/2 features, declared layout and frequencies) of its row i beside that of its column j (at j * height / width on the normalised grid), in the declared order."""
    dim = _dim(conventions, dim)
    table = _table(sincos_2d, height, width, dim, base=base)
    assert_close(table, _oracle(conventions, height, width, dim, base), atol=_atol(height, width),
                 what=f"{height}x{width} grid, dim {dim}, base {base}, order {conventions['sincos_2d.order']}")


@given(height=grid_sides(), width=grid_sides(), dim=dims())
@example(height=3, width=4, dim=4)
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
@example(height=12, width=12, dim=4)
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


@given(dim=st.integers(1, 64).filter(lambda d: d % 4), height=grid_sides(4), width=grid_sides(4))
@example(dim=6, height=2, width=2)
@example(dim=2, height=1, width=1)
@example(dim=3, height=2, width=2)
def test_dim_not_multiple_of_4_rejected(sincos_2d, dim, height, width):
    """SC2D-DIM-01 (should): a dim that is odd or not a multiple of 4 is rejected with a documented error naming it: each half must itself hold (sin, cos) pairs."""
    assert_raises_naming(lambda: sincos_2d(height, width, dim), dim, what=f"dim {dim}")
