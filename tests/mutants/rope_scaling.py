"""RoPE scaling mutants: the bugs real scaled rotary embeddings have had, one knob each."""

import math
import warnings

import torch
from torch import nn

from embedspec.reference.rope import rotate_half
from embedspec.reference.rope_scaling import PER_CALL, ScaledFrequencies

from .catalogue import mutant, variant

SPEC = "spec/test_rope_scaling.py"


class Frequencies(ScaledFrequencies):
    """The reference's scaled frequencies with one formula turned the wrong way (``bug``)."""

    def __init__(self, scaling, dim, base, max_seq_len, *, bug=None):
        self.bug, self.max_seq_len = bug, max_seq_len  # read by the formulas the reference's constructor calls
        super().__init__(scaling, dim, base, max_seq_len)

    def frequencies(self, seq_len):
        if self.bug == "yarn_factor_from_call" and self.type == "yarn":  # the factor n / L of each call
            self.factor = max(1.0, seq_len / self.original)
            return self._yarn().float(), self.attention_factor
        return super().frequencies(seq_len)

    def _linear(self):
        if self.bug == "linear_multiplies":
            return self.plain * self.factor
        return super()._linear()

    def _dynamic(self, seq_len):
        if self.bug not in ("ntk_at_every_length", "stretch_below_original"):
            return super()._dynamic(seq_len)
        if self.bug == "ntk_at_every_length":  # bloc97's static NTK-aware base, alpha = s, whatever the call
            stretch = self.factor
        else:  # alpha = s n / L - (s - 1) without the floor at n = L
            stretch = self.factor * seq_len / self.original - (self.factor - 1)
        base = self.base * stretch ** (self.dim / (self.dim - 2))
        return 1.0 / base ** (torch.arange(0, self.dim, 2, dtype=torch.float64) / self.dim)

    def _yarn(self):
        if self.bug == "yarn_ramp_reversed":  # inv_freq_mask = ramp instead of 1 - ramp
            scaled = super()._yarn()
            return self.plain + self.plain / self.factor - scaled
        return super()._yarn()

    def _llama3(self):
        wavelength = 2 * math.pi / self.plain
        if self.bug == "llama3_bands_swapped":  # the edges' two wavelengths exchanged
            short_edge = self.original / self.low_freq_factor
            long_edge = self.original / self.high_freq_factor
            smooth = (self.original / wavelength - self.low_freq_factor) / (
                self.high_freq_factor - self.low_freq_factor)
            middle = (1 - smooth) * self.plain / self.factor + smooth * self.plain
            scaled = torch.where(wavelength < short_edge, self.plain / self.factor, middle)
            return torch.where(wavelength > long_edge, self.plain, scaled)
        if self.bug == "llama3_smooth_unshifted":  # (L / lambda - low) / high: the denominator misses "- low"
            smooth = (self.original / wavelength - self.low_freq_factor) / self.high_freq_factor
            middle = (1 - smooth) * self.plain / self.factor + smooth * self.plain
            scaled = torch.where(wavelength > self.original / self.low_freq_factor, self.plain / self.factor, middle)
            return torch.where(wavelength < self.original / self.high_freq_factor, self.plain, scaled)
        return super()._llama3()

    def _check_longrope(self, scaling):
        super()._check_longrope(scaling)
        if self.bug == "longrope_factor_from_lengths" and "attention_factor" not in scaling:
            # Phi-3's modeling code: scale = max_position_embeddings / original, whatever `factor` says
            ratio = self.max_seq_len / self.original
            self.attention_factor = 1.0 if ratio <= 1 else math.sqrt(1 + math.log(ratio) / math.log(self.original))

    def _longrope(self, seq_len):
        if self.bug == "longrope_never_switches":
            return self.plain / self.short_factor
        if self.bug == "longrope_switch_one_late":  # vLLM's test: any(positions > L), i.e. n > L + 1
            return self.plain / (self.long_factor if seq_len > self.original + 1 else self.short_factor)
        return super()._longrope(seq_len)


class ScaledRope(nn.Module):
    """A scaled rotary embedding (half pairing, float32 angles) whose call-level behaviour has knobs:

    memory:    "call" (each call by its own length), "longest" (dynamic: transformers' frequencies of the longest
               call, reset only below the original length), "long_sticks" (LongRoPE: long factors once used)
    attention: how many times the attention factor multiplies the result (0, 1 or 2)
    frequency_dtype: "float32", or "module" (the scaled frequencies live in a buffer the module's .to() casts)
    angles:    "product" (positions * frequencies, elementwise) or "matmul" (frequencies @ positions, which
               autocast runs in bfloat16)
    validation: "raise" (the reference's ValueError), "assert" (AssertionError), "ignore" (warn, plain RoPE)
    placement: "device" (the frequencies go to device=) or "cpu" (the scaled ones stay where they were computed)
    """

    def __init__(self, head_dim, *, base, max_seq_len, scaling, bug=None, memory="call", attention=1,
                 frequency_dtype="float32", angles="product", validation="raise", pairing="half",
                 placement="device", device=None):
        super().__init__()
        try:
            self.scaled = None if scaling is None else Frequencies(scaling, head_dim, base, max_seq_len, bug=bug)
        except ValueError as exc:
            if validation == "raise":
                raise
            if validation == "assert":
                raise AssertionError(str(exc)) from None
            warnings.warn(f"rope_scaling ignored: {exc}")
            self.scaled = None
        exponent = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
        plain = (1.0 / base**exponent).float()
        self.per_call = self.scaled is not None and (self.scaled.type in PER_CALL or bug == "yarn_factor_from_call")
        static = self.scaled is not None and not self.per_call
        inv_freq, self.attention_factor = self.scaled.frequencies(None) if static else (plain, 1.0)
        if placement == "device" or not static:
            inv_freq = inv_freq.to(device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.memory, self.attention, self.frequency_dtype = memory, attention, frequency_dtype
        self.angles, self.pairing = angles, pairing
        self.longest = 0  # the longest call so far (memory "longest") or whether a long call came ("long_sticks")

    def _apply(self, fn, recurse=True):
        if self.frequency_dtype == "module":  # inv_freq is an ordinary buffer: cast with the module
            return super()._apply(fn, recurse)
        inv_freq = self.inv_freq
        super()._apply(fn, recurse)
        self.inv_freq = inv_freq.to(self.inv_freq.device)
        return self

    def _call_length(self, seq_len):
        """The length the per-call frequencies are computed for, after the module's memory of earlier calls."""
        original = self.scaled.original
        if self.memory == "longest" and self.scaled.type == "dynamic":
            if seq_len > max(self.longest, original):
                self.longest = seq_len
            elif seq_len < original:
                self.longest = 0
            return max(seq_len, self.longest)
        if self.memory == "long_sticks" and self.scaled.type == "longrope":
            self.longest = max(self.longest, seq_len)
            return self.longest
        return seq_len

    def forward(self, x, positions):  # x: (B, S, H, D); positions: (S,) or (B, S)
        inv_freq, attention_factor = self.inv_freq, self.attention_factor
        if self.per_call:
            seq_len = self._call_length(int(positions.max()) + 1)
            inv_freq, attention_factor = self.scaled.frequencies(seq_len)
            inv_freq = inv_freq.to(self.inv_freq.dtype)  # "module": cast down after the frequencies were formed
        if self.angles == "matmul":  # transformers before 4.38: inv_freq_expanded @ position_ids_expanded
            angles = (inv_freq[None, :, None] @ positions.to(inv_freq.dtype)[..., None, :]).transpose(-1, -2)
        else:
            angles = positions.to(inv_freq.dtype)[..., None] * inv_freq  # (..., S, D/2)
        if self.pairing == "half":
            angles = torch.cat([angles, angles], dim=-1).unsqueeze(-2)  # (..., S, 1, D)
            x_rot = x.float()
            rotated = x_rot * angles.cos() + rotate_half(x_rot) * angles.sin()
        else:
            angles = angles.repeat_interleave(2, -1).unsqueeze(-2)
            x_rot = x.float()
            partner = torch.stack([-x_rot[..., 1::2], x_rot[..., 0::2]], dim=-1).flatten(-2)
            rotated = x_rot * angles.cos() + partner * angles.sin()
        return (rotated * attention_factor**self.attention).to(x.dtype)


def rope(**knobs):
    def factory(head_dim, *, base=10000.0, max_seq_len=4096, scaling=None, device=None):
        return ScaledRope(head_dim, base=base, max_seq_len=max_seq_len, scaling=scaling, device=device, **knobs)
    return factory


@mutant(catches={"ROPE-SCALE-LIN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def linear_multiplies():
    """Linear scaling multiplies the frequencies by the factor instead of dividing them (positions p * s, not p / s):
    the context is compressed instead of stretched."""
    return dict(rope=rope(bug="linear_multiplies"))


@mutant(catches={"ROPE-SCALE-REL-01", "ROPE-SCALE-ONE-01", "ROPE-SCALE-YARN-01", "ROPE-SCALE-VAL-01",
                 "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def yarn_factor_from_call():
    """YaRN takes its factor from each call, max(1, n / L) (the "dynamic YaRN" of some ports), not from the
    configuration: the frequencies follow the absolute positions, and so does the score of two tokens."""
    return dict(rope=rope(bug="yarn_factor_from_call"))


@mutant(catches="ROPE-SCALE-DYN-02", spec=SPEC)
def dynamic_keeps_longest_call():
    """Dynamic NTK recomputes its frequencies only when a call is longer than every earlier one, and resets only
    below the original length: a call after a longer one uses the longer one's base (transformers'
    dynamic_rope_update)."""
    return dict(rope=rope(memory="longest"))


@mutant(catches={"ROPE-SCALE-DYN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def dynamic_scales_within_original():
    """Dynamic NTK stretches the base at every call length, as the static NTK-aware scaling would: short calls are
    no longer plain RoPE."""
    return dict(rope=rope(bug="ntk_at_every_length"))


@mutant(catches={"ROPE-SCALE-DYN-01", "ROPE-SCALE-VAL-01"}, spec=SPEC)
def dynamic_stretch_without_floor():
    """alpha = s n / L - (s - 1) without max(n, L): a call shorter than the original length shrinks the base."""
    return dict(rope=rope(bug="stretch_below_original"))


@mutant(catches={"ROPE-SCALE-YARN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def yarn_ramp_reversed():
    """YaRN's ramp mask used the wrong way round: the high frequencies are interpolated and the low ones kept."""
    return dict(rope=rope(bug="yarn_ramp_reversed"))


@mutant(catches={"ROPE-SCALE-LLAMA3-01", "ROPE-SCALE-LLAMA3-02", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01",
                 "ROPE-SCALE-PREC-02"}, spec=SPEC)
def llama3_bands_swapped():
    """Llama 3.1's two band edges exchanged (low_freq_wavelen = L / high_freq_factor): the short wavelengths are
    divided by the factor and the long ones kept."""
    return dict(rope=rope(bug="llama3_bands_swapped"))


@mutant(catches={"ROPE-SCALE-LLAMA3-02", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def llama3_smooth_unshifted():
    """Llama 3.1's smooth factor divided by high_freq_factor instead of high_freq_factor - low_freq_factor: the middle
    band stops short of 1, and the frequencies jump at the short-wavelength edge."""
    return dict(rope=rope(bug="llama3_smooth_unshifted"))


@mutant(catches={"ROPE-SCALE-ATTN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02",
                 "ROPE-SCALE-LONG-01"}, spec=SPEC)
def attention_factor_twice():
    """The attention factor multiplies cos and sin, and the rotated query again (DeepSeek-style mscale applied in the
    rotary module and in the attention): the result carries its square."""
    return dict(rope=rope(attention=2))


@mutant(catches={"ROPE-SCALE-ATTN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02",
                 "ROPE-SCALE-LONG-01"}, spec=SPEC)
def attention_factor_dropped():
    """Declares the output convention (the default) but returns a pure rotation: YaRN's and LongRoPE's factor is lost
    (a port that computes attention_scaling and never uses it)."""
    return dict(rope=rope(attention=0))


@mutant(catches={"ROPE-SCALE-ATTN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02",
                 "ROPE-SCALE-LONG-01"}, spec=SPEC, conventions={"rope.attention_factor": "separate"})
def separate_but_scaled():
    """Declares `rope.attention_factor = separate` but still multiplies the result by the factor: the attention then
    applies it a second time."""
    return dict(rope=rope(attention=1))


@mutant(catches={"ROPE-SCALE-ONE-01", "ROPE-SCALE-ATTN-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-LONG-01",
                 "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def longrope_factor_from_lengths():
    """LongRoPE's attention factor from max_seq_len / original (Phi-3's modeling code), ignoring the configured
    factor: a factor of 1 still scales the result."""
    return dict(rope=rope(bug="longrope_factor_from_lengths"))


@mutant(catches={"ROPE-SCALE-LONG-01", "ROPE-SCALE-VAL-01", "ROPE-SCALE-PREC-01", "ROPE-SCALE-PREC-02"}, spec=SPEC)
def longrope_never_switches():
    """LongRoPE always rescales by short_factor: long_factor is read and never used."""
    return dict(rope=rope(bug="longrope_never_switches"))


@mutant(catches={"ROPE-SCALE-LONG-01", "ROPE-SCALE-VAL-01"}, spec=SPEC)
def longrope_switch_one_late():
    """LongRoPE switches when a position exceeds the original length (positions > L) rather than the length
    (n > L): the call whose last position is L still uses short_factor."""
    return dict(rope=rope(bug="longrope_switch_one_late"))


@mutant(catches="ROPE-SCALE-LONG-01", spec=SPEC)
def longrope_long_factors_stick():
    """Once a call past the original length has switched LongRoPE to long_factor, shorter calls keep it."""
    return dict(rope=rope(memory="long_sticks"))


@mutant(catches="ROPE-SCALE-PREC-01", spec=SPEC)
def scaled_frequencies_cast_with_module():
    """The scaled inv_freq is an ordinary buffer, and the per-call ones are cast to its dtype: after
    model.to(torch.bfloat16) every angle is formed in bfloat16."""
    return dict(rope=rope(frequency_dtype="module"))


@mutant(catches="ROPE-SCALE-PREC-02", spec=SPEC)
def angles_from_autocast_matmul():
    """The angles come from inv_freq @ positions, a matmul that CPU autocast runs in bfloat16 (transformers#29285)."""
    return dict(rope=rope(angles="matmul"))


@mutant(catches="ROPE-SCALE-DEV-01", spec=SPEC)
def scaled_frequencies_left_on_cpu():
    """device= moves the plain frequencies but not the statically scaled ones, computed on the CPU at construction:
    on an accelerator every call mixes devices."""
    return dict(rope=rope(placement="cpu"))


@mutant(catches="ROPE-SCALE-ERR-01", spec=SPEC)
def configuration_asserted():
    """The configuration is checked with assert statements: an AssertionError (and no check at all under python -O),
    as x-transformers' `assert interpolation_factor >= 1.`."""
    return dict(rope=rope(validation="assert"))


@mutant(catches={"ROPE-SCALE-ERR-01", "ROPE-SCALE-REFUSE-01"}, spec=SPEC)
def configuration_ignored_with_warning():
    """A configuration it cannot read is dropped with a warning and plain RoPE is used: the model silently runs
    without the scaling it was trained with."""
    return dict(rope=rope(validation="ignore"))


@variant(spec=SPEC, conventions={"rope.attention_factor": "separate"})
def attention_factor_separate():
    """Correct: a pure rotation, the attention factor left to the attention's softmax scale (declared)."""
    return dict(rope=rope(attention=0))


@variant(spec=SPEC, conventions={"rope.pairing": "interleaved"})
def interleaved_pairing():
    """Correct: GPT-J's pairing (2k with 2k + 1), declared."""
    return dict(rope=rope(pairing="interleaved"))
