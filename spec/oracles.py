"""The specification's own float64 oracles, vectorised, written from the papers' formulas.

Nothing here imports the reference: a bug there cannot hide in these.
"""

import math

import torch

F64 = torch.float64


def frequencies(dim, base=10000.0, schedule="paper"):
    """The dim/2 angular frequencies of the sinusoidal family, highest first.

    paper:    w_i = base^(-2i/dim)            (Vaswani et al.)
    endpoint: w_i = base^(-i/(dim/2 - 1))     (the last frequency is exactly 1/base)
    """
    half = dim // 2
    i = torch.arange(half, dtype=F64)
    if schedule == "paper":
        exponent = 2.0 * i / dim
    elif schedule == "endpoint":
        exponent = i / (half - 1)
    else:
        raise ValueError(f"unknown frequency schedule {schedule!r}")
    return torch.exp(-exponent * math.log(base))


def pair_columns(dim, layout):
    """Columns of the sine and cosine of each frequency: (sin_cols, cos_cols), each (dim/2,)."""
    half = dim // 2
    if layout == "interleaved":
        return torch.arange(0, dim, 2), torch.arange(1, dim, 2)
    if layout == "split":
        return torch.arange(half), torch.arange(half, dim)
    raise ValueError(f"unknown layout {layout!r}")


def sinusoidal_table(positions, dim, base=10000.0, layout="interleaved", schedule="paper"):
    """PE for the given positions (any real numbers), shape (len(positions), dim), float64."""
    positions = torch.as_tensor(positions, dtype=F64).reshape(-1, 1)  # (N, 1)
    angles = positions * frequencies(dim, base, schedule)  # (N, dim/2)
    sin_cols, cos_cols = pair_columns(dim, layout)
    table = torch.empty(positions.shape[0], dim, dtype=F64)
    table[:, sin_cols] = torch.sin(angles)
    table[:, cos_cols] = torch.cos(angles)
    return table


def offset_rotation(offset, dim, base=10000.0, layout="interleaved", schedule="paper"):
    """The (dim, dim) matrix M(k) with PE(p + k) = M(k) @ PE(p) for every p.

    For each frequency w, the (sin, cos) pair rotates by the angle w*k:
        sin(a + b) = sin a cos b + cos a sin b
        cos(a + b) = cos a cos b - sin a sin b
    """
    angle = offset * frequencies(dim, base, schedule)
    sin_cols, cos_cols = pair_columns(dim, layout)
    matrix = torch.zeros(dim, dim, dtype=F64)
    matrix[sin_cols, sin_cols] = torch.cos(angle)
    matrix[sin_cols, cos_cols] = torch.sin(angle)
    matrix[cos_cols, sin_cols] = -torch.sin(angle)
    matrix[cos_cols, cos_cols] = torch.cos(angle)
    return matrix


def token_scale(dim, convention):
    return math.sqrt(dim) if convention == "sqrt_dim" else 1.0


def learned_scale(dim, convention):
    return 1.0 / math.sqrt(dim) if convention == "inv_sqrt_dim" else 1.0


def scatter_rows(indices, upstream, num_rows):
    """Gradient of a row lookup: row r receives the sum of the upstream rows at its occurrences.

    indices: (...) integers; upstream: (..., dim); returns (num_rows, dim) float64.
    """
    dim = upstream.shape[-1]
    grad = torch.zeros(num_rows, dim, dtype=F64)
    return grad.index_add_(0, indices.reshape(-1).long(), upstream.reshape(-1, dim).to(F64))
