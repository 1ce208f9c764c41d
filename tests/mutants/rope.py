"""RoPE mutants: precision, pairing, caches, positions, edge sizes, bad sizes, and in-place writes."""

import math

import torch
from torch import nn

from embedspec.reference.rope import RotaryEmbedding

from .catalogue import mutant, variant

SPEC = "spec/test_rope.py"


def rotate_half(x):  # (x1, x2) -> (-x2, x1), pairs k and k + d/2
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def rotate_every_two(x):  # (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...), pairs 2k and 2k + 1
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)


class Rope(nn.Module):
    """A configurable rotary embedding; each mutant turns one knob the wrong way."""

    def __init__(self, head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, pairing="half",
                 table_layout=None, angle_dtype="float32", keep_float32=True, sign=1, start=0, beyond="exact",
                 in_place=False, exponent=2, batched="use", cast_back=True, add=False, use_positions=True,
                 odd="raise", frequencies_over="rotary", use_base=True, arithmetic="float32", cache=False):
        super().__init__()
        if rotary_dim is not None and not (0 < rotary_dim <= head_dim and rotary_dim % 2 == 0):
            raise ValueError(f"rotary_dim must be a positive even number <= head_dim {head_dim}, got {rotary_dim}")
        rotary_dim = head_dim if rotary_dim is None else rotary_dim
        if head_dim % 2:
            if odd == "raise":
                raise ValueError(f"head_dim must be even, got {head_dim}")
            rotary_dim = head_dim - 1  # the last feature passes through
        self.rotary_dim, self.max_seq_len, self.pairing = rotary_dim, max_seq_len, pairing
        self.table_layout = table_layout or pairing
        self.angle_dtype, self.keep_float32, self.sign = angle_dtype, keep_float32, sign
        self.start, self.beyond = start, beyond
        self.in_place, self.batched, self.cast_back, self.add = in_place, batched, cast_back, add
        self.use_positions, self.arithmetic, self.cache = use_positions, arithmetic, cache
        base = base if use_base else 10000.0
        width = rotary_dim if frequencies_over == "rotary" else head_dim
        k = torch.arange(rotary_dim // 2, dtype=torch.float64)
        inv_freq = torch.exp(-exponent * k / width * math.log(base))
        self.register_buffer("inv_freq", inv_freq.to(torch.float64 if angle_dtype == "float64" else torch.float32),
                             persistent=False)
        if cache:
            self._build_cache(max_seq_len)

    def _apply(self, fn, recurse=True):
        if not self.keep_float32:
            return super()._apply(fn, recurse)
        inv_freq = self.inv_freq
        super()._apply(fn, recurse)
        self.inv_freq = inv_freq.to(self.inv_freq.device)
        if self.cache:
            self._build_cache(self.cached)
        return self

    def _build_cache(self, length):
        self.cached = length
        angles = torch.arange(length, dtype=torch.float32)[:, None] * self.inv_freq.float()
        self.cos_cached, self.sin_cached = angles.cos(), angles.sin()

    def _angles(self, positions, x):
        if self.angle_dtype == "input":  # the whole angle formed in the activations' dtype
            return positions.to(x.dtype)[..., None] * self.inv_freq.to(x.dtype)
        # positions.type_as(inv_freq): float32 (or float64), unless the module cast inv_freq down
        return positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq

    def forward(self, x, positions):  # x: (B, S, H, D); positions: (S,) or (B, S)
        if not self.use_positions:
            positions = torch.arange(x.shape[1])
        if self.batched == "first_row" and positions.dim() == 2:
            positions = positions[0]
        if positions.numel() and int(positions.max()) >= self.max_seq_len:
            if self.beyond == "raise":
                raise IndexError(f"position {int(positions.max())} is beyond max_seq_len {self.max_seq_len}")
            if self.beyond == "assert":
                assert int(positions.max()) < self.max_seq_len, "position beyond the cache"
            if self.beyond == "extend" and self.cache:
                self._build_cache(int(positions.max()) + 1)
        if self.beyond == "wrap":
            positions = positions % self.max_seq_len
        if self.beyond == "clamp":
            positions = positions.clamp(max=self.max_seq_len - 1)
        positions = positions + self.start
        if self.cache:
            cos, sin = self.cos_cached[positions], self.sin_cached[positions]
        else:
            angles = self._angles(positions, x)
            cos, sin = angles.cos(), angles.sin()  # (..., S, D_r/2)
        if self.table_layout == "half":
            cos, sin = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
        else:
            cos, sin = cos.repeat_interleave(2, -1), sin.repeat_interleave(2, -1)
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # (..., S, 1, D_r)
        x_rot, x_pass = x[..., : self.rotary_dim], x[..., self.rotary_dim:]
        rotate = rotate_half if self.pairing == "half" else rotate_every_two
        if self.add:  # sinusoids added to the features, as for absolute encodings
            out = x_rot + sin
        elif self.in_place:
            cos, sin = cos.to(x.dtype), sin.to(x.dtype)
            rotated = rotate(x_rot) * sin * self.sign
            out = x_rot.mul_(cos).add_(rotated)
        else:
            work = x_rot.float() if self.arithmetic == "float32" else x_rot  # "promote": x_rot * float32 cos
            if self.arithmetic == "input":  # Hugging Face style: cos and sin cast to the activations' dtype
                cos, sin = cos.to(x.dtype), sin.to(x.dtype)
            out = work * cos + rotate(work) * sin * self.sign
        if self.cast_back:
            out = out.to(x.dtype)
        return torch.cat([out, x_pass.to(out.dtype)], dim=-1)


def rope(**knobs):
    def factory(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None):
        return Rope(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, **knobs)
    return factory


ALL = {"ROPE-VAL-01", "ROPE-PAIR-01", "ROPE-PREC-01", "ROPE-PREC-02", "ROPE-BEYOND-01", "ROPE-ROTDIM-01",
       "ROPE-EDGE-01"}


@mutant(catches={"ROPE-PREC-02", "ROPE-BEYOND-01"}, spec=SPEC)
def angles_in_bfloat16():
    """The angle p * w is formed in the activations' dtype: under bfloat16 autocast the positions past 256 are not
    even representable (transformers#29285)."""
    return dict(rope=rope(angle_dtype="input"))


@mutant(catches={"ROPE-PREC-02", "ROPE-BEYOND-01"}, spec=SPEC)
def inv_freq_cast_with_module():
    """inv_freq is an ordinary buffer: model.to(torch.bfloat16) casts it, and positions.type_as(inv_freq) follows
    (gpt-neox#1016, Megatron-LM#535, transformers#29496)."""
    return dict(rope=rope(keep_float32=False))


@mutant(catches=ALL | {"ROPE-NORM-01"}, spec=SPEC, conventions={"rope.pairing": "interleaved"})
def declares_interleaved_rotates_halves():
    """Declares GPT-J's interleaved pairing but rotates halves (rotate_half), as a NeoX checkpoint would."""
    return dict(rope=rope(pairing="half"))


@mutant(catches=ALL, spec=SPEC)
def rotate_half_sign_flipped():
    """rotate_half returns (x2, -x1): every pair turns the other way, by -p w."""
    return dict(rope=rope(sign=-1))


@mutant(catches=ALL | {"ROPE-ID-01", "ROPE-COMP-01"}, spec=SPEC)
def cache_sliced_from_position_1():
    """cos/sin taken from the cache at p + 1 (cos_cached[1:S+1]): position 0 is rotated."""
    return dict(rope=rope(start=1))


@mutant(catches={"ROPE-BEYOND-01", "ROPE-PREC-02"}, spec=SPEC)
def wraps_past_max_seq_len():
    """Positions are taken modulo max_seq_len (a ring-buffer cache): position max_seq_len gets position 0's rotation."""
    return dict(rope=rope(beyond="wrap"))


@mutant(catches={"ROPE-BEYOND-01", "ROPE-PREC-02"}, spec=SPEC)
def clamps_past_max_seq_len():
    """Positions past the cache are clamped to its last row: every later token gets a stale rotation."""
    return dict(rope=rope(beyond="clamp"))


@mutant(catches="ROPE-BEYOND-02", spec=SPEC)
def asserts_past_max_seq_len():
    """A bare assert guards the cache: refused (the must level holds), but by an AssertionError, not a documented
    error naming the position."""
    return dict(rope=rope(beyond="assert"))


@mutant(catches="ROPE-INPLACE-01", spec=SPEC)
def rotates_in_place():
    """x.mul_(cos).add_(rotate_half(x) * sin): right values, but the caller's q and k are overwritten."""
    return dict(rope=rope(in_place=True))


@mutant(catches=ALL, spec=SPEC)
def frequencies_over_d_not_2i_over_d():
    """inv_freq = base^(-i/d) instead of base^(-2i/d): the frequencies decay half as fast."""
    return dict(rope=rope(exponent=1))


@mutant(catches={"ROPE-VAL-01", "ROPE-PREC-01"}, spec=SPEC)
def base_ignored():
    """The base argument is accepted but 10000 is always used (Llama 3's 500000 silently lost)."""
    def factory(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None):
        return Rope(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, use_base=False)
    return dict(rope=factory)


@mutant(catches=ALL, spec=SPEC)
def batched_positions_use_first_row():
    """Positions of shape (B, S) are reduced to positions[0]: every sequence gets the first one's positions."""
    return dict(rope=rope(batched="first_row"))


@mutant(catches=ALL | {"ROPE-NORM-01", "ROPE-REL-01", "ROPE-COMP-01"}, spec=SPEC)
def cos_sin_laid_out_for_other_pairing():
    """rotate_half with a cos/sin table built by repeat_interleave (GPT-J's layout): the two members of a pair turn
    by different angles, which is no rotation."""
    return dict(rope=rope(table_layout="interleaved"))


@mutant(catches="ROPE-DTYPE-01", spec=SPEC)
def returns_float32_for_half_inputs():
    """bfloat16 q times float32 cos promotes to float32, and the result is never cast back."""
    return dict(rope=rope(arithmetic="promote", cast_back=False))


@mutant(catches=ALL | {"ROPE-NORM-01", "ROPE-LIN-01", "ROPE-COMP-01", "ROPE-REL-01"}, spec=SPEC)
def adds_sinusoids_instead_of_rotating():
    """The sinusoids are added to q and k like an absolute encoding instead of rotating them."""
    return dict(rope=rope(add=True))


@mutant(catches=ALL | {"ROPE-ID-01", "ROPE-COMP-01", "ROPE-DEC-01"}, spec=SPEC)
def positions_ignored():
    """cos[:S], sin[:S]: the positions argument is ignored and token s is rotated by s; a decoding step is always at 0."""
    return dict(rope=rope(use_positions=False))


@mutant(catches={"ROPE-ODD-01", "ROPE-REFUSE-01"}, spec=SPEC)
def odd_head_dim_passes_last_feature():
    """An odd head_dim is accepted and its last feature left unrotated, hiding the mistake."""
    return dict(rope=rope(odd="pass"))


@mutant(catches="ROPE-ROTDIM-01", spec=SPEC)
def partial_rotary_frequencies_over_head_dim():
    """With rotary_dim < head_dim the frequencies are base^(-2i/head_dim) instead of base^(-2i/rotary_dim)."""
    return dict(rope=rope(frequencies_over="head"))


@variant(spec=SPEC, conventions={"rope.pairing": "interleaved"})
def interleaved_pairing():
    """Correct: GPT-J/RoFormer pairing (2k with 2k + 1), declared."""
    return dict(rope=rope(pairing="interleaved"))


@variant(spec=SPEC)
def cached_and_raises_beyond():
    """Correct: cos/sin cached in float32 for max_seq_len positions, IndexError naming a position beyond it."""
    return dict(rope=rope(cache=True, beyond="raise"))


@variant(spec=SPEC)
def cached_and_extends():
    """Correct: a float32 cos/sin cache that grows to cover any position it is asked for."""
    return dict(rope=rope(cache=True, beyond="extend"))


@variant(spec=SPEC)
def half_precision_arithmetic():
    """Correct: Hugging Face's form, angles in float32, cos and sin cast to the activations' dtype and the rotation
    computed in it."""
    return dict(rope=rope(arithmetic="input"))


@variant(spec=SPEC)
def float64_angles():
    """Correct: angles in float64."""
    return dict(rope=rope(angle_dtype="float64"))


def meta_llama(*, check_odd=True, pairs="head_dim // 2"):
    """Meta's Llama apply_rotary_emb as a plain function; ``pairs`` is how the reshape to complex pairs is sized."""
    def factory(head_dim, *, base=10000.0, max_seq_len=4096):
        if check_odd and head_dim % 2:
            raise ValueError(f"head_dim {head_dim} is odd")
        freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))

        def apply(x, positions):
            angles = positions.float()[..., None] * freqs  # (..., S, D/2)
            freqs_cis = torch.polar(torch.ones_like(angles), angles).unsqueeze(-2)
            size = x.shape[-1] // 2 if pairs == "head_dim // 2" else -1  # -1: Meta's own reshape(..., -1, 2)
            x_ = torch.view_as_complex(x.float().reshape(*x.shape[:-1], size, 2))
            return torch.view_as_real(x_ * freqs_cis).flatten(-2).type_as(x)
        return apply
    return factory


@variant(spec=SPEC, conventions={"rope.pairing": "interleaved"})
def meta_llama_complex_function():
    """Correct: Meta's Llama as a plain function: x viewed as complex pairs (2k, 2k + 1) times polar(1, p w),
    freqs built in float32; no rotary_dim, no module."""
    return dict(rope=meta_llama())


@mutant(catches={"ROPE-ROTDIM-02", "ROPE-REFUSE-01"}, spec=SPEC)
def rotary_dim_clamped():
    """An illegal rotary_dim is forced into range, min(rotary_dim, head_dim) rounded down to even and at least 2,
    instead of rejected (the way int(head_dim * rotary_pct) is silently floored): the model rotates other features
    than its checkpoint was trained with."""
    def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, device=None):
        if rotary_dim is not None:
            rotary_dim = max(2, min(rotary_dim, head_dim) // 2 * 2)
        return RotaryEmbedding(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, device=device)
    return dict(rope=rope)


# -- half precision past the cache -----------------------------------------------------------------

# The rope cases of the cross-cutting clauses a cos/sin cache can break, on the CPU.
CACHE_SPEC = (SPEC,
              "spec/test_devices.py::test_casts_with_module[DEV-CAST-01-rope-cpu]",
              "spec/test_devices.py::test_state_dict_round_trip[DEV-STATE-01-rope-cpu]",
              "spec/test_devices.py::test_accurate_at_large_positions_after_cast[DEV-PREC-01-rope-cpu]",
              "spec/test_stateful.py::test_call_sequences[SEQ-CALLS-01-rope-cpu]",
              "spec/test_autocast.py::test_angles_under_autocast[AUTOCAST-ANGLE-01-rope-cpu]",
              "spec/test_autocast.py::test_dtype_under_autocast[AUTOCAST-DTYPE-01-rope-cpu]")
PAST_THE_CACHE = {"ROPE-PREC-02", "ROPE-BEYOND-01", "DEV-PREC-01", "SEQ-CALLS-01"}


class LlamaRotaryBefore438(nn.Module):
    """transformers' LlamaRotaryEmbedding before 4.38 (and MistralRotaryEmbedding before 4.42) in the contract's form.

    inv_freq and the cos/sin cache are ordinary buffers, so model.to(torch.bfloat16) casts both. The cache is built
    at construction for max_seq_len positions in float32, which the cast only rounds; a position past it regrows
    the whole cache from torch.arange(seq_len, dtype=self.inv_freq.dtype): after the cast, positions and angles in
    bfloat16.
    """

    def __init__(self, head_dim, *, base=10000.0, max_seq_len=4096):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._set_cos_sin_cache(max_seq_len, torch.get_default_dtype())

    def _set_cos_sin_cache(self, seq_len, dtype):
        self.max_seq_len_cached = seq_len
        t = torch.arange(seq_len, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        freqs = torch.outer(t, self.inv_freq)  # (seq_len, head_dim/2), in inv_freq's dtype
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos().to(dtype), persistent=False)
        self.register_buffer("sin_cached", emb.sin().to(dtype), persistent=False)

    def forward(self, x, positions):  # x: (B, S, H, D); positions (S,) or (B, S)
        seq_len = int(positions.max()) + 1 if positions.numel() else 0
        if seq_len > self.max_seq_len_cached:
            self._set_cos_sin_cache(seq_len, x.dtype)
        cos = self.cos_cached[positions].to(x.dtype).unsqueeze(-2)  # (..., S, 1, D)
        sin = self.sin_cached[positions].to(x.dtype).unsqueeze(-2)
        return x * cos + rotate_half(x) * sin


@mutant(catches=PAST_THE_CACHE, spec=CACHE_SPEC)
def cache_regrown_in_cast_dtype():
    """transformers' Llama before 4.38 and Mistral before 4.42 (#25681, #29496): after model.to(torch.bfloat16) a
    position past max_position_embeddings regrows the cos/sin cache from positions in the cast inv_freq's dtype,
    errors of 2.8 at position 1000 and 6.5 at 16000; within the cache built at construction it is right."""
    return dict(rope=LlamaRotaryBefore438)


class ShortCacheRope(nn.Module):
    """A float32 cos/sin table for the first max_seq_len positions, built at construction and kept in float32 through
    casts (the fix of the bug above); a position past it is rotated on the fly from positions formed in the
    activations' dtype, as rotary-embedding-torch forms them (get_seq_pos(..., dtype=t.dtype)) past its
    cache_max_seq_len."""

    def __init__(self, head_dim, *, base=10000.0, max_seq_len=4096):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        self.max_seq_len = max_seq_len
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.arange(max_seq_len).float()[:, None] * inv_freq  # (max_seq_len, head_dim/2), float32
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("cos_table", angles.cos(), persistent=False)
        self.register_buffer("sin_table", angles.sin(), persistent=False)

    def _apply(self, fn, recurse=True):
        kept = dict(self._buffers)  # moves reach the tables, casts do not
        super()._apply(fn, recurse)
        for name, buffer in kept.items():
            self._buffers[name] = buffer.to(self._buffers[name].device)
        return self

    def forward(self, x, positions):  # x: (B, S, H, D); positions (S,) or (B, S)
        inside = (positions < self.max_seq_len)[..., None]
        row = positions.clamp(max=self.max_seq_len - 1)
        angles = positions.to(x.dtype)[..., None] * self.inv_freq.to(x.dtype)  # past the table: in x's dtype
        cos = torch.where(inside, self.cos_table[row], angles.cos().float())
        sin = torch.where(inside, self.sin_table[row], angles.sin().float())
        cos, sin = torch.cat([cos, cos], -1).unsqueeze(-2), torch.cat([sin, sin], -1).unsqueeze(-2)
        return (x.float() * cos + rotate_half(x.float()) * sin).to(x.dtype)


@mutant(catches=PAST_THE_CACHE | {"AUTOCAST-ANGLE-01"}, spec=CACHE_SPEC)
def past_the_cache_in_activation_dtype():
    """Exact within the float32 table built at construction, but past max_seq_len the positions are formed in the
    activations' dtype (rotary-embedding-torch's get_seq_pos(dtype=t.dtype) past cache_max_seq_len): bfloat16
    queries at position 1000 are rotated as if at 1000 rounded to 8 bits, a float32 module's too (so under autocast,
    where the activations are bfloat16, as well), unlike the bug above, which needs the module cast."""
    return dict(rope=ShortCacheRope)


# -- edge sizes ------------------------------------------------------------------------------------


class RescaledBase(RotaryEmbedding):
    """x-transformers' and rotary-embedding-torch's NTK base rescale: base *= factor ** (dim / (dim - 2))."""

    def __init__(self, head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, device=None):
        width = head_dim if rotary_dim is None else rotary_dim
        base *= 1.0 ** (width / (width - 2))
        super().__init__(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, device=device)


@mutant(catches="ROPE-EDGE-01", spec=SPEC)
def head_dim_2_divides_by_zero():
    """x-transformers' and rotary-embedding-torch's RotaryEmbedding(2): the base rescale dim / (dim - 2) divides by
    zero at a single pair (head_dim or rotary_dim 2); at every real width the rotation is right."""
    return dict(rope=RescaledBase)


@mutant(catches=ALL, spec=SPEC)
def head_dim_2_divides_by_zero_and_sign_flipped():
    """The base rescale's division by zero at head_dim 2 and, behind it, rotate_half's sign flipped: the crash fails
    ROPE-EDGE-01 alone and hides nothing, every value clause still sees the rotation turn the wrong way."""
    def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None):
        width = head_dim if rotary_dim is None else rotary_dim
        base *= 1.0 ** (width / (width - 2))
        return Rope(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, sign=-1)
    return dict(rope=rope)


@mutant(catches="ROPE-EDGE-01", spec=SPEC, conventions={"rope.pairing": "interleaved"})
def meta_llama_reshape_fails_on_empty_batch():
    """Meta's Llama apply_rotary_emb as written: x.reshape(*x.shape[:-1], -1, 2) cannot infer -1 for an empty batch
    (a RuntimeError); every non-empty batch is rotated right."""
    return dict(rope=meta_llama(pairs="-1"))


# -- bad sizes: refused, but not with a documented error -------------------------------------------


@mutant(catches="ROPE-ODD-01", spec=SPEC, conventions={"rope.pairing": "interleaved"})
def odd_head_dim_fails_in_reshape():
    """Meta's Llama without a check of head_dim: an odd one is refused only by torch's view_as_complex, a
    RuntimeError that does not name it (the must level holds, the should level does not)."""
    return dict(rope=meta_llama(check_odd=False))


@mutant(catches="ROPE-ROTDIM-02", spec=SPEC)
def rotary_dim_checked_by_assert():
    """`assert rotary_dim <= head_dim and rotary_dim % 2 == 0`: refused, by an AssertionError that names nothing (and
    that python -O removes)."""
    def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, device=None):
        assert rotary_dim is None or 0 < rotary_dim <= head_dim and rotary_dim % 2 == 0
        return RotaryEmbedding(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, device=device)
    return dict(rope=rope)


# -- optional features -----------------------------------------------------------------------------


@variant(spec=SPEC, unsupported={"rope.batched_positions", "rope.base"})
def one_position_vector_and_fixed_base():
    """Correct, without two optional features it declares unsupported: the base is fixed at 10000 (no base=
    keyword) and positions must be one (S,) vector for the whole batch."""
    def rope(head_dim, *, max_seq_len=4096, rotary_dim=None, device=None):
        inner = RotaryEmbedding(head_dim, max_seq_len=max_seq_len, rotary_dim=rotary_dim, device=device)

        def apply(x, positions):
            if positions.dim() != 1:
                raise ValueError(f"positions must be of shape (S,), got {tuple(positions.shape)}")
            return inner(x, positions)
        return apply
    return dict(rope=rope)
