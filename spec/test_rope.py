"""Rotary position embedding, RoPE (Su et al., 2021, RoFormer; GPT-NeoX, GPT-J, Llama).

f(x, positions) rotates each pair of features of every head of a token at position
p by the angle p * w_k, w_k = base^(-2k/d): the complex multiplication
(a + ib) * exp(i p w_k). The declared `rope.pairing` says which features pair up.
Every property runs with positions of shape (S,) and (B, S) (where the implementation has
`rope.batched_positions`) and any number of heads.

Domains. The properties draw from the ordinary domain: head_dim from 4 up to 256 (small
widths, and the ones real models use: 64, 80, 96, 128, 256), rotary_dim from 4, batch >= 1,
seq >= 2, a base other than 10000 only where the implementation has `rope.base`. The
degenerate sizes - head_dim 2 and rotary_dim 2 (one pair), a single token, an empty batch -
are ROPE-EDGE-01's alone, so that an implementation that fails at one of them fails that
clause and is still judged on its rotation at the widths models use.

Past the cache. An implementation may keep a cos/sin cache for max_seq_len positions; a
position past it gets its correct rotation (the cache extended) or is refused. The
precision and beyond-the-cache clauses also call the module cast to bfloat16 and float16,
with positions past max_seq_len, both in one call and one token at a time in order, as a
decoder calls it: a cache regrown after the cast must still form its angles in float32.

Tolerance (``tolerances.rotation_atol``): per feature, 4 eps32 (|p w_k| + 2) times
the size |a| + |b| of the feature's pair, for the angle formed in float32 or better,
plus 4 roundings in the output dtype (float32 at least) of that size, for the
arithmetic. A correct float32 implementation stays well inside it; an angle formed
in bfloat16 is off by a radian at position 300.
"""

import inspect
from typing import NamedTuple

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_relative as oracles
from . import strategies as sts
from . import tolerances
from .calls import (assert_close, assert_equal, assert_raises_naming, assert_refused, build, call_documented,
                    names_value)
from .diagnose import raise_naming_convention

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16
DEFAULT_BASE = 10000.0
REAL_HEAD_DIMS = (64, 80, 96, 128, 256)  # GPT-2 and Llama 1B, Phi-2, Phi-3, Llama 7B and up, Gemma


class Case(NamedTuple):
    """A small batch: x of shape (batch, seq, heads, head_dim), positions (seq,) or (batch, seq)."""

    batch: int
    seq: int
    heads: int
    head_dim: int
    batched: bool  # positions of shape (B, S) rather than (S,)
    seed: int

    def x(self, dtype=F32, seed_offset=0):
        return sts.randn((self.batch, self.seq, self.heads, self.head_dim), self.seed + seed_offset, dtype)

    def positions(self, low=0, high=2048, seed_offset=1):
        shape = (self.batch, self.seq) if self.batched else (self.seq,)
        return sts.randint(low, high, shape, self.seed + seed_offset)


def head_dims(max_value=256):
    """Even head widths of the ordinary domain, 4 .. max_value: small ones (cheap, and where a failure shrinks to),
    the widths real models use, and any in between."""
    real = [d for d in REAL_HEAD_DIMS if d <= max_value] or [max_value]
    return st.one_of(sts.even_dims(4, min(32, max_value)), st.sampled_from(real), sts.even_dims(4, max_value))


@st.composite
def cases(draw, max_batch=3, max_seq=8, max_heads=4, max_head_dim=256):
    """Cases of the ordinary domain: batch >= 1, seq >= 2, head_dim >= 4 (the edges are ROPE-EDGE-01's)."""
    return Case(batch=draw(st.integers(1, max_batch)), seq=draw(st.integers(2, max_seq)),
                heads=draw(st.integers(1, max_heads)), head_dim=draw(head_dims(max_head_dim)),
                batched=draw(st.booleans()), seed=draw(sts.seeds()))


def _supported(case, supports):
    """The case with (S,) positions where the implementation has no (B, S) positions (`rope.batched_positions`)."""
    return case if supports("rope.batched_positions") else case._replace(batched=False)


def _base(base, supports):
    """The drawn base, or 10000 where the implementation has no other (`rope.base`)."""
    return base if supports("rope.base") else DEFAULT_BASE


def _rope(rope, head_dim, *, base=DEFAULT_BASE, **kwargs):
    """The factory's rotation; base= passed only when it is not the default, which every implementation has."""
    if base != DEFAULT_BASE:
        kwargs["base"] = base
    return build(rope, head_dim, **kwargs)


def _built_and_called(rope, head_dim, seq, **kwargs):
    """A thunk that builds f and calls it on zeros of shape (1, seq, 1, head_dim): a bad size may be rejected by
    either step."""
    def call():
        f = _rope(rope, head_dim, **kwargs)
        return f(torch.zeros(1, seq, 1, head_dim), torch.arange(seq))
    return call


def _cast(f, dtype):
    """Cast the module the way a model is cast (.half(), .to(torch.bfloat16)); a plain callable as it is."""
    if not isinstance(f, torch.nn.Module):
        return f
    return f.half() if dtype == F16 else f.to(dtype)


def _checked(out, x):
    assert isinstance(out, torch.Tensor), f"f(x, positions) returned a {type(out).__name__}"
    assert tuple(out.shape) == tuple(x.shape), f"output shape {tuple(out.shape)}, input {tuple(x.shape)}"
    return out


def _apply(f, x, positions):
    """f(x, positions) on copies (in-place writes are ROPE-INPLACE-01's business), checked for shape."""
    return _checked(f(x.clone(), positions.clone()), x)


def _rotated(f, x, positions, *, decode=False, may_refuse_from=None):
    """f's rotation of x at positions, in one call or (``decode``) one token at a time in order, as a decoder calls
    it. A call that reaches a position >= ``may_refuse_from`` may be refused by any exception (the must level of
    ROPE-BEYOND-01; ROPE-BEYOND-02 judges the error): then None."""
    steps = [slice(s, s + 1) for s in range(x.shape[1])] if decode else [slice(None)]
    outs = []
    for step in steps:
        xs, ps = x[:, step], positions[..., step]
        if may_refuse_from is None or int(ps.max()) < may_refuse_from:
            outs.append(_apply(f, xs, ps))
            continue
        try:
            out = f(xs.clone(), ps.clone())
        except Exception:
            return None
        outs.append(_checked(out, xs))
    return torch.cat(outs, dim=1)


def _in_decoding_order(positions):
    """Positions as a decoder meets them: increasing along the sequence."""
    return positions.sort(dim=-1).values


def _bound(x, positions, pairing, base=DEFAULT_BASE, dtype=F32, rotary_dim=None, operations=4):
    """Per-feature tolerance for rotating x at positions (``tolerances.rotation_atol``)."""
    head_dim = x.shape[-1]
    angle = oracles.rope_feature_angles(positions, rotary_dim or head_dim, pairing, base, head_dim)
    magnitude = oracles.rope_pair_magnitude(x, pairing, rotary_dim)
    return tolerances.rotation_atol(dtype, angle, magnitude, operations=operations)


def _any_pairing_bound(x, positions, **kwargs):
    """The larger of the two pairings' bounds: for claims that hold whatever the pairing."""
    return torch.maximum(_bound(x, positions, "half", **kwargs), _bound(x, positions, "interleaved", **kwargs))


def _pair_magnitude(x):
    """|a| + |b| of each feature's pair, the larger over the two pairings."""
    return torch.maximum(oracles.rope_pair_magnitude(x, "half"), oracles.rope_pair_magnitude(x, "interleaved"))


def _position_of(positions, b, s):
    return int(positions[s] if positions.dim() == 1 else positions[b, s])


def _assert_rotation(out, expected, bound, positions, *, what):
    """|out - expected| <= bound everywhere; otherwise name the smallest position that goes wrong."""
    error = (out.detach().to(F64) - expected).abs()
    bad = ~(error <= bound)  # NaN counts as bad
    if not bad.any():
        return
    where = bad.nonzero()  # (n, 4): batch, token, head, feature
    grid = positions.expand(out.shape[0], out.shape[1]) if positions.dim() == 1 else positions  # (B, S)
    at = grid[where[:, 0], where[:, 1]]  # the position of every bad feature
    b, s, h, f = (int(i) for i in where[int(at.argmin())])
    raise AssertionError(
        f"{what}: position {int(grid[b, s])} (batch {b}, token {s}, head {h}, feature {f}): {out[b, s, h, f].item()!r} "
        f"against the float64 rotation's {expected[b, s, h, f].item()!r} (error {error[b, s, h, f].item():.3g} > "
        f"bound {bound.expand_as(error)[b, s, h, f].item():.3g}); {int(bad.sum())} of {bad.numel()} features off, "
        f"at positions from {int(at.min())} to {int(at.max())}"
    )


def _assert_declared_rotation(out, x, positions, conventions, *, base=DEFAULT_BASE, dtype=F32, rotary_dim=None,
                              what):
    """out is the rotation of x in the declared pairing (``_assert_rotation``); a failure whose output is the other
    pairing's rotation says so (diagnosis by convention): "the output matches `rope.pairing = interleaved`"."""
    pairing = conventions["rope.pairing"]
    try:
        _assert_rotation(out, oracles.rope(x, positions, base, pairing, rotary_dim),
                         _bound(x, positions, pairing, base, dtype, rotary_dim), positions, what=what)
    except AssertionError as failure:
        atol = float(_any_pairing_bound(x, positions, base=base, dtype=dtype, rotary_dim=rotary_dim).max())
        raise_naming_convention(failure, out.detach(),
                                lambda c: oracles.rope(x, positions, base, c["rope.pairing"], rotary_dim),
                                conventions, ("rope.pairing",), atol)


def _accepts_rotary_dim(factory):
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "rotary_dim" or p.kind is p.VAR_KEYWORD for p in parameters)


@given(case=cases(), base=sts.bases())
@example(case=Case(batch=1, seq=8, heads=1, head_dim=32, batched=False, seed=0), base=500000.0)
@example(case=Case(batch=2, seq=3, heads=2, head_dim=128, batched=True, seed=0), base=10000.0)
def test_values_match_complex_rotation(rope, conventions, supports, case, base):
    """ROPE-VAL-01 (must): each pair of features (a, b) of every head at position p becomes the complex product (a + ib) exp(i p w_k) with w_k = base^(-2k/d), in the declared pairing."""
    case, base = _supported(case, supports), _base(base, supports)
    f = _rope(rope, case.head_dim, base=base)
    x, positions = case.x(), case.positions()
    _assert_declared_rotation(_apply(f, x, positions), x, positions, conventions, base=base,
                              what=f"RoPE (base {base}, {conventions['rope.pairing']} pairing)")


@given(case=cases())
def test_norm_preserved(rope, conventions, supports, case):
    """ROPE-NORM-01 (must): a rotation preserves length: every rotated pair of features, and so every head vector, keeps its norm."""
    case = _supported(case, supports)
    pairing = conventions["rope.pairing"]
    x, positions = case.x(), case.positions()
    out = _apply(_rope(rope, case.head_dim), x, positions).to(F64)
    first, second = oracles.rope_pairs(case.head_dim, pairing)
    x64 = x.to(F64)
    pair_in = torch.hypot(x64[..., first], x64[..., second])
    pair_out = torch.hypot(out[..., first], out[..., second])
    assert_close(pair_out, pair_in, atol=tolerances.atol(F32, operations=4, magnitude=pair_in.max().item()),
                 what=f"norms of the {pairing} pairs (batch, token, head, pair)")
    head_in = x64.norm(dim=-1)
    assert_close(out.norm(dim=-1), head_in,
                 atol=tolerances.atol(F32, operations=case.head_dim + 4, magnitude=head_in.max().item()),
                 what="norms of the head vectors (batch, token, head)")


@given(case=cases())
def test_position_zero_is_identity(rope, supports, case):
    """ROPE-ID-01 (must): position 0 is the identity: a token at position 0 is returned unrotated."""
    case = _supported(case, supports)
    x = case.x()
    positions = case.positions(0, 1)  # all zeros
    _assert_rotation(_apply(_rope(rope, case.head_dim), x, positions), x.to(F64),
                     _any_pairing_bound(x, positions), positions, what="R(0) x against x")


@given(case=cases(), seed=sts.seeds())
def test_rotations_compose(rope, supports, case, seed):
    """ROPE-COMP-01 (must): rotations compose: rotating by positions P and then by Q equals rotating once by P + Q."""
    case = _supported(case, supports)
    f = _rope(rope, case.head_dim)
    x, p, q = case.x(), case.positions(0, 1024), case.positions(0, 1024, seed_offset=seed)
    twice = _apply(f, _apply(f, x, p), q)
    once = _apply(f, x, p + q)
    # both carry the rotation error at up to P + Q (and the first call's at P): three bounds at P + Q
    _assert_rotation(twice, once.to(F64), 3 * _any_pairing_bound(x, p + q), p + q,
                     what="f(f(x, P), Q) against f(x, P + Q)")


@given(case=cases(max_seq=6), shift=st.integers(1, 2048))
@example(case=Case(batch=1, seq=4, heads=1, head_dim=8, batched=False, seed=0), shift=1)
def test_scores_depend_on_offset_only(rope, supports, case, shift):
    """ROPE-REL-01 (must): <R(m) q, R(n) k> depends only on m - n: shifting every position by the same t leaves every attention score unchanged."""
    case = _supported(case, supports)
    f = _rope(rope, case.head_dim)
    q, k = case.x(), case.x(seed_offset=7)
    positions = case.positions(0, 1024)
    shifted = positions + shift

    def scores(p):
        return torch.einsum("bshd,bthd->bhst", _apply(f, q, p).to(F64), _apply(f, k, p).to(F64))

    # |delta <q', k'>| <= sum_d |q'_d| E(k)_d + E(q)_d |k'_d| for each of the two score sets
    q_size, k_size = _pair_magnitude(q), _pair_magnitude(k)
    q_error, k_error = _any_pairing_bound(q, shifted), _any_pairing_bound(k, shifted)
    bound = 2 * (torch.einsum("bshd,bthd->bhst", q_size, k_error) + torch.einsum("bshd,bthd->bhst", q_error, k_size))
    bound += tolerances.atol(F32, operations=case.head_dim, magnitude=1.0) * torch.einsum(
        "bshd,bthd->bhst", q_size, k_size)
    before, after = scores(positions), scores(shifted)
    error = (after - before).abs()
    bad = ~(error <= bound)
    if bad.any():
        b, h, i, j = (int(v) for v in bad.nonzero()[0])
        raise AssertionError(
            f"score of token {i} (position {_position_of(positions, b, i)}) with token {j} (position "
            f"{_position_of(positions, b, j)}), batch {b}, head {h}: {before[b, h, i, j].item()!r}, and "
            f"{after[b, h, i, j].item()!r} with every position shifted by {shift} "
            f"(bound {bound[b, h, i, j].item():.3g})"
        )


@given(case=cases(), seed=sts.seeds())
def test_linear_in_x(rope, supports, case, seed):
    """ROPE-LIN-01 (must): the rotation is linear in x: f(a x + b y, p) = a f(x, p) + b f(y, p)."""
    case = _supported(case, supports)
    f = _rope(rope, case.head_dim)
    x, y, positions = case.x(), case.x(seed_offset=11), case.positions()
    a, b = (float(v) for v in sts.randn((2,), seed, F64))
    combined = _apply(f, a * x + b * y, positions)
    expected = a * _apply(f, x, positions).to(F64) + b * _apply(f, y, positions).to(F64)
    # the same rotation acts in all three calls: only arithmetic roundings differ (forming a x + b y included)
    size = abs(a) * _pair_magnitude(x) + abs(b) * _pair_magnitude(y)
    bound = tolerances.rotation_atol(F32, 0.0, size, operations=6)
    _assert_rotation(combined, expected, bound, positions, what=f"f({a:.3g} x + {b:.3g} y) against the combination")


@given(case=cases())
@example(case=Case(batch=1, seq=2, heads=1, head_dim=4, batched=False, seed=0))
def test_pairings_are_one_map(rope, conventions, supports, case):
    """ROPE-PAIR-01 (must): the half and interleaved pairings are the same rotation up to a fixed permutation pi of the features (pi = 0, d/2, 1, d/2 + 1, ... takes half to interleaved): R_half(x)[pi] = R_interleaved(x[pi]), and the implementation satisfies it for its declared pairing."""
    case = _supported(case, supports)
    pairing = conventions["rope.pairing"]
    other = "interleaved" if pairing == "half" else "half"
    permutation = oracles.rope_permutation(case.head_dim, pairing, other)
    x, positions = case.x(), case.positions()
    # the statement itself, on the oracle (it is the spec's claim, checked here in float64)
    assert_close(oracles.rope(x, positions, pairing=pairing)[..., permutation],
                 oracles.rope(x[..., permutation], positions, pairing=other), atol=1e-12,
                 what=f"the oracle's {pairing} rotation, permuted, against its {other} rotation")
    out = _apply(_rope(rope, case.head_dim), x, positions)
    _assert_rotation(out[..., permutation], oracles.rope(x[..., permutation], positions, pairing=other),
                     _bound(x[..., permutation], positions, other), positions,
                     what=f"f(x) permuted from the {pairing} to the {other} layout, against the {other} rotation")


@given(case=cases(max_seq=8), token=st.integers(0, 7), start=st.integers(0, 4000))
@example(case=Case(batch=2, seq=8, heads=2, head_dim=8, batched=True, seed=0), token=7, start=0)
def test_decoding_matches_full_sequence(rope, supports, case, token, start):
    """ROPE-DEC-01 (must): decoding consistency (the KV-cache use): rotating the token at absolute position p alone gives row p of rotating the whole sequence."""
    case = _supported(case, supports)
    token = token % case.seq
    f = _rope(rope, case.head_dim)
    x = case.x()
    offsets = torch.arange(case.batch)[:, None] * 3 if case.batched else 0  # left padding differs per sequence
    positions = start + torch.arange(case.seq) + offsets
    full = _apply(f, x, positions)
    step = _apply(f, x[:, token:token + 1], positions[..., token:token + 1])
    step_positions = positions[..., token:token + 1]
    _assert_rotation(step, full[:, token:token + 1].to(F64),
                     2 * _any_pairing_bound(x[:, token:token + 1], step_positions), step_positions,
                     what=f"token {token} rotated alone against row {token} of the whole sequence")


def beyond_offsets():
    """How far past max_seq_len the position goes: just past (a stale, clamped or wrapped cache row), or hundreds to
    thousands past (where a cache regrown in bfloat16 or float16 is off by radians)."""
    return st.one_of(st.integers(0, 64), st.integers(256, 2**15))


def _past_the_cache(case, max_seq_len, over, token):
    """Positions below max_seq_len, and token ``token`` at max_seq_len + over."""
    positions = case.positions(0, max_seq_len)
    positions[..., token % case.seq] = max_seq_len + over
    return positions


@given(case=cases(max_seq=6), max_seq_len=st.integers(1, 64), over=beyond_offsets(), token=st.integers(0, 5),
       dtype=st.sampled_from([F32, BF16, F16]), decode=st.booleans())
@example(case=Case(batch=1, seq=4, heads=1, head_dim=4, batched=False, seed=0), max_seq_len=8, over=0, token=3,
         dtype=F32, decode=False)
@example(case=Case(batch=2, seq=3, heads=1, head_dim=8, batched=True, seed=0), max_seq_len=16, over=17, token=0,
         dtype=F32, decode=False)
@example(case=Case(batch=1, seq=4, heads=2, head_dim=64, batched=False, seed=0), max_seq_len=16, over=1000, token=3,
         dtype=BF16, decode=True)
def test_beyond_max_seq_len(rope, conventions, supports, case, max_seq_len, over, token, dtype, decode):
    """ROPE-BEYOND-01 (must): a position at or beyond max_seq_len gets its correct rotation (an implementation that extends its cache) or is refused by an exception, never a stale, clamped or wrapped one; with the module cast to bfloat16 or float16 the angles of an extended cache are still owed in float32, in one call and one token at a time as a decoder calls it."""
    case = _supported(case, supports)
    f = _cast(_rope(rope, case.head_dim, max_seq_len=max_seq_len), dtype)
    x = case.x(dtype)
    positions = _past_the_cache(case, max_seq_len, over, token)
    if decode:
        positions = _in_decoding_order(positions)
    out = _rotated(f, x, positions, decode=decode, may_refuse_from=max_seq_len)
    if out is None:
        return  # refused
    calls = "one token at a time" if decode else "one call"
    _assert_declared_rotation(out, x, positions, conventions, dtype=dtype,
                              what=f"max_seq_len {max_seq_len}, a token at position {max_seq_len + over}, in {dtype} "
                                   f"(module cast), {calls}")


@given(case=cases(max_seq=6), max_seq_len=st.integers(1, 64), over=st.integers(0, 64), token=st.integers(0, 5))
@example(case=Case(batch=1, seq=4, heads=1, head_dim=4, batched=False, seed=0), max_seq_len=8, over=0, token=3)
def test_beyond_max_seq_len_error(rope, supports, case, max_seq_len, over, token):
    """ROPE-BEYOND-02 (should): an implementation that does not rotate a position at or beyond max_seq_len refuses it with a documented error (ValueError, IndexError, TypeError) whose message names the position."""
    case = _supported(case, supports)
    f = _rope(rope, case.head_dim, max_seq_len=max_seq_len)
    x = case.x()
    positions = _past_the_cache(case, max_seq_len, over, token)
    beyond = max_seq_len + over
    what = f"position {beyond} >= max_seq_len {max_seq_len}"
    exc, _ = call_documented(lambda: f(x.clone(), positions.clone()), what=what)
    if exc is not None:
        assert names_value(str(exc), beyond), f"{what}: {type(exc).__name__}({str(exc)!r}) does not name it"


@st.composite
def far_positions(draw):
    """(case, log2 of the largest position + 1): positions spread up to 2^12 .. 2^16, the largest always present."""
    case = draw(cases(max_batch=2, max_seq=16, max_heads=2))
    return case, draw(st.integers(12, 16))


def _far(case, log2_positions):
    """Positions spread log-uniformly over [0, 2^log2_positions), the largest included, so that a
    failure's smallest position says where the precision gives out."""
    top = 2**log2_positions
    shape = (case.batch, case.seq) if case.batched else (case.seq,)
    exponent = torch.rand(shape, generator=sts.generator(case.seed + 1), dtype=F64) * log2_positions
    positions = (torch.pow(2.0, exponent) - 1).long().clamp(0, top - 1)
    positions[..., -1] = top - 1
    return positions


@given(far=far_positions(), base=sts.bases())
@example(far=(Case(batch=1, seq=16, heads=1, head_dim=64, batched=False, seed=0), 16), base=10000.0)
def test_float32_precision_far_out(rope, conventions, supports, far, base):
    """ROPE-PREC-01 (must): for positions up to 2^16 a float32 rotation stays within float32 angle rounding of the float64 one (error <= 4 eps32 (p w + 2) per unit of pair size, plus 4 roundings), as it does when the angles are formed in float32 or better."""
    case, log2_positions = far
    case, base = _supported(case, supports), _base(base, supports)
    f = _rope(rope, case.head_dim, base=base, max_seq_len=2**16)
    x, positions = case.x(), _far(case, log2_positions)
    _assert_declared_rotation(_apply(f, x, positions), x, positions, conventions, base=base,
                              what=f"float32 RoPE (base {base})")


def cache_lengths():
    """max_seq_len for far positions: 2^16, a cache built at construction that covers them all, or a short one that
    they go past."""
    return st.one_of(st.just(2**16), st.integers(16, 1024))


@given(far=far_positions(), dtype=st.sampled_from([BF16, F16]), max_seq_len=cache_lengths(), decode=st.booleans())
@example(far=(Case(batch=1, seq=16, heads=2, head_dim=16, batched=False, seed=0), 16), dtype=BF16,
         max_seq_len=2**16, decode=False)
@example(far=(Case(batch=1, seq=8, heads=1, head_dim=128, batched=False, seed=0), 15), dtype=BF16,
         max_seq_len=64, decode=False)
def test_half_precision_keeps_float32_angles(rope, conventions, supports, far, dtype, max_seq_len, decode):
    """ROPE-PREC-02 (must): in bfloat16 and float16 (the module cast with .to(torch.bfloat16) or .half()) the angles are still formed in float32 or better: up to position 2^16, inside the cache built at construction or past it (where the implementation extends it rather than refusing), in one call or one token at a time as a decoder calls it, the result is within the float32 angle error plus 4 roundings in the half dtype of the float64 rotation."""
    case, log2_positions = far
    case = _supported(case, supports)
    f = _cast(_rope(rope, case.head_dim, max_seq_len=max_seq_len), dtype)
    x, positions = case.x(dtype), _far(case, log2_positions)
    if decode:
        positions = _in_decoding_order(positions)
    out = _rotated(f, x, positions, decode=decode, may_refuse_from=max_seq_len)
    if out is None:
        return  # refused past the cache: ROPE-BEYOND-01's business
    calls = "one token at a time" if decode else "one call"
    _assert_declared_rotation(out, x, positions, conventions, dtype=dtype,
                              what=f"RoPE in {dtype} (module cast to it), max_seq_len {max_seq_len}, {calls}")


@given(case=cases(max_seq=4), dtype=st.sampled_from([F32, F64, BF16, F16]))
def test_keeps_shape_and_dtype(rope, supports, case, dtype):
    """ROPE-DTYPE-01 (must): the result has the shape and dtype of x, for float32, float64, bfloat16 and float16 inputs (the module cast to the same dtype)."""
    case = _supported(case, supports)
    f = _cast(_rope(rope, case.head_dim), dtype)
    x = case.x(dtype)
    out = _apply(f, x, case.positions())
    assert out.dtype == dtype, f"output dtype {out.dtype} for input dtype {dtype}"


EDGES = ("head_dim 2", "rotary_dim 2", "one token", "empty batch")


@given(edge=st.sampled_from(EDGES), case=cases(max_seq=4, max_head_dim=16))
@example(edge="head_dim 2", case=Case(batch=2, seq=3, heads=2, head_dim=8, batched=True, seed=0))
@example(edge="one token", case=Case(batch=1, seq=3, heads=1, head_dim=8, batched=False, seed=0))
@example(edge="empty batch", case=Case(batch=2, seq=3, heads=2, head_dim=8, batched=True, seed=0))
@example(edge="rotary_dim 2", case=Case(batch=1, seq=3, heads=1, head_dim=8, batched=False, seed=0))
def test_edge_sizes(rope, conventions, supports, edge, case):
    """ROPE-EDGE-01 (must): at the degenerate sizes - head_dim 2 and rotary_dim 2 (where the factory accepts it: a single pair), a single token, an empty batch - the result has x's shape and is the declared pairing's rotation, the features past rotary_dim untouched."""
    case = _supported(case, supports)
    if edge == "rotary_dim 2" and not _accepts_rotary_dim(rope):
        edge = "head_dim 2"
    case = case._replace(**{"head_dim 2": {"head_dim": 2}, "rotary_dim 2": {}, "one token": {"seq": 1},
                            "empty batch": {"batch": 0}}[edge])
    rotary_dim = 2 if edge == "rotary_dim 2" else None
    kwargs = {"rotary_dim": rotary_dim} if rotary_dim else {}
    x, positions = case.x(), case.positions()
    out = _apply(_rope(rope, case.head_dim, **kwargs), x, positions)
    if rotary_dim:
        assert_equal(out[..., rotary_dim:], x[..., rotary_dim:], what=f"{edge}: the features past rotary_dim")
    _assert_declared_rotation(out, x, positions, conventions, rotary_dim=rotary_dim,
                              what=f"{edge} (x of shape {tuple(x.shape)})")


@given(head_dim=sts.odd_dims(), seq=st.integers(1, 4))
@example(head_dim=1, seq=1)
@example(head_dim=63, seq=2)
def test_odd_head_dim_rejected(rope, head_dim, seq):
    """ROPE-ODD-01 (should): an odd head_dim is rejected with a documented error naming it, since features rotate in pairs."""
    assert_raises_naming(_built_and_called(rope, head_dim, seq), head_dim, what=f"odd head_dim {head_dim}",
                         called=("dim",))


@given(case=cases())
def test_input_not_modified(rope, supports, case):
    """ROPE-INPLACE-01 (must): f(x, positions) leaves x and positions as they were: the rotation is not written into the caller's tensors."""
    case = _supported(case, supports)
    x, positions = case.x(), case.positions()
    x_before, positions_before = x.clone(), positions.clone()
    _rope(rope, case.head_dim)(x, positions)
    assert_equal(x, x_before, what="x after f(x, positions)")
    assert_equal(positions, positions_before, what="positions after f(x, positions)")


def _partial_rotary_dim(head_dim, rotary):
    """An even rotary_dim in 4 .. head_dim, from a drawn integer (4 maps to 4)."""
    return 4 + 2 * ((rotary - 4) // 2 % (head_dim // 2 - 1))


@given(case=cases(), rotary=st.integers(4, 256))
@example(case=Case(batch=1, seq=3, heads=2, head_dim=8, batched=False, seed=0), rotary=4)
@example(case=Case(batch=1, seq=3, heads=1, head_dim=256, batched=False, seed=0), rotary=64)  # GPT-J
def test_partial_rotary_dim(rope, conventions, supports, case, rotary):
    """ROPE-ROTDIM-01 (must): with rotary_dim = r (where the factory accepts it), the first r features rotate as a RoPE of dimension r (frequencies base^(-2k/r)) and the other head_dim - r features pass through untouched."""
    if not _accepts_rotary_dim(rope):
        pytest.skip("the rope factory takes no rotary_dim")
    case = _supported(case, supports)
    rotary_dim = _partial_rotary_dim(case.head_dim, rotary)
    f = _rope(rope, case.head_dim, rotary_dim=rotary_dim)
    x, positions = case.x(), case.positions()
    out = _apply(f, x, positions)
    assert_equal(out[..., rotary_dim:], x[..., rotary_dim:],
                 what=f"the {case.head_dim - rotary_dim} features past rotary_dim")
    _assert_declared_rotation(out[..., :rotary_dim], x[..., :rotary_dim], positions, conventions,
                              what=f"the first rotary_dim = {rotary_dim} features")


@st.composite
def illegal_rotary_dims(draw):
    """(head_dim, rotary_dim): an even head_dim and a rotary_dim that is odd, past head_dim, or negative."""
    head_dim = draw(st.integers(2, 16).map(lambda k: 2 * k))
    rotary_dim = draw(st.one_of(sts.odd_dims(max_value=head_dim - 1),
                                st.integers(head_dim + 1, 2 * head_dim + 2),
                                st.integers(-2 * head_dim, -1)))
    return head_dim, rotary_dim


@given(dims=illegal_rotary_dims())
@example(dims=(8, 3))  # odd: a feature without a partner
@example(dims=(8, 10))  # more features than the head has
@example(dims=(8, -2))
def test_illegal_rotary_dim_rejected(rope, dims):
    """ROPE-ROTDIM-02 (should): a rotary_dim (where the factory accepts it) that is odd, larger than head_dim or negative is rejected with a documented error naming it, never silently clamped to a legal one."""
    if not _accepts_rotary_dim(rope):
        pytest.skip("the rope factory takes no rotary_dim")
    head_dim, rotary_dim = dims
    assert_raises_naming(_built_and_called(rope, head_dim, 2, rotary_dim=rotary_dim), rotary_dim,
                         what=f"rotary_dim {rotary_dim} with head_dim {head_dim}", called=("rotary", "dim"))


@given(head_dim=sts.odd_dims(), dims=illegal_rotary_dims(), rotary=st.booleans())
@example(head_dim=3, dims=(8, 3), rotary=False)
@example(head_dim=3, dims=(8, 3), rotary=True)  # an odd rotary_dim: RotaryEmbedding(3) of x-transformers rotates 4
@example(head_dim=3, dims=(8, 10), rotary=True)
def test_bad_sizes_refused(rope, head_dim, dims, rotary):
    """ROPE-REFUSE-01 (must): an odd head_dim, and a rotary_dim (where the factory accepts it) that is odd, larger than head_dim or negative, are refused by some exception, never turned into a rotation of other features than the ones asked for."""
    if rotary and _accepts_rotary_dim(rope):
        head_dim, rotary_dim = dims
        assert_refused(_built_and_called(rope, head_dim, 2, rotary_dim=rotary_dim),
                       what=f"rotary_dim {rotary_dim} with head_dim {head_dim}")
    else:
        assert_refused(_built_and_called(rope, head_dim, 2), what=f"odd head_dim {head_dim}")
