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

The oracle's own error. A bound is only as good as the oracle it is measured from: the
float64 sinusoidal oracle forms its angles exactly (correctly rounded frequencies, an
error-free product p * w, see oracles.sin_cos), so its sines and cosines are within
0.5 eps64 of the 40-digit values at every position (measured in
tests/test_oracle_precision.py), a sixteenth of the smallest float64 bound
4 eps64 (|θ| + 2). Formed as fl(p * fl(exp(-e ln base))) they were off by about
eps64 |θ| and more, and a correct float64 table failed against the oracle's rounding.

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


def rotation_atol(dtype, angle, magnitude, *, operations=4):
    """Per-feature bound for a rotary embedding (RoPE) against the float64 rotation.

    ``angle`` is |p| * w of the feature's pair and ``magnitude`` is |a| + |b| of the
    pair (tensors broadcast). Two sources of error:
    - the angle, owed in float32 or better whatever the output dtype: eps32 * (|θ| + 2)
      (as in ``angle_atol``), times the size of the pair it rotates;
    - ``operations`` rounded steps of arithmetic (cos and sin rounded to the working
      dtype, two products, one sum) in the output dtype, or in float32 when the output
      is wider: the spec asks for float32 accuracy of a float64 rotation, no more.
    A bfloat16 angle errs by 2^-8 |θ|, which exceeds this bound from |θ| of a few
    units: the position 300 is already off by about a radian.
    """
    f32 = EPS[torch.float32]
    work = max(eps(dtype), f32)
    return SAFETY * (f32 * (angle + 2) + operations * work) * magnitude


def t5_log_bucket_window(half, max_exact, max_distance):
    """How far T5's float32 log-bucket value v may be from the exact one.

    v = log(n / e) / log(D / e) * (h - e) for n < D, so 0 <= v < h - e. Rounding n / e
    costs an absolute u in the logarithm, amplified by (h - e) / log(D / e); the log,
    the division and the product each cost a relative u of v. With u = eps32 / 2 and
    SAFETY: 4 eps32 ((h - e) / log(D / e) + (h - e)). For T5's defaults (h = 16, e = 8,
    D = 128) this is 5.2e-6: only a value within that of an integer, a bucket
    boundary, may legitimately land in either neighbouring bucket.
    """
    import math

    span = half - max_exact
    return SAFETY * EPS[torch.float32] * (span / math.log(max_distance / max_exact) + span)


# Across every family (devices, dtypes, autograd, purity, call sequences, compilation).
#
# Per dtype. Every family states its tolerance once, in spec/families.py, with the
# functions above and the dtype's epsilon (float64 2^-52, float32 2^-23, float16
# 2^-10, bfloat16 2^-7): `atol` for k rounded steps on values of size M, `angle_atol`
# for angles formed in the dtype. DTYPE-VAL-01 and the call sequences (SEQ-CALLS-01)
# use that one statement for every dtype; a call that mixes dtypes (a float16 module,
# a float64 input) is held to the least precise of them (`working_dtype`).


def working_dtype(*dtypes):
    """The least precise floating dtype among ``dtypes`` (the one with the largest eps); float32 if none."""
    floating = [d for d in dtypes if d in EPS]
    return max(floating, key=eps) if floating else torch.float32


def cast_model_atol(dtype, angle, magnitude, *, operations=2):
    """DEV-PREC-01: a positional module cast to a low precision with its model.

    The angles are owed in float32 whatever dtype the module was cast to,
    ``4 eps32 (|θ| + 2)``, and the result is rounded into ``dtype`` by ``operations``
    steps on values of size ``magnitude``, ``4 k eps_d M``. ``angle`` may be a tensor
    (one bound per position). A frequency cast down to bfloat16 keeps 8 significant
    bits (relative error 2^-9), so the angle p w errs by p w 2^-9: a tenth of a radian
    by position 50 at w = 1, several radians at position 2^15, against a bound of
    0.0625 M there.
    """
    return SAFETY * EPS[torch.float32] * (angle + 2) + atol(dtype, operations=operations, magnitude=magnitude)


def autocast_working_dtype(input_dtype, output_dtype):
    """AUTOCAST-ANGLE-01: the dtype whose rounding a result under ``torch.autocast`` owes, beside float32 angles.

    Autocast runs matmuls, linear layers and convolutions in its low dtype and leaves elementwise arithmetic to its
    inputs' dtypes. The angles are owed in float32 whatever autocast does, as after a cast (``cast_model_atol``,
    and ``rotation_atol``'s angle term for RoPE); the arithmetic is owed in the least precise of the inputs' and the
    result's dtype: bfloat16 activations owe bfloat16 roundings, and a result that came back in bfloat16 owes them
    too (whether that dtype is the contract's is AUTOCAST-DTYPE-01's question, not this one). An angle that an
    autocast matmul formed in bfloat16 (positions @ inv_freq, transformers before PR #29285) errs by up to
    2^-8 |θ|: a radian by position 256 at w = 1, 128 at position 2^15, against a bound of 4 (eps32 (|θ| + 2) +
    4 eps_d) per unit of size, 0.13 in bfloat16.
    """
    return working_dtype(input_dtype, output_dtype)


def across_devices_atol(tolerance):
    """DEV-ACC-01: CPU and accelerator each stay within ``tolerance`` of the oracle, so within twice it of each other."""
    return 2.0 * tolerance


def compiled_atol(tolerance):
    """COMPILE-EAGER-01: compiled and eager each stay within ``tolerance`` of the oracle (fused kernels reorder
    the same rounded steps), so within twice it of each other."""
    return 2.0 * tolerance


# GRAD-CHECK-01: torch.autograd.gradcheck in float64 with torch's atol 1e-5 and rtol 1e-3,
# and a step h = 2^-4 instead of 1e-6. Every differentiable family is linear in what it
# is differentiated against (x + table in x and in the table, a lookup in the weight,
# a rotation in x, a resampling or a shift in its input) or quadratic (the tied weight,
# used twice), and central differences are exact for polynomials of degree <= 2
# whatever the step. A large step keeps the rounding of implementations that compute
# in float32 internally (legal: the rotary and sinusoidal clauses owe float32 accuracy)
# at eps32 * M / (2h) ~ 5e-7 M, inside atol; with h = 1e-6 it would be 0.06 M.
GRADCHECK = dict(eps=2.0**-4, atol=1e-5, rtol=1e-3)


# RoPE scaling (spec/test_rope_scaling.py).


def scaled_rotation_atol(dtype, angle, magnitude, *, log_base, attention_factor=1.0, operations=4):
    """Per-feature bound for a scaled RoPE (linear, dynamic, YaRN, Llama 3.1, LongRoPE) against the float64 one.

    ``rotation_atol`` owes the angle p w in float32 for a frequency w rounded once. A scaled frequency
    w' = g(base^(-2k/d)) is owed only in float32 too, and takes more steps to form: the exponent 2k/d rounded to
    float32 (a relative error of u * 2k/d * ln(base) <= u ln(base) in the power, u = eps32 / 2), the power (u),
    and at most 6 rounded steps of the type's own arithmetic (the division by the factor, YaRN's ramp and mix,
    Llama 3.1's smoothing, LongRoPE's rescale, the dynamic base's power): w' is within u (ln(base) + 7) relative,
    ``log_base`` being ln of the base actually raised (the dynamic type's grows with the call). So the angle
    p w' errs by eps32 (ln(base) + 7) / 2 |θ| on top of rotation_atol's eps32 (|θ| + 2). The attention factor
    (``rope.attention_factor = output``) scales the result, and so its error, and costs two more roundings (cos
    and sin times it) in the working dtype. At base 500000 the frequency term is 10 eps32 |θ|; a frequency
    rounded to bfloat16 errs by 2^-9 |θ|, 6500 times more.
    """
    f32 = EPS[torch.float32]
    work = max(eps(dtype), f32)
    frequency = (log_base + 7) / 2
    return SAFETY * (f32 * ((1 + frequency) * angle + 2) + (operations + 2) * work) * magnitude * attention_factor


def frequency_ratio_atol(plain_angle, scaled_angle, *, log_base):
    """How exactly a pair's scaled frequency w' over its plain one w is measured from one rotated unit vector.

    The pair (1, 0) rotated at position p comes back as a (cos p w', sin p w'), a the attention factor; its angle
    atan2 is p w' up to the rotation's error relative to a, which ``scaled_rotation_atol`` bounds for magnitude 1
    in float32 (sqrt 2 for the two components); dividing by the plain angle p w gives the ratio's tolerance.
    The probes sit where p w is about one radian, so the ratio is known to about 1e-5.
    """
    angle_error = 2**0.5 * scaled_rotation_atol(torch.float32, scaled_angle, 1.0, log_base=log_base)
    return angle_error / plain_angle
