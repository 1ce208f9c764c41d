"""The specification's float64 oracle for RoPE scaling, one function per type, written from its source.

Every type changes only the angular frequency of each rotated pair (and, for YaRN and LongRoPE,
the size of the result, its attention factor). Notation: d the rotated dimension, pair k turns at
w_k = base^(-2k/d) in plain RoPE (wavelength lambda_k = 2 pi / w_k positions), s the `factor`, L the
original context `original_max_position_embeddings` (the factory's max_seq_len where the dict
leaves it out), n = max(positions) + 1 of the call. Keys mean what they mean in transformers'
`rope_scaling` (modeling_rope_utils.py), with its defaults. Nothing here imports the reference.
"""

import math
from typing import NamedTuple

import torch

from .oracles import F64, frequencies
from .oracles_relative import rope_pairs

TYPES = ("linear", "dynamic", "yarn", "llama3", "longrope")
STATIC = ("linear", "yarn", "llama3")  # the same frequencies for every call
PER_CALL = ("dynamic", "longrope")  # frequencies chosen by the call's length n


class Scaled(NamedTuple):
    """What a scaling configuration does to one call: the pair frequencies and the attention factor."""

    frequencies: torch.Tensor  # (d/2,) float64
    attention_factor: float
    log_base: float  # ln of the base whose powers the frequencies are (the dynamic type's grows with n)


def original_length(scaling, max_seq_len):
    return scaling.get("original_max_position_embeddings", max_seq_len)


def linear(scaling, dim, base, max_seq_len, seq_len):
    """Position interpolation (Chen et al. 2023, arXiv:2306.15595): position p is rotated as plain RoPE rotates
    p / s, that is every frequency divided by s."""
    return Scaled(frequencies(dim, base) / scaling["factor"], 1.0, math.log(base))


def dynamic(scaling, dim, base, max_seq_len, seq_len):
    """Dynamic NTK (emozilla 2023, after bloc97's NTK-aware base change; YaRN paper section 3.3): plain RoPE while
    n <= L; past it, the NTK-aware base b' = b * alpha^(d / (d - 2)) with alpha = s n / L - (s - 1), which is 1 at
    n = L and grows with the call's length."""
    length = original_length(scaling, max_seq_len)
    if seq_len <= length:
        return Scaled(frequencies(dim, base), 1.0, math.log(base))
    factor = scaling["factor"]
    alpha = factor * seq_len / length - (factor - 1)
    stretched = base * alpha ** (dim / (dim - 2))
    return Scaled(frequencies(dim, stretched), 1.0, math.log(stretched))


def yarn_attention_factor(scaling):
    """YaRN's attention temperature sqrt(1/t) = 0.1 ln s + 1 (Peng et al. eq. 22); with DeepSeek's mscale and
    mscale_all_dim both set, the ratio of the two such factors; an explicit attention_factor wins."""
    factor = scaling["factor"]

    def mscale(weight):
        return 1.0 if factor <= 1 else 0.1 * weight * math.log(factor) + 1.0

    if scaling.get("attention_factor") is not None:
        return scaling["attention_factor"]
    if scaling.get("mscale") and scaling.get("mscale_all_dim"):
        return mscale(scaling["mscale"]) / mscale(scaling["mscale_all_dim"])
    return mscale(1.0)


def yarn_ramp(scaling, dim, base, max_seq_len):
    """gamma_k in [0, 1] for each pair (YaRN, "NTK-by-parts", section 3.2 and the paper's code): 0 (frequency
    kept) for the pairs that turn at least beta_fast times within L, 1 (divided by s) for those that turn at most
    beta_slow times, linear in the pair index between. The pair turning r times within L sits at index
    d ln(L / (2 pi r)) / (2 ln b); with `truncate` (default) the two edges are floored and ceiled to whole pairs."""
    length = original_length(scaling, max_seq_len)
    beta_fast, beta_slow = scaling.get("beta_fast") or 32, scaling.get("beta_slow") or 1

    def index_turning(rotations):
        return dim * math.log(length / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = index_turning(beta_fast), index_turning(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if high == low:
        high = low + 0.001
    return ((torch.arange(dim // 2, dtype=F64) - low) / (high - low)).clamp(0, 1)


def yarn(scaling, dim, base, max_seq_len, seq_len):
    """YaRN (Peng et al. 2023, arXiv:2309.00071): w'_k = (1 - gamma_k) w_k + gamma_k w_k / s, and the attention
    factor above."""
    plain, gamma = frequencies(dim, base), yarn_ramp(scaling, dim, base, max_seq_len)
    return Scaled((1 - gamma) * plain + gamma * plain / scaling["factor"], yarn_attention_factor(scaling),
                  math.log(base))


def llama3_edges(scaling, max_seq_len):
    """The two wavelength edges of Llama 3.1's bands: L / high_freq_factor and L / low_freq_factor."""
    length = original_length(scaling, max_seq_len)
    return length / scaling["high_freq_factor"], length / scaling["low_freq_factor"]


def llama3(scaling, dim, base, max_seq_len, seq_len):
    """Llama 3.1 (Meta, llama-models' apply_scaling; Llama 3 herd paper): by wavelength, pairs shorter than
    L / high_freq_factor keep w_k, pairs longer than L / low_freq_factor turn at w_k / s, and between them
    w'_k = (1 - m) w_k / s + m w_k with m = (L / lambda_k - low_freq_factor) / (high_freq_factor - low_freq_factor),
    which meets both neighbours at the edges."""
    length = original_length(scaling, max_seq_len)
    plain = frequencies(dim, base)
    wavelength = 2 * math.pi / plain
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    m = ((length / wavelength - low) / (high - low)).clamp(0, 1)  # 1 in the short band, 0 in the long one
    return Scaled((1 - m) * plain / scaling["factor"] + m * plain, 1.0, math.log(base))


def longrope_attention_factor(scaling, max_seq_len):
    """LongRoPE's factor (Phi-3's code, transformers' default): sqrt(1 + ln s / ln L) for s > 1, else 1, with
    s = L' / L (max_seq_len over the original length) when the dict gives no factor."""
    if scaling.get("attention_factor") is not None:
        return scaling["attention_factor"]
    length = original_length(scaling, max_seq_len)
    factor = scaling.get("factor", max_seq_len / length)
    return 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(length))


def longrope(scaling, dim, base, max_seq_len, seq_len):
    """LongRoPE (Ding et al. 2024, arXiv:2402.13753): a searched rescale factor per pair, w'_k = w_k / e_k, with
    e = short_factor while n <= L and long_factor past it."""
    long = seq_len > original_length(scaling, max_seq_len)
    rescale = torch.tensor(scaling["long_factor" if long else "short_factor"], dtype=F64)
    return Scaled(frequencies(dim, base) / rescale, longrope_attention_factor(scaling, max_seq_len), math.log(base))


def scaled(scaling, dim, base, max_seq_len, seq_len):
    """The `Scaled` frequencies and attention factor of ``scaling`` for a call of length ``seq_len``."""
    return globals()[scaling["rope_type"]](scaling, dim, float(base), max_seq_len, seq_len)


def seq_len_of(positions):
    """n of a call: max(positions) + 1."""
    return int(torch.as_tensor(positions).max()) + 1


def rotate(x, positions, frequencies, pairing="half", scale=1.0):
    """x (B, S, H, D) rotated at positions (S,) or (B, S) with pair frequencies (D/2,), times ``scale``: float64."""
    x = x.to(F64)
    first, second = rope_pairs(x.shape[-1], pairing)
    angles = torch.as_tensor(positions).to(F64)[..., None] * frequencies  # (..., S, D/2)
    rotation = torch.polar(torch.full_like(angles, float(scale)), angles).unsqueeze(-2)  # (..., S, 1, D/2)
    z = torch.complex(x[..., first], x[..., second]) * rotation
    out = torch.empty_like(x)
    out[..., first], out[..., second] = z.real, z.imag
    return out


def feature_angles(positions, frequencies, pairing, dim):
    """|p| w'_k of each feature's pair, (..., S, 1, D): broadcastable against x."""
    angles = torch.as_tensor(positions).abs().to(F64)[..., None] * frequencies  # (..., S, D/2)
    first, second = rope_pairs(dim, pairing)
    out = torch.empty(*angles.shape[:-1], dim, dtype=F64)
    out[..., first], out[..., second] = angles, angles
    return out.unsqueeze(-2)
