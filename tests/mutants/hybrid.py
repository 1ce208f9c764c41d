"""Hybrid positional mutants: the switch, its boundary, the sinusoidal part, parameters and gradients."""

import math

import torch
from torch import nn

from .catalogue import mutant, variant

SPEC = "spec/test_hybrid.py"


def sinusoid(num_positions, dim, base, *, layout="interleaved", start=0):
    """The sinusoidal table for positions start .. start + num_positions - 1, float64."""
    position = torch.arange(start, start + num_positions, dtype=torch.float64)[:, None]
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * -(math.log(base) / dim))
    angles = position * freqs
    if layout == "split":
        return torch.cat([angles.sin(), angles.cos()], dim=-1)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(num_positions, dim)


class Hybrid(nn.Module):
    """A hybrid whose forward takes its bugs as options."""

    def __init__(self, max_len, dim, *, base=10000.0, switch="sequence", boundary="gt", layout="interleaved",
                 table="computed", detach=False, add_x=True, length_of_first=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.max_len, self.dim, self.base, self.switch, self.boundary = max_len, dim, base, switch, boundary
        self.layout, self.detach, self.add_x, self.length_of_first = layout, detach, add_x, length_of_first
        if table == "parameter":  # a fixed table for twice max_len, registered as a trainable parameter
            self.table = nn.Parameter(sinusoid(4 * max_len + 64, dim, base, layout=layout).float())
        else:
            self.table = None

    def sinusoidal(self, num_positions, start=0):
        if self.table is not None:
            return self.table[start: start + num_positions]
        return sinusoid(num_positions, self.dim, self.base, layout=self.layout, start=start).to(self.weight.dtype)

    def forward(self, x):
        seq = len(x[0]) if self.length_of_first else x.size(1)  # len(x[0]): there is no first sequence in no batch
        weight = self.weight.detach() if self.detach else self.weight
        learned = seq < self.max_len if self.boundary == "ge" else seq <= self.max_len
        if learned:
            encoding = weight[:seq]
        elif self.switch == "sequence":
            encoding = self.sinusoidal(seq)
        else:
            encoding = torch.cat([weight, self.sinusoidal(seq - self.max_len, start=self.max_len)], dim=0)
        return x + encoding if self.add_x else encoding.expand_as(x)


def hybrid(**options):
    def hybrid_positional(max_len, dim, *, base=10000.0):
        return Hybrid(max_len, dim, base=base, **options)
    return hybrid_positional


SWITCH = {"HYB-BEYOND-01", "HYB-CROSS-01", "HYB-GRAD-01", "HYB-EDGE-01"}


@mutant(catches=SWITCH, spec=SPEC)
def declares_sequence_switches_per_position():
    """Declares the default `sequence` switch but keeps the learned rows below max_len (`position`)."""
    return dict(hybrid_positional=hybrid(switch="position"))


@mutant(catches=SWITCH, spec=SPEC, conventions={"hybrid.switch": "position"})
def declares_position_switches_whole_sequence():
    """Declares `position` but switches the whole sequence to the sinusoidal table, as the tutorial's code does."""
    return dict(hybrid_positional=hybrid(switch="sequence"))


@mutant(catches={"HYB-LEARNED-01", "HYB-CROSS-01", "HYB-GRAD-01", "HYB-EDGE-01"}, spec=SPEC)
def switches_at_max_len():
    """`seq_len >= max_len` instead of `>`: a sequence of exactly max_len positions already gets the sinusoidal table."""
    return dict(hybrid_positional=hybrid(boundary="ge"))


@mutant(catches={"HYB-BEYOND-01", "HYB-CROSS-01", "HYB-EDGE-01"}, spec=SPEC)
def sinusoidal_part_split():
    """The sinusoidal part is borrowed from a module in the split layout (sines, then cosines) while the
    implementation declares the default interleaved layout."""
    return dict(hybrid_positional=hybrid(layout="split"))


@mutant(catches="HYB-PARAM-01", spec=SPEC)
def sinusoidal_table_is_parameter():
    """The sinusoidal table is registered as an nn.Parameter, so an optimiser trains the fixed part."""
    return dict(hybrid_positional=hybrid(table="parameter"))


@mutant(catches="HYB-GRAD-01", spec=SPEC)
def learned_rows_detached():
    """The learned rows are added detached (`weight[:S].detach()`), so they never train."""
    return dict(hybrid_positional=hybrid(detach=True))


@mutant(catches={"HYB-LEARNED-01", "HYB-BEYOND-01", "HYB-EDGE-01"}, spec=SPEC)
def returns_encoding_only():
    """The tutorial's forward, used where an adder is expected: it returns the encoding and drops x."""
    return dict(hybrid_positional=hybrid(add_x=False))


@mutant(catches="HYB-EDGE-01", spec=SPEC)
def length_from_first_sequence():
    """The sequence length is read as len(x[0]), the first sequence's: an empty batch has no first sequence and
    raises IndexError; every other size is right."""
    return dict(hybrid_positional=hybrid(length_of_first=True))


@variant(spec=SPEC, conventions={"hybrid.switch": "position"})
def per_position_switch():
    """Correct: learned rows below max_len always, the sinusoidal table from position max_len on."""
    return dict(hybrid_positional=hybrid(switch="position"))


@variant(spec=SPEC, conventions={"sinusoidal.layout": "split"})
def split_sinusoidal_part():
    """Correct: the sinusoidal part in the split layout, declared."""
    return dict(hybrid_positional=hybrid(layout="split"))


@variant(spec=SPEC, conventions={"sinusoidal.layout": "split", "hybrid.switch": "position"})
def per_position_split():
    """Correct: both other conventions at once."""
    return dict(hybrid_positional=hybrid(layout="split", switch="position"))
