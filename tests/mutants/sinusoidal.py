"""Sinusoidal mutants: formula slips, precision, wrapping, and the module form."""

import math

import torch
from torch import nn

from .catalogue import mutant, variant

SPEC = "spec/test_sinusoidal.py"


def table(num_positions, dim, base=10000.0, *, layout="interleaved", schedule="paper", angle_dtype=torch.float64,
          start=0, swap=False, wrap=None, odd="raise", out_dtype=torch.float32,
          count="raise"):
    """A configurable sinusoidal table; each mutant turns one knob the wrong way."""
    if num_positions < 0 and count != "unchecked":  # unchecked: torch.arange raises its own RuntimeError below
        if count == "raise":
            raise ValueError(f"num_positions must be >= 0, got {num_positions}")
        num_positions = 0
    if dim % 2:
        if odd == "raise":
            raise ValueError(f"dim must be even, got {dim}")
        assert odd != "assert", "dim must be even"
        return torch.nn.functional.pad(table(num_positions, dim - 1, base, layout=layout, schedule=schedule), (0, 1))
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64)
    if schedule == "paper":
        exponent = 2 * i / dim
    elif schedule == "endpoint":
        exponent = i / max(half - 1, 1)
    else:  # tensor2tensor's increment log(base) / (half - 1), written without its guard for half = 1
        exponent = i * (math.log(base) / (half - 1)) / math.log(base)
    freqs = torch.exp(-exponent * math.log(base)).to(angle_dtype)
    positions = torch.arange(start, start + num_positions, dtype=torch.float64)
    if wrap is not None:
        positions = positions % wrap
    angles = (positions.to(angle_dtype)[:, None] * freqs).to(torch.float64)
    first, second = (torch.cos(angles), torch.sin(angles)) if swap else (torch.sin(angles), torch.cos(angles))
    if layout == "interleaved":
        out = torch.stack([first, second], dim=-1).reshape(num_positions, dim)
    else:
        out = torch.cat([first, second], dim=-1)
    return out.to(out_dtype)


def encoding(**knobs):
    def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
        return table(num_positions, dim, base, **knobs)
    return sinusoidal_encoding


ALL_VALUES = {"SIN-VAL-01", "SIN-BASE-01", "SIN-EXTRA-01", "SIN-PREC-01"}


@mutant(catches=ALL_VALUES | {"SIN-ROW0-01", "SIN-ROT-01", "SIN-EDGE-01"}, spec=SPEC)
def sin_cos_swapped():
    """sin and cos swapped: cosines in the even columns."""
    return dict(sinusoidal_encoding=encoding(swap=True))


@mutant(catches=ALL_VALUES | {"SIN-ROT-01", "SIN-DOT-01"}, spec=SPEC)
def base_1000():
    """The wavelength constant typed as 1000 instead of 10000."""
    return dict(sinusoidal_encoding=lambda n, d, *, base=10000.0: table(n, d, 1000.0))


@mutant(catches="SIN-BASE-01", spec=SPEC)
def base_argument_ignored():
    """The base argument is accepted but 10000 is always used."""
    return dict(sinusoidal_encoding=lambda n, d, *, base=10000.0: table(n, d))


@mutant(catches=ALL_VALUES | {"SIN-ROW0-01", "SIN-EDGE-01"}, spec=SPEC)
def positions_from_one():
    """Positions counted from 1: row p holds PE(p + 1)."""
    return dict(sinusoidal_encoding=encoding(start=1))


@mutant(catches=ALL_VALUES | {"SIN-ROT-01", "SIN-DOT-01"}, spec=SPEC)
def frequencies_over_d_not_2i_over_d():
    """Exponent i/d instead of 2i/d: the frequencies decay half as fast."""
    def sinusoidal_encoding(n, d, *, base=10000.0):
        return table(n, d, base ** 0.5)
    return dict(sinusoidal_encoding=sinusoidal_encoding)


@mutant(catches={"SIN-VAL-01", "SIN-BASE-01", "SIN-EXTRA-01", "SIN-PREC-01", "SIN-ROW0-01", "SIN-ROT-01",
                 "SIN-EDGE-01", "SINMOD-ADD-01", "SINMOD-BASE-01", "SINMOD-MOVE-01", "SINMOD-EDGE-01"}, spec=SPEC,
         conventions={"sinusoidal.layout": "split"})
def declares_split_builds_interleaved():
    """Declares the split layout but interleaves sin and cos, in the table and in the module."""
    return dict(sinusoidal_encoding=encoding())


@mutant(catches="SIN-PREC-01", spec=SPEC)
def long_tables_in_half_precision():
    """Tables past 4096 positions are computed in float16 to save memory: the angles lose all precision."""
    def sinusoidal_encoding(n, d, *, base=10000.0):
        return table(n, d, base, angle_dtype=torch.float16 if n > 4096 else torch.float32)
    return dict(sinusoidal_encoding=sinusoidal_encoding)


@mutant(catches={"SIN-VAL-01", "SIN-BASE-01", "SIN-EXTRA-01", "SIN-PREC-01", "SIN-ROT-01", "SIN-DOT-01",
                 "SIN-UNIQ-01"}, spec=SPEC)
def angles_in_bfloat16():
    """Angles formed in bfloat16 (a model cast with .to(torch.bfloat16) before building the table)."""
    return dict(sinusoidal_encoding=encoding(angle_dtype=torch.bfloat16))


@mutant(catches={"SIN-UNIQ-01", "SIN-EXTRA-01", "SIN-PREC-01", "SIN-ROT-01", "SIN-DOT-01"}, spec=SPEC)
def positions_wrap_at_100():
    """Positions wrap around a 100-row cache, so position 100 repeats position 0."""
    return dict(sinusoidal_encoding=encoding(wrap=100))


@mutant(catches={"SIN-ODD-01", "SIN-REFUSE-01"}, spec=SPEC)
def odd_dim_zero_padded():
    """An odd d is accepted and the last column zero-padded (the tutorial's workaround), hiding the mistake."""
    return dict(sinusoidal_encoding=encoding(odd="pad"))


@mutant(catches={"SIN-VAL-01", "SIN-BASE-01", "SIN-EXTRA-01", "SIN-PREC-01", "SIN-ROW0-01", "SIN-NORM-01",
                 "SIN-DOT-01", "SIN-EDGE-01"}, spec=SPEC)
def rows_normalised():
    """Rows are normalised to unit length, so they no longer have norm sqrt(d/2)."""
    def sinusoidal_encoding(n, d, *, base=10000.0):
        t = table(n, d, base)
        return t / t.norm(dim=1, keepdim=True)
    return dict(sinusoidal_encoding=sinusoidal_encoding)


@mutant(catches={"SIN-NEG-01", "SIN-REFUSE-01"}, spec=SPEC)
def negative_count_gives_empty_table():
    """A negative number of positions is clamped to an empty table, the way a slice table[:n] would behave."""
    return dict(sinusoidal_encoding=encoding(count="clamp"))


@mutant(catches="SIN-NEG-01", spec=SPEC)
def negative_count_left_to_arange():
    """No check of the count: torch.arange(num_positions) refuses a negative one with its own RuntimeError ("upper
    bound and larger bound inconsistent with step sign"), which names neither the count nor its meaning. Refused,
    so only the error discipline fails."""
    return dict(sinusoidal_encoding=encoding(count="unchecked"))


@mutant(catches="SIN-ODD-01", spec=SPEC)
def odd_dim_asserted():
    """`assert dim % 2 == 0` (as MAE's get_1d_sincos_pos_embed_from_grid checks): an AssertionError, which is not a
    documented type, names nothing and vanishes under python -O. Refused, so only the error discipline fails."""
    return dict(sinusoidal_encoding=encoding(odd="assert"))


@mutant(catches="SIN-EDGE-01", spec=SPEC)
def table_squeezed():
    """The table is built as (1, N, d) and returned with .squeeze() instead of [0]: a single position comes back as
    a (d,) vector."""
    return dict(sinusoidal_encoding=lambda n, d, *, base=10000.0: table(n, d, base).unsqueeze(0).squeeze())


@mutant(catches="SIN-EMPTY-01", spec=SPEC)
def zero_positions_rejected():
    """The count check is `num_positions < 1`: zero positions (an empty prompt) raise instead of giving (0, d)."""
    def sinusoidal_encoding(n, d, *, base=10000.0):
        if n < 1:
            raise ValueError(f"num_positions must be positive, got {n}")
        return table(n, d, base)
    return dict(sinusoidal_encoding=sinusoidal_encoding)


# The module form.

MODULE_SPEC = SPEC


class Module(nn.Module):
    def __init__(self, dim, max_len, *, base=10000.0, start=0, storage="buffer", beyond="raise", flatten=False,
                 **knobs):
        super().__init__()
        self.max_len, self.start, self.beyond, self.knobs, self.base = max_len, start, beyond, knobs, base
        self.flatten = flatten
        values = table(max_len + start, dim, base, **knobs)
        if storage == "buffer":
            self.register_buffer("table", values)
        elif storage == "parameter":
            self.table = nn.Parameter(values)
        else:
            self.table = values

    def forward(self, x):
        seq = x.size(1)
        if self.flatten:  # any leading shape, folded into one batch side
            x = x.view(-1, seq, x.size(-1))
        if seq > self.max_len:
            if self.beyond == "raise":
                raise ValueError(f"sequence length {seq} exceeds max_len {self.max_len}")
            if self.beyond == "truncate":
                return x[:, : self.max_len] + self.table[: self.max_len]
            if self.beyond == "extend":
                return x + table(seq, x.size(2), self.base, **self.knobs).to(x.device)
            if self.beyond == "cycle":
                return x + self.table[torch.arange(seq) % self.max_len]
            # unchecked: (max_len, d) rows added to S > max_len positions, and broadcasting refuses
        return x + self.table[self.start: self.start + seq]


def module(**options):
    def sinusoidal_module(dim, max_len, *, base=10000.0):
        return Module(dim, max_len, base=base, **options)
    return sinusoidal_module


@mutant(catches="SINMOD-BASE-01", spec=MODULE_SPEC)
def module_base_not_forwarded():
    """The module accepts base but builds its table with the default 10000 (the argument is not passed on)."""
    def sinusoidal_module(dim, max_len, *, base=10000.0):
        return Module(dim, max_len)
    return dict(sinusoidal_module=sinusoidal_module)


@mutant(catches="SINMOD-BUF-01", spec=MODULE_SPEC)
def module_table_is_parameter():
    """The fixed table is registered as an nn.Parameter, so an optimiser trains it."""
    return dict(sinusoidal_module=module(storage="parameter"))


@mutant(catches="SINMOD-BUF-01", spec=MODULE_SPEC)
def module_table_plain_attribute():
    """The table is a plain attribute, not a buffer: .to(device) and state_dict never see it (pitfall 5)."""
    return dict(sinusoidal_module=module(storage="attribute"))


@mutant(catches={"SINMOD-ADD-01", "SINMOD-BASE-01", "SINMOD-MOVE-01", "SINMOD-EDGE-01"}, spec=MODULE_SPEC)
def module_slices_from_one():
    """The module adds table[1:S+1]: every position shifted by one."""
    return dict(sinusoidal_module=module(start=1))


@mutant(catches={"SINMOD-BEYOND-01", "SINMOD-LEN-01"}, spec=MODULE_SPEC)
def module_truncates_long_input():
    """A sequence longer than max_len is silently truncated to max_len."""
    return dict(sinusoidal_module=module(beyond="truncate"))


@mutant(catches="SINMOD-BEYOND-01", spec=MODULE_SPEC, conventions={"sinusoidal.beyond_max_len": "extend"})
def module_extends_by_cycling():
    """Declares `extend`, but reuses the table cyclically past max_len."""
    return dict(sinusoidal_module=module(beyond="cycle"))


@mutant(catches="SINMOD-LEN-01", spec=MODULE_SPEC)
def module_length_unchecked():
    """The tutorial's forward, x + pe[:S] with no check of S: past max_len the slice is short and broadcasting
    refuses with "The size of tensor a must match the size of tensor b", which names neither S nor max_len."""
    return dict(sinusoidal_module=module(beyond="unchecked"))


@mutant(catches="SINMOD-EDGE-01", spec=MODULE_SPEC)
def module_flattens_with_view():
    """To accept any leading shape the module folds it with x.view(-1, S, d): for an empty sequence the -1 is
    ambiguous and view raises ("cannot reshape tensor of 0 elements")."""
    return dict(sinusoidal_module=module(flatten=True))



@mutant(catches=ALL_VALUES | {"SIN-BOUND-01", "SIN-NORM-01", "SIN-DOT-01", "SIN-ROW0-01", "SIN-EDGE-01"}, spec=SPEC)
def table_scaled_by_sqrt_dim():
    """The token embedding's sqrt(d) scale applied to the positional table too: entries reach sqrt(d)."""
    return dict(sinusoidal_encoding=lambda n, d, *, base=10000.0: table(n, d, base) * math.sqrt(d))


@mutant(catches=ALL_VALUES | {"SIN-PREFIX-01", "SIN-ROT-01", "SIN-DOT-01", "SIN-EDGE-01"}, spec=SPEC)
def positions_from_linspace():
    """Positions made with torch.linspace(0, N, N) instead of arange(N): position p becomes p * N / (N - 1), so a
    position's encoding depends on the table's length."""
    def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
        exact = table(num_positions, dim, base, out_dtype=torch.float64)
        if num_positions < 2:
            return exact.float()
        half = dim // 2
        freqs = torch.exp(-2 * torch.arange(half, dtype=torch.float64) / dim * math.log(base))
        angles = torch.linspace(0, num_positions, num_positions, dtype=torch.float64)[:, None] * freqs
        return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(num_positions, dim).float()
    return dict(sinusoidal_encoding=sinusoidal_encoding)

@mutant(catches={"SINMOD-ODD-01", "SINMOD-REFUSE-01"}, spec=MODULE_SPEC)
def module_accepts_odd_dim():
    """The module zero-pads an odd d instead of rejecting it."""
    return dict(sinusoidal_module=module(odd="pad"))


@mutant(catches="SINMOD-ODD-01", spec=MODULE_SPEC)
def module_odd_dim_asserted():
    """The module checks d with `assert dim % 2 == 0`: an AssertionError naming nothing. Refused, so only the error
    discipline fails."""
    return dict(sinusoidal_module=module(odd="assert"))


@mutant(catches=ALL_VALUES | {"SIN-ROT-01", "SIN-DOT-01", "SIN-EDGE-01", "SIN-EMPTY-01", "SINMOD-ADD-01",
                              "SINMOD-BASE-01", "SINMOD-MOVE-01", "SINMOD-EDGE-01"}, spec=SPEC)
def tensor2tensor_schedule_unguarded():
    """Declares the paper's frequencies but ports tensor2tensor's get_timing_signal_1d, whose increment
    log(base) / (d/2 - 1) has no guard: the endpoint values everywhere (the diagnosis names the schedule), and a
    ZeroDivisionError at d = 2, the smallest width, even for an empty table. The value clauses catch it whatever
    the edges do."""
    knobs = dict(schedule="endpoint_unguarded")
    return dict(sinusoidal_encoding=encoding(**knobs), sinusoidal_module=module(**knobs))


@variant(spec=SPEC, conventions={"sinusoidal.layout": "split"})
def split_layout():
    """Correct: sines in the first half, cosines in the second (fairseq, Marian)."""
    return dict(sinusoidal_encoding=encoding(layout="split"), sinusoidal_module=module(layout="split"))


@variant(spec=SPEC, conventions={"sinusoidal.layout": "split_cos_first"})
def cosines_first():
    """Correct: cosines in the first half, sines in the second (diffusers' timestep embedding, flip_sin_to_cos=True)."""
    knobs = dict(layout="split", swap=True)
    return dict(sinusoidal_encoding=encoding(**knobs), sinusoidal_module=module(**knobs))


@variant(spec=SPEC, conventions={"sinusoidal.frequencies": "endpoint", "sinusoidal.layout": "split"})
def endpoint_frequencies():
    """Correct: tensor2tensor's schedule, whose last frequency is exactly 1/base."""
    knobs = dict(layout="split", schedule="endpoint")
    return dict(sinusoidal_encoding=encoding(**knobs), sinusoidal_module=module(**knobs))


@variant(spec=SPEC, conventions={"sinusoidal.beyond_max_len": "extend"})
def extends_past_max_len():
    """Correct: the module computes the formula afresh for sequences longer than max_len."""
    return dict(sinusoidal_module=module(beyond="extend"))


@variant(spec=SPEC, unsupported={"sinusoidal.base"})
def base_hard_coded_declared():
    """Correct, with the wavelength 10000 hard-coded (no base= keyword), and sinusoidal.base declared unsupported:
    SIN-BASE-01 and SINMOD-BASE-01 are skipped as not provided."""
    def sinusoidal_encoding(num_positions, dim):
        return table(num_positions, dim)

    def sinusoidal_module(dim, max_len):
        return Module(dim, max_len)
    return dict(sinusoidal_encoding=sinusoidal_encoding, sinusoidal_module=sinusoidal_module)


@variant(spec=SPEC)
def float32_angles():
    """Correct: the tutorial's code as written, angles formed in float32."""
    return dict(sinusoidal_encoding=encoding(angle_dtype=torch.float32))
