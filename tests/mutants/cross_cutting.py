"""Cross-cutting mutants: device placement, dtypes, autograd, purity, call sequences, autocast and compilation.

Each mutant breaks one family the way real code does, and must fail exactly the
cross-cutting clauses listed (the clauses are written once for every family, so a
bug in one family shows in several of them: a table kept as a plain attribute
neither moves nor casts, an in-place add also changes the oracle's input).
"""

import functools

import torch
from torch import nn

import embedspec.reference as reference
from embedspec import optin
from embedspec.reference.learned_positional import LearnedPositionalEmbedding
from embedspec.reference.rope import RotaryEmbedding, rotate_half
from embedspec.reference.token_embedding import TokenEmbedding, check_ids

from .catalogue import mutant, variant
from .learned_positional import Learned
from .sinusoidal import Module as SinusoidalModule

DEVICES, DTYPES, AUTOGRAD = "spec/test_devices.py", "spec/test_dtypes.py", "spec/test_autograd.py"
PURITY, STATEFUL, AUTOCAST = "spec/test_purity.py", "spec/test_stateful.py", "spec/test_autocast.py"
ALL = (DEVICES, DTYPES, AUTOGRAD, PURITY, STATEFUL, AUTOCAST)
ACCELERATOR = torch.cuda.is_available() or (getattr(torch.backends, "mps", None) is not None
                                            and torch.backends.mps.is_available())


def _require_float(tensor, what):
    if not tensor.is_floating_point():
        raise TypeError(f"{what} must be a floating tensor, got dtype {tensor.dtype}")


def families(**overrides):
    """The families a mutant replaces (the rest come from the reference)."""
    return overrides


def _rope_class(cls):
    def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, device=None):
        return cls(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, device=device)
    return rope


# -- every other legal convention at once -----------------------------------------------------------
#
# Small device-safe implementations, so that the cross-cutting clauses are shown to hold, without a false
# positive, for an implementation whose every convention differs from the reference's.

OTHER_CONVENTIONS = {
    "token_embedding.scale": "sqrt_dim", "sinusoidal.layout": "split", "sinusoidal.frequencies": "endpoint",
    "sinusoidal.beyond_max_len": "extend", "learned_positional.scale": "inv_sqrt_dim", "rope.pairing": "interleaved",
    "alibi.mode": "causal", "sincos_2d.order": "wh", "hybrid.switch": "position",
}


def split_endpoint_table(positions, dim, base=10000.0):
    """sin in the first half, cos in the second; w_i = base^(-i/(dim/2 - 1)); float64, on positions' device."""
    i = torch.arange(dim // 2, dtype=torch.float64, device=positions.device)
    angles = positions.to(torch.float64)[:, None] * base ** (-i / (dim // 2 - 1))
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def other_encoding(num_positions, dim, *, base=10000.0, device=None, dtype=None):
    if dim < 4 or dim % 2:
        raise ValueError(f"dim must be an even number >= 4, got {dim}")
    if num_positions < 0:
        raise ValueError(f"num_positions must be >= 0, got {num_positions}")
    table = split_endpoint_table(torch.arange(num_positions, device=device), dim, base)
    return table.to(dtype or torch.get_default_dtype())


class ExtendingSinusoidal(nn.Module):
    def __init__(self, dim, max_len, *, base=10000.0, device=None, dtype=None):
        super().__init__()
        self.base = base
        self.register_buffer("table", other_encoding(max_len, dim, base=base, device=device, dtype=dtype))

    def forward(self, x):
        seq = x.size(1)
        if seq <= self.table.shape[0]:
            return x + self.table[:seq]
        positions = torch.arange(seq, device=x.device)  # past max_len: the formula, afresh
        return x + split_endpoint_table(positions, x.size(2), self.base).to(self.table.dtype)


class ScaledTokens(TokenEmbedding):
    def forward(self, ids):
        return super().forward(ids) * self.embedding_dim**0.5


class ScaledRows(nn.Module):
    def __init__(self, max_len, dim, *, device=None, dtype=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim, device=device, dtype=dtype) * 0.02)

    def forward(self, x, positions=None):
        if positions is None:
            if x.size(1) > self.weight.shape[0]:
                raise ValueError(f"sequence length {x.size(1)} exceeds max_len {self.weight.shape[0]}")
            positions = torch.arange(x.size(1), device=x.device)
        else:
            check_ids(positions, self.weight.shape[0], what="position")
        return x + self.weight[positions] * self.weight.shape[1] ** -0.5


def other_transformer_embedding(vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0,
                                device=None, dtype=None):
    """The reference's sum and single dropout, with the parts in the other conventions."""
    module = reference.transformer_embedding(vocab_size, dim, max_len, positional=positional, padding_idx=padding_idx,
                                             dropout=dropout, device=device, dtype=dtype)
    module.token_embedding = ScaledTokens(vocab_size, dim, padding_idx=padding_idx, device=device, dtype=dtype)
    parts = {"learned": ScaledRows, "sinusoidal": ExtendingSinusoidal}
    module.positional = parts[positional](*((max_len, dim) if positional == "learned" else (dim, max_len)),
                                          device=device, dtype=dtype)
    return module


def rotate_every_two(x):  # (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)


class InterleavedRope(RotaryEmbedding):
    def forward(self, x, positions):
        _require_float(x, "x")
        angles = positions.float()[..., None] * self.inv_freq
        angles = angles.repeat_interleave(2, dim=-1).unsqueeze(-2)  # pairs (2k, 2k + 1)
        work = x.float()
        return (work * angles.cos() + rotate_every_two(work) * angles.sin()).to(x.dtype)


def other_sincos_2d(height, width, dim, *, base=10000.0, device=None, dtype=None):
    if dim <= 0 or dim % 4:
        raise ValueError(f"dim must be a positive multiple of 4, got {dim}")
    cells = torch.arange(height * width, device=device)
    rows = split_endpoint_table(cells // width, dim // 2, base)
    cols = split_endpoint_table(cells % width, dim // 2, base)
    return torch.cat([cols, rows], dim=-1).to(dtype or torch.get_default_dtype())  # wh: the column first


class PositionSwitchHybrid(nn.Module):
    def __init__(self, max_len, dim, *, base=10000.0, device=None, dtype=None):
        super().__init__()
        self.base = base
        self.weight = nn.Parameter(torch.randn(max_len, dim, device=device, dtype=dtype) * 0.02)

    def forward(self, x):
        seq, max_len = x.size(1), self.weight.shape[0]
        if seq <= max_len:
            return x + self.weight[:seq]
        tail = split_endpoint_table(torch.arange(max_len, seq, device=x.device), x.size(2), self.base)
        return x + torch.cat([self.weight, tail.to(self.weight.dtype)], dim=0)


def other_tied(num_embeddings, embedding_dim, *, device=None, dtype=None):
    module = reference.tied_embedding(num_embeddings, embedding_dim, device=device, dtype=dtype)
    module.embed.__class__ = ScaledTokens
    return module


def _causal_alibi():
    from .alibi import bloom_causal

    return dict(alibi_slopes=bloom_causal.alibi_slopes, alibi_bias=bloom_causal.alibi_bias)


@variant(spec=ALL, conventions=OTHER_CONVENTIONS)
def every_other_convention_everywhere():
    """Correct: every convention at its other value, in every family at once."""
    return families(
        token_embedding=lambda n, d, *, padding_idx=None, device=None, dtype=None: ScaledTokens(
            n, d, padding_idx=padding_idx, device=device, dtype=dtype),
        sinusoidal_encoding=other_encoding, sinusoidal_module=ExtendingSinusoidal, learned_positional=ScaledRows,
        transformer_embedding=other_transformer_embedding,
        rope=_rope_class(InterleavedRope),
        sincos_2d=other_sincos_2d, hybrid_positional=PositionSwitchHybrid, tied_embedding=other_tied,
        **_causal_alibi())


# -- rotary embeddings with a cos/sin cache grown on demand (GPT-NeoX, early Llama, many ports) -----


class CachedRope(nn.Module):
    """RoPE (half pairing) reading cos/sin from a cache of positions 0..n-1, grown when a call needs more.

    The cache is a plain attribute, rebuilt when the device changes, always float32. ``bug`` turns one
    knob the wrong way.
    """

    def __init__(self, head_dim, *, base=10000.0, max_seq_len=4096, device=None, bug=None):
        super().__init__()
        self.head_dim, self.base, self.max_seq_len, self.bug = head_dim, base, max_seq_len, bug
        self.cos_cache = self.sin_cache = None

    def _angles(self, positions):  # float32 angles of integer positions
        exponent = torch.arange(0, self.head_dim, 2, dtype=torch.float64, device=positions.device) / self.head_dim
        inv_freq = (1.0 / self.base**exponent).float()
        return positions.float()[:, None] * inv_freq  # (n, head_dim/2)

    def _grow(self, needed, device):
        if self.cos_cache is not None and self.cos_cache.device != device:
            self.cos_cache = self.sin_cache = None
        cached = 0 if self.cos_cache is None else self.cos_cache.shape[0]
        if needed <= cached:
            return
        if self.bug == "default_device":
            new = torch.arange(cached, needed)  # on the default device
        elif self.bug == "grow_from_zero":
            new = torch.arange(needed - cached, device=device)  # restarts at 0 instead of continuing at `cached`
        else:
            new = torch.arange(cached, needed, device=device)
        angles = self._angles(new)
        cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
        if cached:
            cos, sin = torch.cat([self.cos_cache, cos]), torch.cat([self.sin_cache, sin])
        self.cos_cache, self.sin_cache = cos, sin

    def forward(self, x, positions):  # x: (B, S, H, D); positions (S,) or (B, S)
        _require_float(x, "x")
        if not torch.compiler.is_compiling():
            check_ids(positions, self.max_seq_len, what="position")
        self._grow(int(positions.max()) + 1, x.device)  # a data-dependent size
        cos, sin = self.cos_cache[positions].unsqueeze(-2), self.sin_cache[positions].unsqueeze(-2)
        rotated = x.float() * cos + rotate_half(x.float()) * sin
        return rotated.to(x.dtype)


def cached_rope(**options):
    def rope(head_dim, *, base=10000.0, max_seq_len=4096):
        module = CachedRope(head_dim, base=base, max_seq_len=max_seq_len, **options)
        return module

    return rope


@variant(spec=ALL)
def rope_with_growing_cache():
    """Correct: a rotary embedding whose float32 cos/sin cache grows on demand, on the input's device."""
    return families(rope=cached_rope())


@mutant(catches="DEV-STRAY-01", spec=ALL)
def rope_cache_on_default_device():
    """The cos/sin cache is built from a bare torch.arange, on the default device, not the input's."""
    return families(rope=cached_rope(bug="default_device"))


@mutant(catches="DEV-BUILD-01", spec=ALL)
def learned_table_ignores_device():
    """The factory takes device= but makes its table with torch.empty(max_len, dim, dtype=dtype): built on the meta
    device to load a sharded checkpoint, or on a GPU, the table is allocated on the CPU."""
    def learned_positional(max_len, dim, *, device=None, dtype=None):
        return LearnedPositionalEmbedding(max_len, dim, dtype=dtype)
    return families(learned_positional=learned_positional)


@mutant(catches={"SEQ-CALLS-01", "DEV-PREC-01", "AUTOCAST-ANGLE-01"}, spec=ALL)
def rope_cache_grows_from_zero():
    """When the cache grows, the new rows are computed for positions 0.. instead of continuing where it ended:
    right on the first call, wrong for every position added later (a decoder's every step after the first)."""
    return families(rope=cached_rope(bug="grow_from_zero"))


# -- devices ---------------------------------------------------------------------------------------


@mutant(catches="DEV-STRAY-01", spec=ALL)
def learned_positions_bare_arange():
    """The default positions are torch.arange(S) without device=: on the default device, not x's."""
    return families(learned_positional=lambda max_len, dim: Learned(max_len, dim, bare_arange=True))


@mutant(catches={"DEV-MOVE-01", "DEV-CAST-01", "DEV-PREC-01", "DTYPE-VAL-01", "SEQ-CALLS-01", "AUTOCAST-DTYPE-01"},
        spec=ALL)
def sinusoidal_table_plain_attribute():
    """The table is a plain attribute, not a buffer: .to(device) and .half() never reach it."""
    return families(sinusoidal_module=lambda dim, max_len, *, base=10000.0: SinusoidalModule(
        dim, max_len, base=base, storage="attribute"))


class LazyLearned(nn.Module):
    """A learned table initialised on the first forward call, behind a flag that state_dict does not save."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.zeros(max_len, dim))
        self.initialised = False

    def forward(self, x, positions=None):
        if not self.initialised:
            with torch.no_grad():
                self.weight.normal_(0.0, 0.02)
            self.initialised = True
        if positions is None:
            if x.size(1) > self.max_len:
                raise ValueError(f"sequence length {x.size(1)} exceeds max_len {self.max_len}")
            positions = torch.arange(x.size(1), device=x.device)
        else:
            check_ids(positions, self.max_len, what="position")
        return x + self.weight[positions]


@mutant(catches={"DEV-STATE-01", "DEV-STRAY-01", "PURE-STATE-01"}, spec=ALL)
def learned_table_initialised_lazily():
    """The table is initialised on the first call: a module loaded from a saved state_dict overwrites what was
    loaded the first time it runs."""
    return families(learned_positional=LazyLearned)


class CastRope(RotaryEmbedding):
    """The reference rotary embedding without its guard: .to(torch.bfloat16) casts the frequencies too."""

    _apply = nn.Module._apply


@mutant(catches={"DEV-PREC-01", "SEQ-CALLS-01"}, spec=ALL)
def rope_frequencies_cast_with_model():
    """The inverse frequencies are a buffer cast with the model: in bfloat16 they keep three significant digits
    and the angle p * w is off by radians at positions in the tens of thousands."""
    return families(rope=_rope_class(CastRope))


class Float32Rope(RotaryEmbedding):
    """Computes in float32 and forgets to cast back to x's dtype."""

    def forward(self, x, positions):
        _require_float(x, "x")
        return super().forward(x.float(), positions)


@mutant(catches={"DEV-CAST-01", "DEV-PREC-01", "DTYPE-VAL-01", "SEQ-CALLS-01", "AUTOCAST-DTYPE-01"}, spec=ALL)
def rope_returns_float32():
    """The rotation is computed in float32 and returned in float32, whatever x's dtype."""
    return families(rope=_rope_class(Float32Rope))


class HalfOnAcceleratorRope(RotaryEmbedding):
    """Rotates in float16 on an accelerator (a 'fast path'), in float32 on the CPU."""

    def forward(self, x, positions):
        if x.device.type == "cpu":
            return super().forward(x, positions)
        return super().forward(x.half(), positions).to(x.dtype)


# Only an accelerator shows this one; on a CPU-only machine it is correct and must fail nothing.
@mutant(catches={"DEV-ACC-01"} if ACCELERATOR else (),
        spec=("spec/test_devices.py::test_cpu_and_accelerator_agree",
              "spec/test_devices.py::test_state_dict_round_trip"))
def rope_half_precision_on_accelerator():
    """On an accelerator the rotation is computed in float16: CPU and accelerator disagree by float16 rounding."""
    return families(rope=_rope_class(HalfOnAcceleratorRope))


# -- dtypes ----------------------------------------------------------------------------------------


def _encoding_ignoring_dtype(num_positions, dim, *, base=10000.0, device=None, dtype=None):
    return reference.sinusoidal_encoding(num_positions, dim, base=base, device=device)  # dtype= accepted, never used


@mutant(catches={"DTYPE-VAL-01", "DEV-PREC-01"}, spec=ALL)
def sinusoidal_encoding_ignores_dtype():
    """sinusoidal_encoding accepts dtype= and always returns float32."""
    return families(sinusoidal_encoding=_encoding_ignoring_dtype)


class TruncatingTokenEmbedding(TokenEmbedding):
    def forward(self, ids):
        return super().forward(ids.long())  # 2.7 -> 2


@mutant(catches={"DTYPE-ERR-01", "DTYPE-REFUSE-01"}, spec=ALL)
def token_ids_truncated():
    """Floating ids are converted with .long() and looked up: 2.7 becomes 2, silently."""
    return families(token_embedding=lambda n, d, *, padding_idx=None, device=None, dtype=None: TruncatingTokenEmbedding(
        n, d, padding_idx=padding_idx, device=device, dtype=dtype))


class TorchCheckedTokenEmbedding(TokenEmbedding):
    def forward(self, ids):  # no check of its own: torch.embedding refuses float ids with its RuntimeError
        return nn.Embedding.forward(self, ids)


@mutant(catches="DTYPE-ERR-01", spec=ALL)
def token_dtype_left_to_torch():
    """Float ids reach torch.embedding, whose RuntimeError refuses them (the must level holds) but is not a
    documented error type: nn.Embedding's behaviour, a should gap only."""
    return families(token_embedding=lambda n, d, *, padding_idx=None, device=None, dtype=None:
                    TorchCheckedTokenEmbedding(n, d, padding_idx=padding_idx, device=device, dtype=dtype))


class TruncatingRope(RotaryEmbedding):
    """The reference's rotation without its dtype check."""

    def forward(self, x, positions):
        angles = positions.float()[..., None] * self.inv_freq
        angles = torch.cat([angles, angles], dim=-1).unsqueeze(-2)
        x_rot, x_pass = x[..., : self.rotary_dim].float(), x[..., self.rotary_dim:]
        rotated = x_rot * angles.cos() + rotate_half(x_rot) * angles.sin()
        return torch.cat([rotated.to(x.dtype), x_pass], dim=-1)


@mutant(catches={"DTYPE-ERR-02", "DTYPE-REFUSE-01"}, spec=ALL)
def rope_rotates_integers():
    """Integer x is rotated in float32 and cast back to integers: the rotation is truncated, silently."""
    return families(rope=_rope_class(TruncatingRope))


# -- autograd --------------------------------------------------------------------------------------


class _WrongBackwardRotation(torch.autograd.Function):
    """A fused rotation whose backward rotates by +theta; the gradient of a rotation is the rotation by -theta."""

    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return x * cos + rotate_half(x) * sin

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return grad * cos + rotate_half(grad) * sin, None, None


class FusedRope(RotaryEmbedding):
    def forward(self, x, positions):
        _require_float(x, "x")
        angles = positions.float()[..., None] * self.inv_freq
        angles = torch.cat([angles, angles], dim=-1).unsqueeze(-2)  # float32
        return _WrongBackwardRotation.apply(x, angles.cos().to(x.dtype), angles.sin().to(x.dtype))


@mutant(catches="GRAD-CHECK-01", spec=ALL)
def rope_backward_rotates_the_wrong_way():
    """A hand-written backward for a fused rotary kernel rotates the gradient by +theta instead of -theta."""
    return families(rope=_rope_class(FusedRope))


@mutant(catches={"GRAD-FLOW-01", "GRAD-NOGRAPH-01"}, spec=ALL)
def sinusoidal_table_is_parameter():
    """The fixed table is an nn.Parameter: an optimiser trains what the paper keeps fixed."""
    return families(sinusoidal_module=lambda dim, max_len, *, base=10000.0: SinusoidalModule(
        dim, max_len, base=base, storage="parameter"))


class PaddingTrained(TokenEmbedding):
    """The padding row is zeroed at construction, but the lookup is told no padding_idx: the row trains."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.padding_idx = None


@mutant(catches="GRAD-FLOW-01", spec=ALL)
def padding_row_trained():
    """The padding row starts at zero but receives gradient: padding is learned as a token."""
    return families(token_embedding=lambda n, d, *, padding_idx=None, device=None, dtype=None: PaddingTrained(
        n, d, padding_idx=padding_idx, device=device, dtype=dtype))


@mutant(catches="GRAD-NOGRAPH-01", spec=ALL)
def alibi_slopes_are_parameter():
    """The slopes come back as an nn.Parameter: every bias built from them drags an autograd graph along."""
    def alibi_slopes(num_heads, *, device=None, dtype=None):
        return nn.Parameter(reference.alibi_slopes(num_heads, device=device, dtype=dtype))
    return families(alibi_slopes=alibi_slopes)


# -- purity ----------------------------------------------------------------------------------------


class InPlaceSinusoidal(SinusoidalModule):
    def forward(self, x):
        x += self.table[: x.size(1)]  # in place: the caller's tensor changes
        return x


# The oracle of every value clause is computed from the inputs after the call, which this bug changed.
@mutant(catches={"PURE-INPUT-01", "PURE-REPEAT-01", "PURE-STATE-01", "DEV-CAST-01", "DEV-PREC-01", "DTYPE-VAL-01",
                 "GRAD-CHECK-01", "GRAD-FLOW-01", "SEQ-CALLS-01", "AUTOCAST-ANGLE-01"}, spec=ALL)
def sinusoidal_adds_in_place():
    """x += PE[:S]: the caller's input is modified, so calling twice adds the encoding twice."""
    return families(sinusoidal_module=lambda dim, max_len, *, base=10000.0: InPlaceSinusoidal(dim, max_len, base=base))


class CountingLearned(Learned):
    """Default positions continue from the previous call (a decoding counter that is never reset)."""

    def __init__(self, max_len, dim):
        super().__init__(max_len, dim)
        self.step = 0

    def forward(self, x, positions=None):
        if positions is not None:
            return super().forward(x, positions)
        seq = x.size(1)
        if seq > self.max_len:
            raise ValueError(f"sequence length {seq} exceeds max_len {self.max_len}")
        positions = (torch.arange(seq, device=x.device) + self.step) % self.max_len
        self.step += seq
        return x + self.weight[positions]


@mutant(catches={"PURE-REPEAT-01", "PURE-STATE-01", "PURE-BATCH-01", "GRAD-CHECK-01", "SEQ-CALLS-01"}, spec=ALL)
def learned_positions_keep_counting():
    """The default positions continue from the last call, as a decoding counter does: the second call of the
    same sequence gets other positions."""
    return families(learned_positional=CountingLearned)


@functools.lru_cache(maxsize=None)
def _shared_table(num_positions, dim, base, device, dtype):
    return reference.sinusoidal_encoding(num_positions, dim, base=base, device=device, dtype=dtype)


@mutant(catches="PURE-STATE-01", spec=ALL)
def sinusoidal_table_shared_from_cache():
    """Tables are memoised with functools.lru_cache and the cached tensor itself is returned: a caller who
    scales it in place changes every later table."""
    def sinusoidal_encoding(num_positions, dim, *, base=10000.0, device=None, dtype=None):
        return _shared_table(num_positions, dim, base, device, dtype)
    return families(sinusoidal_encoding=sinusoidal_encoding)


class SeqFirstSinusoidal(nn.Module):
    """The PyTorch tutorial's (max_len, 1, d) table sliced by x.size(0), fed batch-first input: row b of the
    batch gets position b's encoding at every step."""

    def __init__(self, dim, max_len, *, base=10000.0):
        super().__init__()
        table = reference.sinusoidal_encoding(max_len, dim, base=base)
        self.register_buffer("pe", table.unsqueeze(1))  # (max_len, 1, d)

    def forward(self, x):
        return x + self.pe[: x.size(0)]


@mutant(catches={"PURE-BATCH-01", "DTYPE-VAL-01", "DEV-CAST-01", "DEV-PREC-01", "SEQ-CALLS-01", "AUTOCAST-ANGLE-01"},
        spec=ALL)
def sinusoidal_sliced_by_batch_size():
    """pe[:x.size(0)] on batch-first input: the encoding depends on the row's place in the batch."""
    return families(sinusoidal_module=SeqFirstSinusoidal)


# -- call sequences --------------------------------------------------------------------------------


class FirstDtypeSinusoidal(SinusoidalModule):
    """Caches the table converted to the first call's dtype, keyed on length alone."""

    def forward(self, x):
        if getattr(self, "_converted", None) is None:
            self._converted = self.table.to(x.dtype)
        return x + self._converted[: x.size(1)]


@mutant(catches="SEQ-CALLS-01", spec=ALL)
def sinusoidal_cache_keeps_first_dtype():
    """The table is converted to x's dtype once and kept: after a bfloat16 call, float32 calls get bfloat16 values."""
    return families(sinusoidal_module=lambda dim, max_len, *, base=10000.0: FirstDtypeSinusoidal(dim, max_len,
                                                                                                  base=base))


# -- compilation (run with the compile properties switched on, on the aot_eager backend) -------------

COMPILE_ON = ((optin, "COMPILE_BY_DEFAULT", True), (optin, "COMPILE_BACKEND", "aot_eager"))


def _compile_cases(*names):
    return tuple(f"spec/test_compile.py::{test}[{clause}-{name}-cpu]" for name in names
                 for test, clause in (("test_compiled_agrees_with_eager", "COMPILE-EAGER-01"),
                                      ("test_dynamic_length_compiles_once", "COMPILE-DYN-01")))


@mutant(catches={"COMPILE-EAGER-01", "COMPILE-DYN-01"}, spec=_compile_cases("rope", "relative_shift"),
        torch_patches=COMPILE_ON)
def rope_cache_sized_by_item():
    """The cache is sized with int(positions.max()): a data-dependent value, so fullgraph compilation breaks."""
    return families(rope=cached_rope())


class MemoSinusoidal(SinusoidalModule):
    """Memoises x + table slices per length in a dict: dynamo guards on the dict and recompiles for each length."""

    def forward(self, x):
        memo = self.__dict__.setdefault("_memo", {})
        seq = x.size(1)
        if seq not in memo:
            memo[seq] = self.table[:seq].clone()
        return x + memo[seq]


@mutant(catches="COMPILE-DYN-01", spec=_compile_cases("sinusoidal_module", "relative_shift"),
        torch_patches=COMPILE_ON)
def sinusoidal_memo_per_length():
    """A per-length memo of the table slice: correct, but every new length is a new graph."""
    return families(sinusoidal_module=lambda dim, max_len, *, base=10000.0: MemoSinusoidal(dim, max_len, base=base))


@mutant(catches=(), spec=_compile_cases("sinusoidal_module", "rope"), torch_patches=COMPILE_ON)
def compiles_cleanly():
    """Correct: the reference's sinusoidal module and rotary embedding compile in one graph for all lengths."""
    return families()


# -- autocast --------------------------------------------------------------------------------------


class MatmulAnglesRope(RotaryEmbedding):
    """transformers' Llama rotary embedding of 4.38 before PR #29285: the angles come from a matmul,
    inv_freq[None, :, None] @ positions[:, None, :], which autocast runs in bfloat16."""

    def forward(self, x, positions):  # x: (B, S, H, D); positions (S,) or (B, S)
        _require_float(x, "x")
        rows = positions if positions.dim() == 2 else positions[None]  # (B', S)
        inv_freq = self.inv_freq[None, :, None].float().expand(rows.shape[0], -1, 1)  # (B', D_r/2, 1)
        freqs = (inv_freq @ rows[:, None, :].float()).transpose(1, 2)  # (B', S, D_r/2)
        freqs = freqs if positions.dim() == 2 else freqs[0]
        emb = torch.cat([freqs, freqs], dim=-1).unsqueeze(-2)  # (..., S, 1, D_r)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        x_rot, x_pass = x[..., : self.rotary_dim], x[..., self.rotary_dim:]
        return torch.cat([x_rot * cos + rotate_half(x_rot) * sin, x_pass], dim=-1)


@mutant(catches="AUTOCAST-ANGLE-01", spec=ALL)
def rope_angles_from_autocast_matmul():
    """transformers#29285: under torch.autocast the matmul that forms the angles runs in bfloat16, positions past 256
    rounded to 8 bits; a float32 model without autocast is exact, so no cast or dtype clause sees it."""
    return families(rope=_rope_class(MatmulAnglesRope))


class _Rotation(torch.autograd.Function):
    """The rotation as a custom autograd function, prepared for mixed precision the way the AMP recipe for custom
    functions says: under CPU autocast its floating inputs are cast to bfloat16 and it runs there."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.bfloat16)
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return x * cos + rotate_half(x) * sin

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return grad * cos - rotate_half(grad * sin), None, None  # the transposed rotation, R(-p w)


class CustomFunctionRope(RotaryEmbedding):
    def forward(self, x, positions):  # x: (B, S, H, D); positions (S,) or (B, S)
        _require_float(x, "x")
        angles = positions.float()[..., None] * self.inv_freq  # float32, outside the function
        emb = torch.cat([angles, angles], dim=-1).unsqueeze(-2)
        x_rot, x_pass = x[..., : self.rotary_dim], x[..., self.rotary_dim:]
        rotated = _Rotation.apply(x_rot, emb.cos().to(x.dtype), emb.sin().to(x.dtype))
        return torch.cat([rotated, x_pass.to(rotated.dtype)], dim=-1)


@mutant(catches="AUTOCAST-DTYPE-01", spec=ALL)
def rope_custom_function_casts_to_autocast_dtype():
    """A custom autograd rotation with torch.amp.custom_fwd(cast_inputs=torch.bfloat16): under autocast float32 q and
    k come back in bfloat16 (the angles were formed in float32, so the values are right to bfloat16 rounding), and
    the attention after it runs in another dtype than the model's."""
    return families(rope=_rope_class(CustomFunctionRope))


# -- a sinusoidal table extended past max_len after a cast -----------------------------------------


class CastDtypeExtendingSinusoidal(ExtendingSinusoidal):
    """Extends past max_len from torch.arange(seq, dtype=self.table.dtype): the Llama cache bug (transformers #25681)
    in a sinusoidal module, positions rounded to the dtype the model was cast to."""

    def forward(self, x):
        seq = x.size(1)
        if seq <= self.table.shape[0]:
            return x + self.table[:seq]
        positions = torch.arange(seq, device=x.device, dtype=self.table.dtype)
        return x + split_endpoint_table(positions, x.size(2), self.base).to(self.table.dtype)


@mutant(catches="DEV-PREC-01", spec=ALL, conventions=OTHER_CONVENTIONS)
def sinusoidal_extension_in_cast_dtype():
    """Every other convention, and a sinusoidal module that extends its table past max_len from positions in its
    buffer's dtype: exact in float32 and within the table it built, but after model.half() the positions past 2048
    are rounded to 11 significant bits, after .to(torch.bfloat16) those past 256 to 8."""
    return {**{name: getattr(every_other_convention_everywhere, name) for name in vars(every_other_convention_everywhere)
               if name not in ("conventions", "unsupported")},
            "sinusoidal_module": CastDtypeExtendingSinusoidal}
