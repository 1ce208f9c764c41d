"""Learned positional mutants: offsets, clamping, devices, explicit positions, gradients."""

import math

import torch
from torch import nn

from embedspec.reference.token_embedding import check_ids

from .catalogue import mutant, variant

SPEC = "spec/test_learned_positional.py"


class Learned(nn.Module):
    """A learned table whose forward takes its bugs as options."""

    def __init__(self, max_len, dim, *, start=0, too_long="raise", bare_arange=False, explicit="use",
                 bad_position="raise", detach=False, scale=1.0, flatten_batch=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.max_len, self.start, self.too_long, self.bare_arange = max_len, start, too_long, bare_arange
        self.explicit, self.bad_position, self.detach, self.scale = explicit, bad_position, detach, scale
        self.flatten_batch = flatten_batch

    def forward(self, x, positions=None):
        seq = x.size(1)
        weight = self.weight.detach() if self.detach else self.weight
        if positions is None or self.explicit == "ignore":
            if seq > self.max_len and self.too_long == "raise":
                raise ValueError(f"sequence length {seq} exceeds max_len {self.max_len}")
            positions = torch.arange(seq) if self.bare_arange else torch.arange(seq, device=x.device)
            positions = positions + self.start
            if self.too_long == "clamp":
                positions = positions.clamp(max=self.max_len - 1)
            if self.too_long == "check_after":
                if seq > self.max_len:
                    raise ValueError(f"sequence length {seq} exceeds max_len {self.max_len}")
        else:
            if self.bad_position == "raise":
                check_ids(positions, self.max_len, what="position")
            else:
                positions = positions.clamp(max=self.max_len - 1)
            if self.explicit == "first_row" and positions.dim() == 2:
                positions = positions[0]
        if self.flatten_batch:  # one gather for the whole batch, reshaped back with the batch size inferred
            flat = x.reshape(-1, x.size(-1)) + (weight[positions] * self.scale).expand_as(x).reshape(-1, x.size(-1))
            return flat.view(-1, seq, x.size(-1))
        return x + weight[positions] * self.scale


def learned(**options):
    def learned_positional(max_len, dim):
        return Learned(max_len, dim, **options)
    return learned_positional


@mutant(catches={"LPOS-ADD-01", "LPOS-GRAD-01", "LPOS-DEV-01", "LPOS-EDGE-01"}, spec=SPEC)
def positions_from_one():
    """Default positions count from 1 (the table's row 0 is never used, the last position falls off)."""
    return dict(learned_positional=learned(start=1))


@mutant(catches={"LPOS-LEN-01", "LPOS-LEN-02", "LPOS-REFUSE-01"}, spec=SPEC)
def clamps_long_sequences():
    """Positions past max_len are clamped to the last row: long inputs silently reuse it."""
    return dict(learned_positional=learned(too_long="clamp"))


@mutant(catches="LPOS-LEN-02", spec=SPEC)
def checks_length_after_making_positions():
    """The length check comes after torch.arange: on a GPU the lookup would already be queued."""
    return dict(learned_positional=learned(too_long="check_after"))


@mutant(catches="LPOS-DEV-01", spec=SPEC)
def positions_on_default_device():
    """torch.arange(S) without device=x.device (pitfall 5): positions land on the default device."""
    return dict(learned_positional=learned(bare_arange=True))


@mutant(catches={"LPOS-POS-01", "LPOS-POS-02", "LPOS-GRAD-01", "LPOS-POSERR-01", "LPOS-REFUSE-01", "LPOS-EDGE-01"},
        spec=SPEC)
def explicit_positions_ignored():
    """Explicit positions are accepted and ignored: 0..S-1 is always used."""
    return dict(learned_positional=learned(explicit="ignore"))


@mutant(catches="LPOS-POS-02", spec=SPEC)
def batched_positions_use_first_row():
    """Positions of shape (B, S) are reduced to their first row, so every sequence gets sequence 0's positions."""
    return dict(learned_positional=learned(explicit="first_row"))


@mutant(catches={"LPOS-POSERR-01", "LPOS-REFUSE-01"}, spec=SPEC)
def bad_positions_clamped():
    """Explicit positions past the table are clamped to the last row; negative ones index from the end."""
    return dict(learned_positional=learned(bad_position="clamp"))


@mutant(catches="LPOS-GRAD-01", spec=SPEC)
def table_detached():
    """The lookup reads weight.detach(): the table never learns."""
    return dict(learned_positional=learned(detach=True))


@mutant(catches={"LPOS-ADD-01", "LPOS-POS-01", "LPOS-POS-02", "LPOS-GRAD-01", "LPOS-DEV-01", "LPOS-EDGE-01"},
        spec=SPEC, conventions={"learned_positional.scale": "inv_sqrt_dim"})
def declared_scale_not_applied():
    """Declares the 1/sqrt(d) scale but adds the raw rows."""
    return dict(learned_positional=learned())


@mutant(catches={"LPOS-LEN-01", "LPOS-LEN-02"}, spec=SPEC)
def no_length_check():
    """No length check: a sequence longer than max_len is refused only by torch's indexing ("index 4 is out of bounds
    for dimension 0 with size 4"), which names the table's size, not the length, after the positions are made."""
    return dict(learned_positional=learned(too_long="unchecked"))


@mutant(catches="LPOS-EDGE-01", spec=SPEC)
def batch_view_fails_when_empty():
    """The batch is flattened for one addition and restored with view(-1, S, dim): with an empty batch or zero
    positions the size of the inferred axis is ambiguous and view raises; every other size is right."""
    return dict(learned_positional=learned(flatten_batch=True))


@variant(spec=SPEC, conventions={"learned_positional.scale": "inv_sqrt_dim"})
def scaled_rows():
    """Correct: rows scaled by 1/sqrt(d), declared."""
    def learned_positional(max_len, dim):
        return Learned(max_len, dim, scale=1 / math.sqrt(dim))
    return dict(learned_positional=learned_positional)
