"""2-D sincos mutants: grid order, halves, frequencies and the dim check."""

import math

import torch

from .catalogue import mutant, variant

SPEC = "spec/test_sincos_2d.py"


def encode_1d(positions, dim, base=10000.0, *, layout="interleaved", schedule="paper", width=None):
    """The 1-D encoding of dim features (dim even) of the given positions; ``width`` replaces dim in the exponent."""
    if dim % 2:  # an odd half: the last column zero-padded
        return torch.nn.functional.pad(encode_1d(positions, dim - 1, base, layout=layout, schedule=schedule), (0, 1))
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64)
    exponent = 2 * i / (width or dim) if schedule == "paper" else i / max(half - 1, 1)
    angles = positions.to(torch.float64)[:, None] * torch.exp(-exponent * math.log(base))  # (N, dim/2)
    if layout == "interleaved":
        return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(len(positions), dim)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sincos(*, order="hw", grid="row_major", check="multiple_of_4", halves="row_and_column", frequencies_over="half",
           column_step="index", base_used="argument", squeeze=False, **knobs):
    def sincos_2d(height, width, dim, *, base=10000.0):
        if check == "multiple_of_4" and dim % 4:
            raise ValueError(f"dim must be a multiple of 4, got {dim}")
        if check == "even" and dim % 2:
            raise ValueError(f"dim must be even, got {dim}")
        if check == "assert":  # MAE: assert embed_dim % 2 == 0, for the whole dim and again for each half
            assert dim % 2 == 0 and (dim // 2) % 2 == 0
        if base_used == "10000":
            base = 10000.0
        cells = torch.arange(height * width)
        if grid == "row_major":
            rows, cols = cells // width, cells % width
        else:  # column-major: cell k is (k % height, k // height)
            rows, cols = cells % height, cells // height
        if halves == "row_twice":
            cols = rows
        if column_step == "normalised":  # the columns span the rows' extent (diffusers' base_size = height)
            cols = cols.double() * height / width
        over = dict(width=dim) if frequencies_over == "dim" else {}
        row_half = encode_1d(rows, dim // 2, base, **knobs, **over)
        col_half = encode_1d(cols, dim - dim // 2, base, **knobs, **over)
        first, second = (row_half, col_half) if order == "hw" else (col_half, row_half)
        out = torch.cat([first, second], dim=-1).float()
        return out.unsqueeze(0).squeeze() if squeeze else out
    return dict(sincos_2d=sincos_2d)


@mutant(catches={"SC2D-VAL-01", "SC2D-BASE-01", "SC2D-SHARE-01", "SC2D-EDGE-01"}, spec=SPEC)
def grid_transposed():
    """Cells listed in column-major order (meshgrid with the wrong indexing): cell k is (k % height, k // height)."""
    return sincos(grid="column_major")


@mutant(catches={"SC2D-VAL-01", "SC2D-BASE-01", "SC2D-SHARE-01", "SC2D-EDGE-01"}, spec=SPEC,
        conventions={"sincos_2d.order": "hw"})
def declares_hw_puts_column_first():
    """Declares hw but encodes the column in the first half (MAE's layout, whose meshgrid puts w first)."""
    return sincos(order="wh")


@mutant(catches={"SC2D-DIM-01", "SC2D-REFUSE-01"}, spec=SPEC)
def dim_only_checked_even():
    """Only an odd dim is rejected: dim = 6 gives halves of 3 features, each with a zero-padded column."""
    return sincos(check="even")


@mutant(catches="SC2D-DIM-01", spec=SPEC)
def dim_asserted():
    """MAE's get_2d_sincos_pos_embed checks with `assert embed_dim % 2 == 0` (and again for each half): an
    AssertionError, not a documented type, naming nothing. Refused, so only the error discipline fails."""
    return sincos(check="assert")


@mutant(catches="SC2D-BASE-01", spec=SPEC)
def base_hard_coded():
    """The base argument is accepted but 10000 is used (MAE's omega = 1 / 10000**omega), silently."""
    return sincos(base_used="10000")


@mutant(catches="SC2D-EDGE-01", spec=SPEC)
def table_squeezed():
    """The table is returned with .squeeze() to drop a batch side: a 1x1 grid comes back as a (dim,) vector."""
    return sincos(squeeze=True)


@mutant(catches={"SC2D-VAL-01", "SC2D-BASE-01", "SC2D-SHARE-01", "SC2D-UNIQ-01", "SC2D-EDGE-01"}, spec=SPEC)
def row_encoded_twice():
    """Both halves encode the row (grid[0] used twice): the cells of a row all get the same encoding."""
    return sincos(halves="row_twice")


@mutant(catches={"SC2D-VAL-01", "SC2D-BASE-01", "SC2D-EDGE-01"}, spec=SPEC)
def frequencies_over_full_dim():
    """Each half's frequencies use base^(-2i/dim) instead of base^(-2i/(dim/2)): the halves decay half as fast."""
    return sincos(frequencies_over="dim")


@variant(spec=SPEC, conventions={"sincos_2d.order": "wh"})
def column_first():
    """Correct: the column in the first half, declared wh."""
    return sincos(order="wh")


@variant(spec=SPEC, conventions={"sincos_2d.order": "wh", "sinusoidal.layout": "split"})
def mae_layout():
    """Correct: MAE's get_2d_sincos_pos_embed: column first, sines then cosines in each half."""
    return sincos(order="wh", layout="split")


@variant(spec=SPEC, unsupported={"sincos_2d.base"})
def base_hard_coded_declared():
    """Correct, with the wavelength 10000 hard-coded (no base= keyword, as MAE and timm), and sincos_2d.base declared
    unsupported: SC2D-BASE-01 is skipped as not provided."""
    build = sincos()["sincos_2d"]
    return dict(sincos_2d=lambda height, width, dim: build(height, width, dim))


@variant(spec=SPEC, conventions={"sinusoidal.layout": "split", "sinusoidal.frequencies": "endpoint"})
def split_endpoint():
    """Correct: split layout and tensor2tensor's endpoint frequencies in each half."""
    return sincos(layout="split", schedule="endpoint")


@variant(spec=SPEC,
         conventions={"sincos_2d.order": "wh", "sinusoidal.layout": "split", "sincos_2d.grid": "normalised"})
def normalised_grid():
    """Correct: diffusers' get_2d_sincos_pos_embed with base_size = height: columns at j * height / width, the column
    in the first half, sines before cosines."""
    return sincos(order="wh", layout="split", column_step="normalised")
