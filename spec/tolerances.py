"""Every tolerance of the specification, and how it is derived.

Model. A value computed in a floating dtype with unit roundoff u = eps/2 by a chain
of k correctly rounded operations on operands of size M carries an error of at most
about k * u * M (first-order forward error analysis). We allow
``SAFETY * k * eps * M`` with SAFETY = 4, which covers the factor 2 between eps
and u and a further factor 2 for library kernels that are not correctly rounded
(vectorised sin/cos are accurate to a few ulps, not to half an ulp).

Angles. sin(theta) and cos(theta) inherit the absolute error of theta itself. Forming
theta = position * frequency in the working dtype costs about eps * |theta|, so
a table or rotation at position p may differ from the float64 oracle by
``SAFETY * eps * (|theta| + 1)``: this is the price of computing in float32 and
is what a correct float32 implementation achieves; an angle formed in bfloat16
misses it by orders of magnitude at positions past a few hundred.

Comparisons use ``torch.testing.assert_close(actual, expected, rtol=0, atol=...)``
against float64 oracles, so the tolerance is stated in absolute terms of the
output's magnitude.
"""

import torch

SAFETY = 4.0

EPS = {
    torch.float64: torch.finfo(torch.float64).eps,  # 2^-52
    torch.float32: torch.finfo(torch.float32).eps,  # 2^-23
    torch.float16: torch.finfo(torch.float16).eps,  # 2^-10
    torch.bfloat16: torch.finfo(torch.bfloat16).eps,  # 2^-7
}


def eps(dtype):
    return EPS[dtype]


def atol(dtype, *, operations=1, magnitude=1.0):
    """Absolute tolerance for a result of ``operations`` rounded steps on values of size ``magnitude``."""
    return SAFETY * operations * eps(dtype) * magnitude


def angle_atol(dtype, max_angle, *, operations=2):
    """Absolute tolerance for sin/cos of angles up to ``max_angle`` radians formed in ``dtype``.

    ``operations`` counts the rounded steps after the angle (sin or cos, then a product
    or sum); the angle's own error eps * |theta| is added separately.
    """
    return SAFETY * eps(dtype) * (float(max_angle) + operations)


def exact():
    """For pure re-indexing (lookups, shifts): bit-for-bit equality."""
    return dict(rtol=0.0, atol=0.0)
