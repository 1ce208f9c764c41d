"""Interpolation mutants: grid alignment, the interpolation kind, and half-pixel offsets."""

import torch
import torch.nn.functional as F

from .catalogue import mutant, variant

SPEC = "spec/test_interpolate.py"


def check_length(new_len):
    if new_len <= 0:
        raise ValueError(f"new_len must be positive, got {new_len}")


def resample(mode="linear", align_corners=True, check=True):
    def interpolate_positions(table, new_len):
        if check:
            check_length(new_len)
        columns = table.T.unsqueeze(0)  # (1, dim, L)
        if mode == "bicubic":  # timm's resample_abs_pos_embed, on a (L, 1) "image"
            out = F.interpolate(columns.unsqueeze(-1), size=(new_len, 1), mode="bicubic", align_corners=align_corners)
            return out[0, :, :, 0].T
        kwargs = {} if mode == "nearest" else dict(align_corners=align_corners)
        return F.interpolate(columns, size=new_len, mode=mode, **kwargs)[0].T
    return dict(interpolate_positions=interpolate_positions)


@mutant(catches={"INTERP-VAL-01", "INTERP-END-01", "INTERP-LINE-01", "INTERP-EDGE-01"}, spec=SPEC)
def align_corners_false():
    """F.interpolate's default align_corners=False: half-pixel centres, so the end rows move when downsampling and
    every interior row samples another coordinate."""
    return resample(align_corners=False)


@mutant(catches={"INTERP-VAL-01", "INTERP-END-01", "INTERP-LINE-01", "INTERP-EDGE-01"}, spec=SPEC)
def nearest_instead_of_linear():
    """mode="nearest": rows are copied, not interpolated (and torch's nearest floors k * L / new_len, so the last row is lost)."""
    return resample(mode="nearest")


@mutant(catches={"INTERP-VAL-01", "INTERP-RANGE-01", "INTERP-LINE-01", "INTERP-EDGE-01"}, spec=SPEC)
def bicubic_instead_of_linear():
    """Bicubic, as ViTs resize their 2-D grids: it overshoots the input's range."""
    return resample(mode="bicubic")


@mutant(catches={"INTERP-VAL-01", "INTERP-ID-01", "INTERP-END-01", "INTERP-LINE-01", "INTERP-EDGE-01"}, spec=SPEC)
def half_pixel_offset_not_subtracted():
    """A hand-written resampler maps row k to (k + 0.5) * L / new_len without the - 0.5: even the same length moves."""
    def interpolate_positions(table, new_len):
        check_length(new_len)
        length = table.shape[0]
        coordinate = ((torch.arange(new_len, dtype=torch.float32) + 0.5) * length / new_len).clamp(max=length - 1)
        left = coordinate.floor().long().clamp(max=max(length - 2, 0))
        right = (left + 1).clamp(max=length - 1)
        weight = (coordinate - left)[:, None]
        return (1 - weight) * table[left] + weight * table[right]
    return dict(interpolate_positions=interpolate_positions)


@variant(spec=SPEC)
def tutorial_linspace_interp():
    """Correct: the tutorial's interpolate_position_embeddings, linspace(0, 1) on both grids, vectorised
    (its torch.interp loop written with searchsorted)."""
    def interpolate_positions(table, new_len):
        check_length(new_len)
        old = torch.linspace(0, 1, table.shape[0])
        new = torch.linspace(0, 1, new_len)
        if table.shape[0] == 1:
            return table.expand(new_len, -1).clone()
        right = torch.searchsorted(old, new, right=True).clamp(1, table.shape[0] - 1)
        left = right - 1
        weight = ((new - old[left]) / (old[right] - old[left]))[:, None]
        return table[left] + weight * (table[right] - table[left])
    return dict(interpolate_positions=interpolate_positions)


@mutant(catches="INTERP-ERR-01", spec=SPEC)
def new_len_unchecked():
    """No check of the new length: F.interpolate rejects size 0 with a RuntimeError from the backend ("Input and
    output sizes should be greater than 0"), not a documented error naming the length."""
    return resample(check=False)


def _coordinates_resampler(table, new_len):
    """A hand-written align_corners=True resampler: output row k samples coordinate k * step, with the step
    (L - 1) / (new_len - 1) computed in Python, unguarded."""
    length = table.shape[0]
    coordinate = torch.arange(new_len, dtype=torch.float64) * ((length - 1) / (new_len - 1))
    left = coordinate.floor().long().clamp(0, max(length - 2, 0))
    right = (left + 1).clamp(max=length - 1)
    weight = (coordinate - left).clamp(0, 1).to(table.dtype)[:, None]
    return (1 - weight) * table[left] + weight * table[right]


@mutant(catches="INTERP-EDGE-01", spec=SPEC)
def step_divides_by_new_len_minus_one():
    """The step (L - 1) / (new_len - 1) of a hand-written resampler has no guard: new_len = 1 raises
    ZeroDivisionError, though one row is a legal target."""
    def interpolate_positions(table, new_len):
        check_length(new_len)
        return _coordinates_resampler(table, new_len)
    return dict(interpolate_positions=interpolate_positions)


@mutant(catches={"INTERP-ERR-01", "INTERP-REFUSE-01"}, spec=SPEC)
def zero_length_gives_empty_table():
    """The tutorial's torch.linspace(0, 1, new_len) grid with no check: new_len = 0 is an empty grid, so an empty
    table comes back silently (a negative new_len is refused by linspace, naming nothing)."""
    def interpolate_positions(table, new_len):
        if table.shape[0] == 1:
            return table.expand(new_len, -1).clone()
        old = torch.linspace(0, 1, table.shape[0], dtype=torch.float64)
        new = torch.linspace(0, 1, new_len, dtype=torch.float64)
        right = torch.searchsorted(old, new, right=True).clamp(1, table.shape[0] - 1)
        left = right - 1
        weight = ((new - old[left]) / (old[right] - old[left])).to(table.dtype)[:, None]
        return table[left] + weight * (table[right] - table[left])
    return dict(interpolate_positions=interpolate_positions)
