"""RoPE scaling: rope(head_dim, *, base, max_seq_len, scaling), `scaling` a transformers `rope_scaling` dict.

Five types (``../shared/contract.md``, "RoPE scaling"; docs/rope-scaling.md): linear position interpolation,
dynamic NTK, YaRN, Llama 3.1's frequency bands and LongRoPE, each against the float64 oracle written from its
source (spec/oracles_scaling.py), with transformers' keys and defaults. The contract's choices:
`original_max_position_embeddings` defaults to max_seq_len; dynamic and LongRoPE depend on the current call
alone, n = max(positions) + 1; the attention factor of YaRN and LongRoPE goes where `rope.attention_factor` says.

A type the implementation declares unsupported (`rope.scaling.<type>`), or any type where its rope factory takes
no `scaling=`, is not provided: a property of one type is skipped, one whose claim covers several draws among
those provided (and tries each first in an explicit example, a real model's configuration). Every configuration
is passed as a fresh copy (transformers fills defaults into the dict it is given). Positions stay below
max_seq_len: what happens past the cache is ROPE-BEYOND-01's business. Tolerances:
``tolerances.scaled_rotation_atol`` (the angle and the scaled frequency owed in float32) and
``tolerances.frequency_ratio_atol`` (a frequency measured from one rotated unit vector).
"""

import copy
import math
from typing import NamedTuple

import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from . import devices, oracles_relative
from . import oracles_scaling as oracles
from . import strategies as sts
from . import tolerances
from .calls import _accepts, assert_raises_naming, build
from .capabilities import needs, supported
from .oracles import frequencies

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16


class Setting(NamedTuple):
    """A scaled rope to build: its sizes and the rope_scaling dict."""

    head_dim: int
    base: float
    max_seq_len: int
    scaling: dict

    @property
    def original(self):
        return oracles.original_length(self.scaling, self.max_seq_len)

    @property
    def rope_type(self):
        return self.scaling.get("rope_type")

    def build(self, rope, **keywords):
        return build(rope, self.head_dim, base=self.base, max_seq_len=self.max_seq_len,
                     scaling=copy.deepcopy(self.scaling), **keywords)

    def expected(self, seq_len):
        return oracles.scaled(self.scaling, self.head_dim, self.base, self.max_seq_len, seq_len)

    def beyond_original(self):
        """The largest position of a call past the original length (and below max_seq_len)."""
        return min(2 * self.original, self.max_seq_len - 1)


class Case(NamedTuple):
    """x of shape (batch, seq, heads, head_dim) from a seed; positions (seq,) or (batch, seq)."""

    batch: int
    seq: int
    heads: int
    batched: bool
    seed: int

    def x(self, head_dim, dtype=F32, seed_offset=0):
        return sts.randn((self.batch, self.seq, self.heads, head_dim), self.seed + seed_offset, dtype)

    def positions(self, top, seed_offset=1):
        """Positions in [0, top], top itself at one token: the call's n is top + 1."""
        shape = (self.batch, self.seq) if self.batched else (self.seq,)
        positions = sts.randint(0, top + 1, shape, self.seed + seed_offset)
        positions[..., (self.seed + seed_offset) % self.seq] = top
        return positions


def cases(max_seq=6):
    return st.builds(Case, batch=st.integers(1, 2), seq=st.integers(2, max_seq), heads=st.integers(1, 2),
                     batched=st.booleans(), seed=sts.seeds())


CASE = Case(batch=2, seq=4, heads=2, batched=True, seed=0)
FACTORS = st.one_of(st.sampled_from([2.0, 4.0, 8.0, 16.0, 32.0]), st.floats(1.25, 40.0).map(lambda f: round(f, 3)))


def _factor_lists(seed, pairs, factor):
    """LongRoPE's searched rescale factors, shaped like Phi-3's: short ones near 1, long ones growing from 1 to
    about the factor over the pairs (the high frequencies are barely rescaled)."""
    noise = torch.rand(2, pairs, generator=sts.generator(seed), dtype=F64)
    short = 1 + 0.2 * noise[0]
    long = 1 + (factor - 1) * torch.linspace(0, 1, pairs, dtype=F64) ** 2 * (0.8 + 0.4 * noise[1])
    return [round(float(v), 4) for v in short], [round(float(v), 4) for v in long]


# Real models' configurations (head dims cut down, lengths capped at 2^16), each type's explicit example:
# position interpolation by 16 (Chen et al.: LLaMA from 2048 to 32768), dynamic NTK at 2 from 2048,
# Yarn-Llama-2-7b-128k (yarn 32 from 4096), Llama 3.1 (llama3 8, bands 1 and 4 of 8192, base 500000),
# Phi-3-mini-128k's shape (longrope 32 from 4096).
_SHORT, _LONG = _factor_lists(0, 8, 32.0)
CANNED = {
    "linear": Setting(16, 10000.0, 65536, {"rope_type": "linear", "factor": 16.0}),
    "dynamic": Setting(16, 10000.0, 65536, {"rope_type": "dynamic", "factor": 2.0,
                                            "original_max_position_embeddings": 2048}),
    "yarn": Setting(16, 10000.0, 65536, {"rope_type": "yarn", "factor": 32.0,
                                         "original_max_position_embeddings": 4096}),
    "llama3": Setting(32, 500000.0, 65536, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
    "longrope": Setting(16, 10000.0, 65536, {"rope_type": "longrope", "factor": 32.0, "short_factor": _SHORT,
                                             "long_factor": _LONG, "original_max_position_embeddings": 4096}),
}


def _types(*names):
    """Parameters of a property that runs once per scaling type, each needing its feature."""
    return [pytest.param(name, marks=needs(f"rope.scaling.{name}"), id=name) for name in names]


def _provided(rope, rope_type):
    """A rope factory without `scaling=` provides no scaling type."""
    if not _accepts(rope, "scaling"):
        pytest.skip(f"not provided: rope.scaling.{rope_type}")


def _provided_among(rope, supports, among):
    """The types of ``among`` the implementation provides; skips the property as not provided where it has none."""
    if not _accepts(rope, "scaling"):
        pytest.skip(f"not provided: {', '.join(f'rope.scaling.{name}' for name in among)}")
    return supported(supports, among, lambda name: f"rope.scaling.{name}")


def _chosen(rope, supports, choice, among):
    """The type a drawn ``choice`` (an index into ``among``) stands for among the ones the implementation provides."""
    provided = _provided_among(rope, supports, among)
    return provided[choice % len(provided)]


def each_type(among, **fixed):
    """For a property whose claim covers the types ``among`` (given a ``choice`` among them and ``data``): one
    explicit example per type (``data`` None: the type's CANNED setting), so that each is tried first."""
    def decorate(test):
        for choice in range(len(among)):
            test = example(choice=choice, data=None, **fixed)(test)
        return test
    return decorate


@st.composite
def type_keys(draw, rope_type, head_dim, factor):
    """The keys of ``rope_type`` besides rope_type and the original length, drawn over their legal values; with
    factor 1, the ones that leave RoPE plain (LongRoPE's rescale factors all 1, no explicit attention factor)."""
    if rope_type in ("linear", "dynamic"):
        return {"factor": factor}
    if rope_type == "yarn":
        keys = {"factor": factor}
        for key, values in (("beta_fast", [16, 32, 64]), ("beta_slow", [0.5, 1, 2]), ("truncate", [True, False])):
            if draw(st.booleans()):
                keys[key] = draw(st.sampled_from(values))
        attention = draw(st.sampled_from(["default", "mscale"] + (["explicit"] if factor != 1 else [])))
        if attention == "explicit":
            keys["attention_factor"] = draw(st.sampled_from([0.8, 1.0, 1.3, 2.0]))
        elif attention == "mscale":  # DeepSeek's pair: the factor is their ratio; a lone mscale changes nothing
            pair = draw(st.sampled_from([(1.0, 1.0), (1.0, 0.707), (0.707, 1.0), (0.707, None), (None, 0.707)]))
            keys.update({key: value for key, value in zip(("mscale", "mscale_all_dim"), pair) if value is not None})
        return keys
    if rope_type == "llama3":
        low = draw(st.sampled_from([1.0, 0.5, 2.0]))
        return {"factor": factor, "low_freq_factor": low,
                "high_freq_factor": low + draw(st.sampled_from([3.0, 1.0, 6.0]))}
    if factor == 1:
        ones = [1.0] * (head_dim // 2)
        return {"short_factor": ones, "long_factor": ones, "factor": 1.0}
    short, long = _factor_lists(draw(sts.seeds()), head_dim // 2, factor)
    keys = {"short_factor": short, "long_factor": long}
    given_as = draw(st.sampled_from(["implied", "factor", "attention_factor"]))
    if given_as == "factor":
        keys["factor"] = factor
    elif given_as == "attention_factor":
        keys["attention_factor"] = draw(st.sampled_from([1.0, 1.2]))
    return keys


ORIGINALS = st.one_of(st.sampled_from([2048, 4096, 8192]), st.integers(32, 8192))
STRETCHES = st.sampled_from([1, 2, 4, 8])


@st.composite
def settings(draw, rope_type, *, factor=None, head_dims=sts.even_dims(4, 64), bases=sts.bases(),
             originals=ORIGINALS, stretches=STRETCHES, original_given=None):
    """A Setting of ``rope_type``: an original length L, max_seq_len = L times a stretch (1 to 8 by default).

    The dict gives L, or leaves it to its default (then L = max_seq_len), unless ``original_given`` says."""
    head_dim, base = draw(head_dims), draw(bases)
    factor = draw(FACTORS) if factor is None else factor
    original = draw(originals)
    given_ = draw(st.booleans()) if original_given is None else original_given
    scaling = {"rope_type": rope_type, **draw(type_keys(rope_type, head_dim, factor))}
    if not given_:
        return Setting(head_dim, base, original, scaling)
    scaling["original_max_position_embeddings"] = original
    return Setting(head_dim, base, original * draw(stretches), scaling)


@st.composite
def tops(draw, setting):
    """The call's largest position, below max_seq_len: anywhere, or next to the original length L."""
    length, last = setting.original, setting.max_seq_len - 1
    near = [min(max(length + d, 0), last) for d in (-2, -1, 0, 1)]
    return draw(st.one_of(st.integers(0, last), st.sampled_from(near)))


def _scale(conventions, expected):
    """The size the output carries: the attention factor under `output`, 1 under `separate`."""
    return expected.attention_factor if conventions["rope.attention_factor"] == "output" else 1.0


def _bound(x, positions, expected, pairing, scale, dtype=F32):
    angle = oracles.feature_angles(positions, expected.frequencies, pairing, x.shape[-1])
    magnitude = oracles_relative.rope_pair_magnitude(x, pairing)
    return tolerances.scaled_rotation_atol(dtype, angle, magnitude, log_base=expected.log_base,
                                           attention_factor=scale)


def _apply(f, x, positions):
    out = f(x.clone(), positions.clone())
    assert isinstance(out, torch.Tensor), f"f(x, positions) returned a {type(out).__name__}"
    assert tuple(out.shape) == tuple(x.shape), f"output shape {tuple(out.shape)}, input {tuple(x.shape)}"
    return out


def _assert_rotation(out, x, positions, expected, conventions, *, what, dtype=F32, scale=None):
    """out is x rotated at positions with the expected frequencies, sized per `rope.attention_factor` (or
    ``scale``); on failure, name the smallest bad position, and the convention the output matches if any."""
    pairing = conventions["rope.pairing"]
    scale = _scale(conventions, expected) if scale is None else scale
    bound = _bound(x, positions, expected, pairing, scale, dtype)
    out64 = out.detach().to(F64)
    error = (out64 - oracles.rotate(x, positions, expected.frequencies, pairing, scale)).abs()
    bad = ~(error <= bound)  # NaN counts as bad
    if not bad.any():
        return
    grid = positions.expand(out.shape[0], out.shape[1]) if positions.dim() == 1 else positions  # (B, S)
    where = bad.nonzero()
    at = grid[where[:, 0], where[:, 1]]
    b, s, h, k = (int(i) for i in where[int(at.argmin())])
    message = (f"{what}: position {grid[b, s].item():g} (batch {b}, token {s}, head {h}, feature {k}): "
               f"{out[b, s, h, k].item()!r}, error {error[b, s, h, k].item():.3g} > bound "
               f"{bound.expand_as(error)[b, s, h, k].item():.3g}; {int(bad.sum())} of {bad.numel()} features off")
    other = 1.0 if scale != 1.0 else expected.attention_factor
    if other != scale:
        alternative = oracles.rotate(x, positions, expected.frequencies, pairing, other)
        if bool(((out64 - alternative).abs() <= _bound(x, positions, expected, pairing, other, dtype)).all()):
            value = "separate" if other == 1.0 else "output"
            message += f"; the output matches `rope.attention_factor = {value}`: declare it in `conventions`"
    raise AssertionError(message)


def _plain(setting):
    """Plain RoPE of the setting's size and base, as a `Scaled` without scaling."""
    return oracles.Scaled(frequencies(setting.head_dim, setting.base), 1.0, math.log(setting.base))


def _with_factor_one(setting):
    """The canned setting with factor 1 (LongRoPE: rescale factors of 1 too)."""
    scaling = {**setting.scaling, "factor": 1.0}
    if setting.rope_type == "longrope":
        scaling["short_factor"] = scaling["long_factor"] = [1.0] * (setting.head_dim // 2)
    return setting._replace(scaling=scaling)


# -------------------------------------------------------------------------------------------------------------------
# Every type

ONE = ("linear", "yarn", "llama3", "longrope")


@each_type(ONE, case=CASE)
@given(choice=st.integers(0, len(ONE) - 1), data=st.data(), case=cases())
def test_factor_one_is_plain(rope, conventions, supports, choice, data, case):
    """ROPE-SCALE-ONE-01 (must): with factor 1 (and, for LongRoPE, rescale factors of 1) linear, YaRN, Llama 3.1 and LongRoPE scaling are plain RoPE at every position, past the original length too (dynamic NTK is not: its factor 1 still stretches the base past it)."""
    rope_type = _chosen(rope, supports, choice, ONE)
    if data is None:
        setting, top = _with_factor_one(CANNED[rope_type]), _with_factor_one(CANNED[rope_type]).beyond_original()
    else:
        setting = data.draw(settings(rope_type, factor=1.0, original_given=True), label="setting")
        top = data.draw(tops(setting), label="top")
    x, positions = case.x(setting.head_dim), case.positions(top)
    _assert_rotation(_apply(setting.build(rope), x, positions), x, positions, _plain(setting), conventions,
                     what=f"{rope_type} scaling with factor 1 against plain RoPE, {setting}", scale=1.0)


# Settings at the edges of a type's formula, tried after its CANNED one by ROPE-SCALE-VAL-01 (an int ``data``
# picks one): YaRN's correction range clamped at the top (base 10: the beta_slow pair index 17.7 > dim - 1),
# collapsed to one index (original 32: both beta pairs below index 0, so low == high == 0), and a lone mscale
# (ignored without mscale_all_dim); dynamic NTK from an original length of one token; LongRoPE's implied factor
# (max_seq_len / original) of 2, and of 1/2 (no attention factor below 1).
EDGES = {
    "yarn": [Setting(16, 10.0, 4096, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024}),
             Setting(16, 10000.0, 256, {"rope_type": "yarn", "factor": 4.0, "beta_slow": 8.0,
                                        "original_max_position_embeddings": 32}),
             Setting(16, 10000.0, 16384, {"rope_type": "yarn", "factor": 8.0, "mscale": 0.707,
                                          "original_max_position_embeddings": 4096})],
    "dynamic": [Setting(16, 10000.0, 64, {"rope_type": "dynamic", "factor": 2.0,
                                          "original_max_position_embeddings": 1})],
    "longrope": [Setting(16, 10000.0, 8192, {"rope_type": "longrope", "short_factor": _SHORT, "long_factor": _LONG,
                                             "original_max_position_embeddings": 4096}),
                 Setting(16, 10000.0, 2048, {"rope_type": "longrope", "short_factor": _SHORT, "long_factor": _LONG,
                                             "original_max_position_embeddings": 4096})],
}


@pytest.mark.parametrize("rope_type", _types(*oracles.TYPES))
@given(data=st.data(), case=cases())
@example(data=None, case=CASE)
@example(data=0, case=CASE)
@example(data=1, case=CASE)
@example(data=2, case=CASE)
def test_values_match_oracle(rope, conventions, rope_type, data, case):
    """ROPE-SCALE-VAL-01 (must): each scaling type rotates every pair by p w'_k, w'_k its scaled frequency for the call (the float64 oracle of its source, with transformers' keys and defaults), sized by its attention factor where `rope.attention_factor = output`."""
    _provided(rope, rope_type)
    if data is None or isinstance(data, int):  # the per-call types at their switch (n = L + 1), the others past L
        edges = EDGES.get(rope_type, [])
        setting = edges[data] if isinstance(data, int) and data < len(edges) else CANNED[rope_type]
        top = setting.original if rope_type in oracles.PER_CALL else setting.beyond_original()
    else:
        setting = data.draw(settings(rope_type), label="setting")
        top = data.draw(tops(setting), label="top")
    x, positions = case.x(setting.head_dim), case.positions(top)
    _assert_rotation(_apply(setting.build(rope), x, positions), x, positions, setting.expected(top + 1),
                     conventions, what=f"{rope_type} scaling, call length {top + 1}, {setting}")


@needs("rope.scaling.linear")
@given(data=st.data(), case=cases())
def test_linear_interpolates_positions(rope, conventions, data, case):
    """ROPE-SCALE-LIN-01 (must): linear scaling (position interpolation) rotates position p exactly as plain RoPE rotates the fractional position p / factor."""
    _provided(rope, "linear")
    setting = data.draw(settings("linear"), label="setting")
    factor = setting.scaling["factor"]
    x, positions = case.x(setting.head_dim), case.positions(setting.max_seq_len - 1)
    _assert_rotation(_apply(setting.build(rope), x, positions), x, positions / factor, _plain(setting), conventions,
                     what=f"linear scaling by {factor} against plain RoPE at p / {factor}", scale=1.0)


@each_type(oracles.STATIC, case=CASE, shift=2048)
@given(choice=st.integers(0, len(oracles.STATIC) - 1), data=st.data(), case=cases(max_seq=5),
       shift=st.integers(1, 2048))
def test_scores_depend_on_offset_only(rope, conventions, supports, choice, data, case, shift):
    """ROPE-SCALE-REL-01 (must): every static type (linear, YaRN, Llama 3.1) keeps <R(m) q, R(n) k> a function of m - n: shifting every position by the same t leaves every attention score unchanged."""
    rope_type = _chosen(rope, supports, choice, oracles.STATIC)
    setting = CANNED[rope_type] if data is None else data.draw(settings(rope_type, stretches=st.just(8)),
                                                               label="setting")
    f = setting.build(rope)
    q, k = case.x(setting.head_dim), case.x(setting.head_dim, seed_offset=7)
    shift = min(shift, setting.max_seq_len // 2)  # both position sets below max_seq_len
    positions = case.positions(setting.max_seq_len - 1 - shift)
    shifted = positions + shift
    expected, pairing = setting.expected(None), conventions["rope.pairing"]
    scale = _scale(conventions, expected)
    first, second = oracles_relative.rope_pairs(setting.head_dim, pairing)

    def pair_scores(p):
        """Each pair's part of every score, (B, H, S, T, pairs): the score is their sum, and with q and k free the
        score is a function of m - n exactly when every part is (checked part by part, each to its own bound)."""
        rotated_q, rotated_k = _apply(f, q, p).to(F64), _apply(f, k, p).to(F64)
        return sum(torch.einsum("bshp,bthp->bhstp", rotated_q[..., members], rotated_k[..., members])
                   for members in (first, second))

    def per_pair(size):  # (B, S, H, D) -> (B, S, H, pairs): both members of a pair have the same size
        return size[..., first]

    # |delta (q'_a k'_a + q'_b k'_b)| <= 2 (|q'| E(k) + E(q) |k'|) per pair, for both score sets, + 2 products;
    # E at the plain angle: no static type turns a pair faster than plain RoPE, so no correct one errs more
    q_size = per_pair(scale * oracles_relative.rope_pair_magnitude(q, pairing))
    k_size = per_pair(scale * oracles_relative.rope_pair_magnitude(k, pairing))
    q_error = per_pair(_bound(q, shifted, _plain(setting), pairing, scale))
    k_error = per_pair(_bound(k, shifted, _plain(setting), pairing, scale))
    bound = 4 * (torch.einsum("bshp,bthp->bhstp", q_size, k_error) + torch.einsum("bshp,bthp->bhstp", q_error, k_size))
    bound += tolerances.atol(F32, operations=4) * torch.einsum("bshp,bthp->bhstp", q_size, k_size)
    before, after = pair_scores(positions), pair_scores(shifted)
    bad = ~((after - before).abs() <= bound)
    if bad.any():
        b, h, i, j, pair = (int(v) for v in bad.nonzero()[0])
        raise AssertionError(
            f"{rope_type}: the part of pair {pair} in the score of tokens {i} and {j} (batch {b}, head {h}) is "
            f"{before[b, h, i, j, pair].item()!r}, and {after[b, h, i, j, pair].item()!r} with every position "
            f"shifted by {shift} (bound {bound[b, h, i, j, pair].item():.3g}); {setting}")


# -------------------------------------------------------------------------------------------------------------------
# The shape of the frequencies: YaRN's ramp, Llama 3.1's bands, the attention factor


def _measured_ratios(f, setting, pairing):
    """(w'_k / w_k, the plain angle p_k w_k) for every pair k, measured from f in one call: token k is the unit
    vector of pair k's first feature at a position p_k where the plain angle is about one radian (below
    max_seq_len), and comes back as a (cos p_k w'_k, sin p_k w'_k)."""
    half = setting.head_dim // 2
    plain = frequencies(setting.head_dim, setting.base)
    probes = (1 / plain).round().clamp(1, setting.max_seq_len - 1).to(torch.long)
    first, second = oracles_relative.rope_pairs(setting.head_dim, pairing)
    tokens = torch.arange(half)
    x = torch.zeros(1, half, 1, setting.head_dim)
    x[0, tokens, 0, first] = 1.0
    out = _apply(f, x, probes).detach().to(F64)[0, :, 0]  # (half, head_dim): row k is token k
    plain_angle = probes.to(F64) * plain
    return torch.atan2(out[tokens, second], out[tokens, first]) / plain_angle, plain_angle


def _assert_ratios_within(ratios, plain_angle, setting, low, high, *, what, labels):
    """low_k <= w'_k / w_k <= high_k for every pair, and the ratio never rising from one pair to the next (the
    frequencies are scaled monotonically), within the measurement's tolerance."""
    tolerance = tolerances.frequency_ratio_atol(plain_angle, plain_angle, log_base=math.log(setting.base))
    bad = ~((ratios >= low - tolerance) & (ratios <= high + tolerance))
    if bad.any():
        k = int(bad.nonzero()[0])
        between = "" if low[k] == high[k] else f" to {high[k].item():.6g}"
        raise AssertionError(
            f"{what}: pair {k} of {len(ratios)} ({labels[k]}) turns at {ratios[k].item():.6g} times its plain "
            f"frequency, expected {low[k].item():.6g}{between} (tolerance {tolerance[k].item():.2g}); {setting}")
    rises = ratios[1:] - ratios[:-1] > tolerance[1:] + tolerance[:-1]
    if rises.any():
        k = int(rises.nonzero()[0])
        raise AssertionError(f"{what}: the ratio rises from pair {k} ({ratios[k].item():.6g}) to pair {k + 1} "
                             f"({ratios[k + 1].item():.6g}) instead of falling monotonically; {setting}")


BAND_BASES = st.sampled_from([10000.0, 500000.0, 1000.0])


@needs("rope.scaling.yarn")
@given(setting=settings("yarn", head_dims=sts.even_dims(8, 64), bases=BAND_BASES, original_given=True))
@example(setting=CANNED["yarn"])
def test_yarn_bands(rope, conventions, setting):
    """ROPE-SCALE-YARN-01 (must): YaRN keeps the frequency of every pair that turns at least beta_fast times within the original length, divides by the factor that of every pair turning at most beta_slow times, and between them ramps monotonically from the one to the other."""
    _provided(rope, "yarn")
    ratios, plain_angle = _measured_ratios(setting.build(rope), setting, conventions["rope.pairing"])
    turns = setting.original * frequencies(setting.head_dim, setting.base) / (2 * math.pi)  # within L
    factor = setting.scaling["factor"]
    fast, slow = setting.scaling.get("beta_fast", 32), setting.scaling.get("beta_slow", 1)
    low = torch.where(turns >= fast, 1.0, 1 / factor).to(F64)
    high = torch.where(turns <= slow, 1 / factor, 1.0).to(F64)
    labels = [f"{t:.4g} turns within {setting.original}" for t in turns.tolist()]
    _assert_ratios_within(ratios, plain_angle, setting, low, high, what="YaRN", labels=labels)


def _llama3_bands(setting):
    wavelength = 2 * math.pi / frequencies(setting.head_dim, setting.base)
    return (wavelength, *oracles.llama3_edges(setting.scaling, setting.max_seq_len))


@needs("rope.scaling.llama3")
@given(setting=settings("llama3", head_dims=sts.even_dims(8, 64), bases=BAND_BASES, original_given=True))
@example(setting=CANNED["llama3"])
def test_llama3_bands(rope, conventions, setting):
    """ROPE-SCALE-LLAMA3-01 (must): Llama 3.1 scaling keeps the frequency of every pair whose wavelength is below original / high_freq_factor, divides by the factor that of every pair whose wavelength exceeds original / low_freq_factor, and between them falls monotonically from the one to the other."""
    _provided(rope, "llama3")
    ratios, plain_angle = _measured_ratios(setting.build(rope), setting, conventions["rope.pairing"])
    wavelength, short_edge, long_edge = _llama3_bands(setting)
    factor = setting.scaling["factor"]
    low = torch.where(wavelength < short_edge, 1.0, 1 / factor).to(F64)
    high = torch.where(wavelength > long_edge, 1 / factor, 1.0).to(F64)
    labels = [f"wavelength {w:.5g}; band edges {short_edge:.5g} and {long_edge:.5g}" for w in wavelength.tolist()]
    _assert_ratios_within(ratios, plain_angle, setting, low, high, what="Llama 3.1", labels=labels)


@st.composite
def llama3_at_an_edge(draw):
    """(setting, pair, edge): the original length L (1000 to 2^15) placed so that one pair's wavelength lies within
    0.1% of a band edge (L / high_freq_factor or L / low_freq_factor), on either side of it."""
    head_dim, base = draw(sts.even_dims(8, 64)), draw(BAND_BASES)
    low = draw(st.sampled_from([1.0, 0.5, 2.0]))
    keys = {"rope_type": "llama3", "factor": draw(FACTORS), "low_freq_factor": low,
            "high_freq_factor": low + draw(st.sampled_from([3.0, 1.0, 6.0]))}
    edge = draw(st.sampled_from(["high_freq_factor", "low_freq_factor"]))
    lengths = keys[edge] * 2 * math.pi / frequencies(head_dim, base)  # the original length putting a pair on it
    pairs = [k for k, length in enumerate(lengths.tolist()) if 1000 <= length <= 2**15]
    assume(pairs)
    pair = draw(st.sampled_from(pairs))
    side = draw(st.sampled_from([-1e-4, 1e-4]))
    keys["original_max_position_embeddings"] = round(float(lengths[pair]) * (1 + side))  # rounding: <= 0.5 / 1000
    return Setting(head_dim, base, 2 * keys["original_max_position_embeddings"], keys), pair, edge


@needs("rope.scaling.llama3")
@given(at_edge=llama3_at_an_edge())
def test_llama3_continuous_at_edges(rope, conventions, at_edge):
    """ROPE-SCALE-LLAMA3-02 (must): Llama 3.1 scaling is continuous at its band edges: a pair whose wavelength lies within 0.1% of original / high_freq_factor turns at its plain frequency w, and one within 0.1% of original / low_freq_factor at w / factor, each within 1% of the gap w - w / factor, on either side of the edge."""
    setting, pair, edge = at_edge
    _provided(rope, "llama3")
    ratios, plain_angle = _measured_ratios(setting.build(rope), setting, conventions["rope.pairing"])
    wavelength, short_edge, long_edge = _llama3_bands(setting)
    at = short_edge if edge == "high_freq_factor" else long_edge
    factor = setting.scaling["factor"]
    target = 1.0 if edge == "high_freq_factor" else 1 / factor
    tolerance = 0.01 * (1 - 1 / factor) + float(tolerances.frequency_ratio_atol(
        plain_angle[pair], plain_angle[pair], log_base=math.log(setting.base)))
    assert abs(float(ratios[pair]) - target) <= tolerance, (
        f"Llama 3.1: pair {pair}, wavelength {float(wavelength[pair]):.6g} ({float(wavelength[pair]) / at - 1:+.2e} "
        f"from the edge original / {edge} = {at:.6g}), turns at {float(ratios[pair]):.6g} times its plain frequency, "
        f"{target:.6g} at the edge: the scaling jumps there; {setting}")


WITH_ATTENTION = ("yarn", "longrope")


@each_type(WITH_ATTENTION, case=CASE)
@given(choice=st.integers(0, len(WITH_ATTENTION) - 1), data=st.data(), case=cases())
def test_attention_factor(rope, conventions, supports, choice, data, case):
    """ROPE-SCALE-ATTN-01 (must): the attention factor of YaRN (0.1 ln(factor) + 1, mscale's ratio, or attention_factor) and of LongRoPE (sqrt(1 + ln(factor) / ln(original)), or attention_factor) multiplies every rotated pair's length under `rope.attention_factor = output`, on every call, and leaves it unchanged under `separate`."""
    rope_type = _chosen(rope, supports, choice, WITH_ATTENTION)
    if data is None:
        setting = CANNED[rope_type]
        top = setting.beyond_original()
    else:
        setting = data.draw(settings(rope_type), label="setting")
        top = data.draw(tops(setting), label="top")
    x, positions = case.x(setting.head_dim), case.positions(top)
    pairing = conventions["rope.pairing"]
    out = _apply(setting.build(rope), x, positions).detach().to(F64)
    expected = setting.expected(top + 1)
    scale = _scale(conventions, expected)
    first, second = oracles_relative.rope_pairs(setting.head_dim, pairing)
    x64 = x.to(F64)
    size_in, size_out = torch.hypot(x64[..., first], x64[..., second]), torch.hypot(out[..., first], out[..., second])
    # a pair's length owes nothing to the angle's error: only roundings (cos, sin, two products, a sum, the factor,
    # the cast back, the float64 hypot), 8 steps on a value of its size
    bound = tolerances.atol(F32, operations=8, magnitude=scale) * size_in
    bad = ~((size_out - scale * size_in).abs() <= bound)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise AssertionError(
            f"{rope_type}, rope.attention_factor = {conventions['rope.attention_factor']}: a rotated pair's length "
            f"is multiplied by {(size_out[index] / size_in[index]).item():.6g}, expected {scale:.6g} (the type's "
            f"attention factor is {expected.attention_factor:.6g}); call length {top + 1}, {setting}")


# -------------------------------------------------------------------------------------------------------------------
# The types that depend on the call: dynamic NTK and LongRoPE


@needs("rope.scaling.dynamic")
@given(data=st.data(), case=cases())
@example(data=None, case=CASE)
def test_dynamic_plain_within_original(rope, conventions, data, case):
    """ROPE-SCALE-DYN-01 (must): dynamic NTK scaling is plain RoPE for every call whose positions stay below the original length (n = max(positions) + 1 <= original)."""
    _provided(rope, "dynamic")
    if data is None:  # a call of half the original length
        setting = CANNED["dynamic"]
        top = setting.original // 2
    else:
        setting = data.draw(settings("dynamic"), label="setting")
        top = data.draw(st.one_of(st.just(setting.original - 1), st.integers(0, setting.original - 1)), label="top")
    x, positions = case.x(setting.head_dim), case.positions(top)
    _assert_rotation(_apply(setting.build(rope), x, positions), x, positions, _plain(setting), conventions,
                     what=f"dynamic NTK, call length {top + 1} <= original {setting.original}, against plain RoPE")


@st.composite
def programs(draw, setting):
    """The largest positions of 2 to 4 calls: past, at and below the original length L, in any order."""
    length, last = setting.original, setting.max_seq_len - 1
    near = [min(max(length + d, 0), last) for d in (-2, -1, 0, 1)] + [last]
    return draw(st.lists(st.one_of(st.integers(0, last), st.sampled_from(near)), min_size=2, max_size=4))


def _calls(f, setting, case, program):
    """Each call of the program on the one module f: (its number, largest position, x, positions, result)."""
    for number, top in enumerate(program):
        x, positions = case.x(setting.head_dim, seed_offset=number), case.positions(top, seed_offset=number + 1)
        yield number, top, x, positions, _apply(f, x, positions)


@needs("rope.scaling.dynamic")
@given(data=st.data(), case=cases())
@example(data=None, case=CASE)
def test_dynamic_depends_on_call_alone(rope, conventions, data, case):
    """ROPE-SCALE-DYN-02 (must): dynamic NTK scales each call by its own length alone: in any sequence of calls on one module, each gives what it gives on a fresh one, whatever longer or shorter calls came before."""
    _provided(rope, "dynamic")
    if data is None:  # long, then shorter calls still past the original length, then one at it
        setting = CANNED["dynamic"]
        program = [16000, 5000, 2048]
    else:
        setting = data.draw(settings("dynamic", original_given=True, stretches=st.just(8)), label="setting")
        program = data.draw(programs(setting), label="program")
    pairing = conventions["rope.pairing"]
    for number, top, x, positions, out in _calls(setting.build(rope), setting, case, program):
        fresh = _apply(setting.build(rope), x, positions)
        expected = setting.expected(top + 1)
        # each within the bound of the float64 rotation, so within twice it of each other
        bound = 2 * _bound(x, positions, expected, pairing, _scale(conventions, expected))
        error = (out.detach().to(F64) - fresh.detach().to(F64)).abs()
        bad = ~(error <= bound)
        if bad.any():
            index = tuple(int(i) for i in bad.nonzero()[0])
            raise AssertionError(
                f"dynamic NTK: call {number + 1} of the calls with largest positions {program} on one module gives "
                f"{out[index].item()!r} at {index}, a fresh module {fresh[index].item()!r} (bound "
                f"{bound.expand_as(error)[index].item():.3g}): the earlier calls changed it; {setting}")


@needs("rope.scaling.longrope")
@given(data=st.data(), case=cases())
@example(data=None, case=CASE)
def test_longrope_switches_per_call(rope, conventions, data, case):
    """ROPE-SCALE-LONG-01 (must): LongRoPE rescales by short_factor every call whose length n = max(positions) + 1 is at most the original length and by long_factor every longer one, call by call, whatever came before."""
    _provided(rope, "longrope")
    if data is None:  # both sides of the switch (n = L and L + 1), and back
        setting = CANNED["longrope"]
        program = [4095, 4096, 20000, 4095]
    else:
        setting = data.draw(settings("longrope", original_given=True, stretches=st.just(8)), label="setting")
        program = data.draw(programs(setting), label="program")
    for number, top, x, positions, out in _calls(setting.build(rope), setting, case, program):
        _assert_rotation(out, x, positions, setting.expected(top + 1), conventions,
                         what=f"LongRoPE: call {number + 1} of the calls with largest positions {program} on one "
                              f"module (original {setting.original})")


# -------------------------------------------------------------------------------------------------------------------
# Precision


def far(rope_type):
    """Settings reaching 2^15 or 2^16 positions: eight times an original length of 2^12 or 2^13."""
    return settings(rope_type, originals=st.sampled_from([4096, 8192]), stretches=st.just(8), original_given=True)


def _far_positions(case, setting):
    """Positions spread log-uniformly below max_seq_len, the last one always present."""
    last = setting.max_seq_len - 1
    shape = (case.batch, case.seq) if case.batched else (case.seq,)
    exponent = torch.rand(shape, generator=sts.generator(case.seed + 1), dtype=F64) * math.log2(last + 1)
    positions = (torch.pow(2.0, exponent) - 1).long().clamp(0, last)
    positions[..., -1] = last
    return positions


@each_type(oracles.TYPES, case=CASE, dtype=F16)
@given(choice=st.integers(0, len(oracles.TYPES) - 1), data=st.data(), case=cases(),
       dtype=st.sampled_from([BF16, F16]))
def test_half_precision_keeps_float32_angles(rope, conventions, supports, choice, data, case, dtype):
    """ROPE-SCALE-PREC-01 (must): with the module cast to bfloat16 or float16 (.to(torch.bfloat16), .half()) every scaling type still forms its scaled frequencies and angles in float32 or better: up to position 2^16 the result is within the float32 angle and frequency error plus the half dtype's roundings of the float64 one."""
    rope_type = _chosen(rope, supports, choice, oracles.TYPES)
    setting = CANNED[rope_type] if data is None else data.draw(far(rope_type), label="setting")
    f = setting.build(rope)
    if isinstance(f, torch.nn.Module):
        f = f.half() if dtype == F16 else f.to(dtype)
    x, positions = case.x(setting.head_dim, dtype), _far_positions(case, setting)
    out = _apply(f, x, positions)
    assert out.dtype == dtype, f"{rope_type}: output dtype {out.dtype} for {dtype} input and module"
    _assert_rotation(out, x, positions, setting.expected(setting.max_seq_len), conventions, dtype=dtype,
                     what=f"{rope_type} scaling, module cast to {dtype}, {setting}")


@each_type(oracles.TYPES, case=CASE)
@given(choice=st.integers(0, len(oracles.TYPES) - 1), data=st.data(), case=cases())
def test_autocast_keeps_float32_angles(rope, conventions, supports, choice, data, case):
    """ROPE-SCALE-PREC-02 (must): under torch.autocast('cpu', dtype=torch.bfloat16) every scaling type still forms its scaled frequencies and angles in float32: a float32 x comes back float32, within the float32 bound of the float64 rotation up to position 2^16."""
    rope_type = _chosen(rope, supports, choice, oracles.TYPES)
    setting = CANNED[rope_type] if data is None else data.draw(far(rope_type), label="setting")
    f = setting.build(rope)
    x, positions = case.x(setting.head_dim), _far_positions(case, setting)
    with torch.autocast("cpu", dtype=BF16):
        out = _apply(f, x, positions)
    assert out.dtype == F32, f"{rope_type}: output dtype {out.dtype} for a float32 input under bfloat16 autocast"
    _assert_rotation(out, x, positions, setting.expected(setting.max_seq_len), conventions,
                     what=f"{rope_type} scaling under bfloat16 autocast, {setting}")


def _placed(setting, rope, target, how):
    """The setting's rope on ``target``: built there with device= (``how`` "built"), or built on the CPU and moved
    with .to() ("moved"); None where the factory takes no device= (building there is then DEV-MOVE-01's business)."""
    if how == "built":
        if not _accepts(rope, "device"):
            return None
        return setting.build(rope, device=target)
    f = setting.build(rope)
    return f.to(target) if isinstance(f, torch.nn.Module) else f


@pytest.mark.parametrize("how", ["built", "moved"])
@pytest.mark.parametrize("rope_type", _types(*oracles.TYPES))
def test_scaled_frequencies_on_device(rope, conventions, embedspec_device, rope_type, how):
    """ROPE-SCALE-DEV-01 (must): a scaled rope built with device= or moved with .to(device) holds its scaled frequencies on that device and computes every call's there (meta, on a CPU-only machine): the scaling pins nothing to the CPU, and on an accelerator each call gives the rotation it gives on the CPU."""
    _provided(rope, rope_type)
    setting = CANNED[rope_type]
    target = "meta" if embedspec_device == "cpu" else embedspec_device
    f = _placed(setting, rope, target, how)
    if f is None:
        pytest.skip("the rope factory takes no device= keyword: a module built on the CPU and moved is the other case")
    what = f"{rope_type} scaling, {how} on {target}"
    if isinstance(f, torch.nn.Module):
        elsewhere = devices.registered_elsewhere(f, target)
        assert not elsewhere, f"{what}: {', '.join(elsewhere)}"
    x, positions = CASE.x(setting.head_dim), CASE.positions(setting.beyond_original())
    try:
        out = f(x.to(target), positions.to(target))
    except Exception as exc:
        if target == "meta" and devices.meta_cannot_run(exc):
            return  # the call needs what meta has not (the length n of a per-call type, autocast): what it holds was judged
        raise AssertionError(f"{what}: the call raised {type(exc).__name__}: {exc}") from exc
    assert out.device.type == torch.device(target).type, f"{what}: the result is on {out.device}"
    if target != "meta":
        _assert_rotation(out.cpu(), x, positions, setting.expected(int(positions.max()) + 1), conventions, what=what)


# -------------------------------------------------------------------------------------------------------------------
# Bad configurations

UNKNOWN_TYPES = ["ntk", "Linear", "yarn2", "dynamic-ntk", "longrope3", ""]
REQUIRED = {"linear": ["factor"], "dynamic": ["factor"], "yarn": ["factor"],
            "llama3": ["factor", "low_freq_factor", "high_freq_factor"], "longrope": ["short_factor", "long_factor"]}
# Values no configuration may hold: a factor below 1, not a number (NaN; a quoted number, as JSON configs have),
# an original length that is null or not positive, an attention factor of 0 (every output zero).
BAD_NUMBERS = {"factor": [0.5, 0.0, -2.0, 0.999, math.nan, "4.0"],
               "original_max_position_embeddings": [None, 0, "negative"], "attention_factor": [0.0]}


def _spoilt(setting, kind, value):
    """The setting with one thing wrong, and the names (keys or values) a message may use for it."""
    if kind == "not_a_dict":  # the configuration itself: a bare type name, or the dict's items
        return setting._replace(scaling=value), (type(value).__name__,)
    scaling = dict(setting.scaling)
    if kind == "type":
        scaling["rope_type"] = value
        names = ("rope_type", value) if value else ("rope_type",)
    elif kind == "missing":
        del scaling[value]
        names = (value,)
    elif kind == "list":  # value: (key, length), length None for a bare number instead of a list
        key, length = value
        scaling[key] = 1.0 if length is None else scaling[key][:1] * length
        names = (key,)
    elif kind == "list_entry":  # value: (key, entry): a rescale factor of 0 divides a frequency by zero
        key, entry = value
        scaling[key] = [entry] + list(scaling[key][1:])
        names = (key,)
    else:  # "number": value (key, bad value)
        key, bad = value
        scaling[key] = -setting.original if bad == "negative" else bad
        names = (key,)
    return setting._replace(scaling=scaling), names


# The explicit examples, one kind of mistake each, tried first: (type, kind, value).
BAD_EXAMPLES = [
    ("linear", "number", ("factor", 0.5)),
    ("dynamic", "missing", "factor"),
    ("yarn", "number", ("original_max_position_embeddings", None)),
    ("llama3", "missing", "high_freq_factor"),
    ("longrope", "list", ("long_factor", 1)),
    ("linear", "number", ("factor", math.nan)),
    ("dynamic", "number", ("factor", "4.0")),
    ("llama3", "number", ("original_max_position_embeddings", 0)),
    ("yarn", "number", ("attention_factor", 0.0)),
    ("longrope", "list_entry", ("short_factor", 0.0)),
    ("longrope", "list", ("long_factor", None)),
    ("longrope", "number", ("attention_factor", 0.0)),
    ("linear", "not_a_dict", "linear"),
    ("yarn", "type", "ntk"),
]


@st.composite
def mistakes(draw, setting):
    """(kind, value): an unknown type, a required key left out, a bad number (BAD_NUMBERS, each where the type
    reads the key), a LongRoPE factor list of the wrong length or not a list, or holding a zero, or no dict at
    all."""
    rope_type, pairs = setting.rope_type, setting.head_dim // 2
    keys = ["factor"] + (["original_max_position_embeddings"] if rope_type != "linear" else [])
    keys += ["attention_factor"] if rope_type in ("yarn", "longrope") else []
    kinds = ["type", "missing", "number", "not_a_dict"] + (["list", "list_entry"] if rope_type == "longrope" else [])
    kind = draw(st.sampled_from(kinds))
    lists = st.sampled_from(["short_factor", "long_factor"])
    value = {
        "type": st.sampled_from(UNKNOWN_TYPES),
        "missing": st.sampled_from(REQUIRED[rope_type]),
        "number": st.sampled_from(keys).flatmap(lambda key: st.tuples(st.just(key), st.sampled_from(BAD_NUMBERS[key]))),
        "not_a_dict": st.sampled_from([rope_type, [("rope_type", rope_type)]]),
        "list": st.tuples(lists, st.sampled_from([1, pairs - 1, pairs + 1, 2 * pairs, None])),
        "list_entry": st.tuples(lists, st.just(0.0)),
    }[kind]
    return kind, draw(value)


def _bad_setting(rope, supports, choice, data):
    """A bad setting and the names a message may use: BAD_EXAMPLES[choice] (``data`` None; where its type is not
    provided, the first example of one that is), or one drawn for the type ``choice`` stands for."""
    if data is None:
        provided = _provided_among(rope, supports, oracles.TYPES)
        rope_type, kind, value = BAD_EXAMPLES[choice]
        if rope_type not in provided:
            rope_type, kind, value = next(example for example in BAD_EXAMPLES if example[0] in provided)
        return _spoilt(CANNED[rope_type], kind, value)
    rope_type = _chosen(rope, supports, choice, oracles.TYPES)
    setting = data.draw(settings(rope_type, original_given=True, head_dims=sts.even_dims(4, 16)), label="setting")
    return _spoilt(setting, *data.draw(mistakes(setting), label="mistake"))


def _built_and_called(rope, setting):
    """Build, then call once on two tokens, the last past the original length (a check made lazily, on the call
    that first needs the value, counts)."""
    scaling = setting.scaling if isinstance(setting.scaling, dict) else {}
    original = scaling.get("original_max_position_embeddings", setting.max_seq_len)
    valid = isinstance(original, int) and not isinstance(original, bool) and original > 0
    last = min(2 * original, setting.max_seq_len - 1) if valid else 8

    def call():
        return setting.build(rope)(torch.zeros(1, 2, 1, setting.head_dim), torch.tensor([0, last]))
    return call


def bad_examples(test):
    """Each of BAD_EXAMPLES as an explicit example of ``test`` (``choice`` its index, ``data`` None)."""
    for index in range(len(BAD_EXAMPLES)):
        test = example(choice=index, data=None)(test)
    return test


@bad_examples
@given(choice=st.integers(0, len(oracles.TYPES) - 1), data=st.data())
def test_bad_configuration_named(rope, supports, choice, data):
    """ROPE-SCALE-ERR-01 (should): a bad scaling configuration (an unknown rope_type, a required key left out, a factor below 1 or not a number, a null or non-positive original_max_position_embeddings, an attention_factor of 0, a LongRoPE factor list of the wrong length, not a list or holding a zero, a configuration that is not a dict) is rejected with a documented error naming the key (or, for no dict, the type given)."""
    setting, names = _bad_setting(rope, supports, choice, data)
    assert_raises_naming(_built_and_called(rope, setting), names, what=f"bad rope_scaling {setting.scaling}")


@bad_examples
@given(choice=st.integers(0, len(oracles.TYPES) - 1), data=st.data())
def test_bad_configuration_refused(rope, supports, choice, data):
    """ROPE-SCALE-REFUSE-01 (must): every bad scaling configuration of the contract (those of ROPE-SCALE-ERR-01) is refused by some exception, when the module is built or at the latest on its first call, never turned into a silent result."""
    setting, _ = _bad_setting(rope, supports, choice, data)
    try:
        result = _built_and_called(rope, setting)()
    except Exception:
        return
    shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
    raise AssertionError(f"bad rope_scaling {setting.scaling}: built and called without an error (returned {shape})")
