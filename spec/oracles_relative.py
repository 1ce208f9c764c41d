"""The specification's float64 oracles for rotary, ALiBi, T5, 2-D sincos and interpolation.

Written from the papers' formulas, vectorised, in float64 (complex128 for RoPE);
nothing here imports the reference.
"""

import math

import torch

from .oracles import F64, frequencies, sinusoidal_table

C128 = torch.complex128


# RoPE (Su et al., RoFormer): each pair of features (a, b) is read as the complex
# number a + ib and multiplied by exp(i * p * w_k), w_k = base^(-2k/d).


def rope_pairs(dim, pairing):
    """The two feature columns of each rotated pair: (first, second), each (dim/2,).

    half:        feature k pairs with k + dim/2 (GPT-NeoX, Llama: rotate_half)
    interleaved: feature 2k pairs with 2k + 1 (GPT-J, RoFormer, Meta's view_as_complex)
    Pair k rotates at frequency w_k in both conventions.
    """
    half = dim // 2
    if pairing == "half":
        return torch.arange(half), torch.arange(half, dim)
    if pairing == "interleaved":
        return torch.arange(0, dim, 2), torch.arange(1, dim, 2)
    raise ValueError(f"unknown rope pairing {pairing!r}")


def rope_permutation(dim, source, target):
    """The fixed feature permutation pi with  R_target(x[..., pi]) = R_source(x)[..., pi].

    Position j of the target layout holds the feature of the source layout that plays
    the same role (same pair, same member), so the two conventions are one map.
    """
    permutation = torch.empty(dim, dtype=torch.long)
    target_first, target_second = rope_pairs(dim, target)
    source_first, source_second = rope_pairs(dim, source)
    permutation[target_first] = source_first
    permutation[target_second] = source_second
    return permutation


def rope_angles(positions, dim, base=10000.0):
    """p * w_k for positions of any shape (...): shape (..., dim/2), float64."""
    return torch.as_tensor(positions).to(F64)[..., None] * frequencies(dim, base, "paper")


def rope(x, positions, base=10000.0, pairing="half", rotary_dim=None):
    """RoPE of x (B, S, H, D) at positions (S,) or (B, S), float64, complex formulation.

    Only the first ``rotary_dim`` features (default all) rotate, with frequencies
    base^(-2k/rotary_dim); the rest pass through.
    """
    x = x.to(F64)
    dim = x.shape[-1] if rotary_dim is None else rotary_dim
    first, second = rope_pairs(dim, pairing)
    angles = rope_angles(positions, dim, base)  # (S, dim/2) or (B, S, dim/2)
    rotation = torch.polar(torch.ones_like(angles), angles).unsqueeze(-2)  # (..., S, 1, dim/2): over heads
    z = torch.complex(x[..., first], x[..., second]) * rotation  # (B, S, H, dim/2)
    out = x.clone()
    out[..., first] = z.real
    out[..., second] = z.imag
    return out


def rope_pair_magnitude(x, pairing, rotary_dim=None):
    """For every feature, |a| + |b| of the pair it belongs to (the size a rotation mixes); (B, S, H, D)."""
    x = x.to(F64).abs()
    dim = x.shape[-1] if rotary_dim is None else rotary_dim
    first, second = rope_pairs(dim, pairing)
    out = x.clone()
    out[..., first] = x[..., first] + x[..., second]
    out[..., second] = out[..., first]
    return out


def rope_feature_angles(positions, dim, pairing, base=10000.0, head_dim=None):
    """|p| * w of each feature's pair, broadcastable against x (B, S, 1, head_dim); 0 for unrotated features."""
    angles = rope_angles(torch.as_tensor(positions).abs(), dim, base)  # (..., S, dim/2)
    first, second = rope_pairs(dim, pairing)
    out = torch.zeros(*angles.shape[:-1], head_dim or dim, dtype=F64)
    out[..., first] = angles
    out[..., second] = angles
    return out.unsqueeze(-2)


# ALiBi (Press et al., 2021).


def alibi_slopes(num_heads):
    """The head slopes of the ALiBi paper's reference code, (num_heads,) float64.

    For n a power of two: 2^(-8k/n), k = 1..n. Otherwise, with p the largest power of
    two below n: the p slopes of p heads, then the slopes of 2p heads at odd k
    (every other one, starting with the first), n - p of them.
    """
    p = 2 ** math.floor(math.log2(num_heads))
    first = torch.pow(2.0, -8.0 / p * torch.arange(1, p + 1, dtype=F64))
    rest = torch.pow(2.0, -8.0 / (2 * p) * (2 * torch.arange(num_heads - p, dtype=F64) + 1))
    return torch.cat([first, rest])


def alibi_distance(q_len, k_len):
    """i - j for query row r at position k_len - q_len + r and key j: (q_len, k_len) float64."""
    query = torch.arange(k_len - q_len, k_len, dtype=F64)
    key = torch.arange(k_len, dtype=F64)
    return query[:, None] - key[None, :]


def alibi_bias(num_heads, q_len, k_len):
    """The symmetric form -m_h * |i - j|, (num_heads, q_len, k_len) float64."""
    return -alibi_slopes(num_heads)[:, None, None] * alibi_distance(q_len, k_len).abs()


# T5 relative attention buckets (Raffel et al.; Mesh TensorFlow's
# _relative_position_bucket, as in Hugging Face's T5Attention).


def t5_bucket_bounds(relative_position, bidirectional=True, num_buckets=32, max_distance=128, window=0.0):
    """The admissible buckets (low, high) for relative_position = memory - query.

    With n = |relative_position| (bidirectional; the upper half of the buckets for
    relative_position > 0) or n = max(-relative_position, 0) (unidirectional), and
    e = num_buckets // 2 exact buckets (of the half):
        bucket = n                                                if n < e
        bucket = min(e + floor(v), half - 1),  v = log(n / e) / log(max_distance / e) * (half - e)   otherwise.
    T5 computes v in float32; ``window`` widens v by the float32 rounding it may carry,
    so low < high exactly where v is that close to an integer (a boundary).
    When max_distance <= e there is no room for log buckets: every distance past the
    exact ones is at or past max_distance and falls in the last bucket, half - 1.
    """
    rp = torch.as_tensor(relative_position).to(torch.int64)
    if bidirectional:
        half = num_buckets // 2
        offset = (rp > 0).to(torch.int64) * half
        n = rp.abs()
    else:
        half = num_buckets
        offset = torch.zeros_like(rp)
        n = (-rp).clamp(min=0)
    exact = half // 2
    if max_distance <= exact:
        v = torch.full(n.shape, float(half - exact), dtype=F64)
    else:
        v = torch.log(n.to(F64).clamp(min=1) / exact) / math.log(max_distance / exact) * (half - exact)

    def bucket(value):
        large = (exact + value.clamp(min=0).floor().to(torch.int64)).clamp(max=half - 1)
        return offset + torch.where(n < exact, n, large)

    return bucket(v - window), bucket(v + window)


# 2-D sincos (MAE, ViT): half the features encode the row, half the column.


def sincos_2d(height, width, dim, base=10000.0, order="hw", layout="interleaved", schedule="paper", grid="index"):
    """(height * width, dim) float64, cell (i, j) at row i * width + j.

    grid: index puts cell (i, j) at positions (i, j); normalised at (i, j * height / width), both axes spanning
    the extent of the rows (diffusers' get_2d_sincos_pos_embed with base_size = height).
    """
    columns = torch.arange(width, dtype=F64)
    if grid == "normalised":
        columns = columns * height / width  # j * height exact, then one rounding
    rows = sinusoidal_table(torch.arange(height), dim // 2, base, layout, schedule)  # (H, dim/2)
    cols = sinusoidal_table(columns, dim // 2, base, layout, schedule)  # (W, dim/2)
    row_half = rows[:, None, :].expand(height, width, dim // 2)
    col_half = cols[None, :, :].expand(height, width, dim // 2)
    halves = (row_half, col_half) if order == "hw" else (col_half, row_half)
    return torch.cat(halves, dim=-1).reshape(height * width, dim)


# Resampling a learned table (the long tutorial's interpolate_position_embeddings).


def interpolate(table, new_len):
    """Linear interpolation with align_corners=True semantics: output row k samples the
    input at coordinate k * (L - 1) / (new_len - 1) (linspace(0, 1) on both grids), so the
    first and last rows map onto the first and last rows. (new_len, dim) float64.
    """
    table = table.to(F64)
    length = table.shape[0]
    if length == 1 or new_len == 1:
        return table[:1].expand(new_len, -1).clone()
    coordinate = torch.arange(new_len, dtype=F64) * (length - 1) / (new_len - 1)
    left = coordinate.floor().to(torch.long).clamp(max=length - 2)
    weight = (coordinate - left)[:, None]
    return (1 - weight) * table[left] + weight * table[left + 1]
