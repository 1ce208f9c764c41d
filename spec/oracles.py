"""The specification's own float64 oracles, vectorised, written from the papers' formulas.

Nothing here imports the reference: a bug there cannot hide in these.
"""

import decimal
import functools
import math
from fractions import Fraction

import torch

F64 = torch.float64


# The float64 oracle must be measurably more exact than the float64 bounds it sets (4 eps64 (|θ| + 2) for a
# float64 table), so its angles are exact: each frequency w = base^(-e) is correctly rounded (computed in 50
# decimal digits, its residual w - fl(w) kept), each angle p * w is a double-double (an error-free product), and
# sin and cos of that pair are sin(hi) + lo cos(hi) and cos(hi) - lo sin(hi). What is left is torch's float64
# sin and cos of an exact float64 argument and one rounding: within 0.5 eps64 of the 40-digit values at every
# position measured (tests/test_oracle_precision.py), where fl(p * fl(exp(-e ln base))) was off by eps64 |θ|
# and more, beyond the bound a correct float64 table is held to.
_FREQUENCY_DIGITS = 50


def _exponent(i, dim, schedule):
    """e_i of w_i = base^(-e_i), as an exact fraction."""
    if schedule == "paper":
        return Fraction(2 * i, dim)
    if schedule == "endpoint":
        if dim < 4:
            raise ValueError(f"the endpoint frequencies need dim >= 4 (they divide by dim/2 - 1), got {dim}")
        return Fraction(i, dim // 2 - 1)
    raise ValueError(f"unknown frequency schedule {schedule!r}")


@functools.lru_cache(maxsize=256)
def _frequency_parts(dim, base, schedule):
    """(w_i correctly rounded to float64, the residual w_i - fl(w_i) rounded to float64), as tuples."""
    rounded, residual = [], []
    with decimal.localcontext() as context:
        context.prec = _FREQUENCY_DIGITS
        log_base = decimal.Decimal(float(base)).ln()
        for i in range(dim // 2):
            exponent = _exponent(i, dim, schedule)
            exact = (-log_base * exponent.numerator / exponent.denominator).exp()
            nearest = float(exact)
            rounded.append(nearest)
            residual.append(float(exact - decimal.Decimal(nearest)))
    return tuple(rounded), tuple(residual)


def frequencies(dim, base=10000.0, schedule="paper"):
    """The dim/2 angular frequencies of the sinusoidal family, highest first, each correctly rounded.

    paper:    w_i = base^(-2i/dim)            (Vaswani et al.)
    endpoint: w_i = base^(-i/(dim/2 - 1))     (the last frequency is exactly 1/base)
    """
    return torch.tensor(_frequency_parts(dim, float(base), schedule)[0], dtype=F64)


_SPLITTER = 2.0**27 + 1.0  # Veltkamp: splits a float64 into two halves of 26 significant bits


def _split(a):
    scaled = _SPLITTER * a
    high = scaled - (scaled - a)
    return high, a - high


def _two_product(a, b):
    """(a * b rounded, its rounding error), exactly (Dekker): float64 tensors, broadcast."""
    product = a * b
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    return product, error


def sin_cos(positions, dim, base=10000.0, schedule="paper"):
    """sin(p w_i) and cos(p w_i) for positions of any shape (...): each (..., dim/2), float64, from exact angles."""
    rounded, residual = (torch.tensor(parts, dtype=F64) for parts in _frequency_parts(dim, float(base), schedule))
    p = torch.as_tensor(positions).to(F64)[..., None]
    high, low = _two_product(p, rounded)
    low = low + p * residual  # the angle is high + low, to about 2^-100 of itself
    sin, cos = torch.sin(high), torch.cos(high)
    return sin + low * cos, cos - low * sin


def pair_columns(dim, layout):
    """Columns of the sine and cosine of each frequency: (sin_cols, cos_cols), each (dim/2,)."""
    half = dim // 2
    if layout == "interleaved":
        return torch.arange(0, dim, 2), torch.arange(1, dim, 2)
    if layout == "split":
        return torch.arange(half), torch.arange(half, dim)
    if layout == "split_cos_first":
        return torch.arange(half, dim), torch.arange(half)
    raise ValueError(f"unknown layout {layout!r}")


def sinusoidal_table(positions, dim, base=10000.0, layout="interleaved", schedule="paper"):
    """PE for the given positions (any real numbers), shape (len(positions), dim), float64."""
    positions = torch.as_tensor(positions, dtype=F64).reshape(-1)  # (N,)
    sin, cos = sin_cos(positions, dim, base, schedule)  # (N, dim/2) each
    sin_cols, cos_cols = pair_columns(dim, layout)
    table = torch.empty(positions.shape[0], dim, dtype=F64)
    table[:, sin_cols] = sin
    table[:, cos_cols] = cos
    return table


def offset_rotation(offset, dim, base=10000.0, layout="interleaved", schedule="paper"):
    """The (dim, dim) matrix M(k) with PE(p + k) = M(k) @ PE(p) for every p.

    For each frequency w, the (sin, cos) pair rotates by the angle w*k:
        sin(a + b) = sin a cos b + cos a sin b
        cos(a + b) = cos a cos b - sin a sin b
    """
    sin, cos = sin_cos(torch.tensor(float(offset)), dim, base, schedule)
    sin_cols, cos_cols = pair_columns(dim, layout)
    matrix = torch.zeros(dim, dim, dtype=F64)
    matrix[sin_cols, sin_cols] = cos
    matrix[sin_cols, cos_cols] = sin
    matrix[cos_cols, sin_cols] = -sin
    matrix[cos_cols, cos_cols] = cos
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
