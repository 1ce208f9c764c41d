"""T5 relative bucket mutants: boundaries, directions, clamping, and the log buckets."""

import math

import torch

from .catalogue import mutant, variant

SPEC = "spec/test_relative_bucket.py"


def bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128, exact_end=0,
           sign=1, clamp=True, use_max_distance=True, rounding="trunc", offset_log=True, dtype=None,
           compute=torch.float32, unidirectional="clamp", no_log_room="last_bucket"):
    """Hugging Face's T5Attention._relative_position_bucket, one knob per mutant, guarded (unless ``no_log_room`` is
    "formula") where max_distance <= max_exact leaves no room for log buckets."""
    max_distance = max_distance if use_max_distance else 128
    rp = relative_position * sign
    buckets = torch.zeros_like(rp)
    if bidirectional:
        num_buckets //= 2
        buckets += (rp > 0).to(rp.dtype) * num_buckets
        n = rp.abs()
    elif unidirectional == "abs":
        n = rp.abs()
    else:
        n = -torch.min(rp, torch.zeros_like(rp))
    max_exact = num_buckets // 2
    is_small = n < max_exact + exact_end
    value = torch.log(n.to(compute) / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    value = value.round() if rounding == "round" else value
    if_large = (max_exact if offset_log else 0) + value.to(rp.dtype)
    if clamp:
        if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
    if no_log_room == "last_bucket" and max_distance <= max_exact:
        if_large = torch.full_like(if_large, num_buckets - 1)
    out = buckets + torch.where(is_small, n, if_large)
    return out.to(dtype) if dtype is not None else out


def buckets(**knobs):
    def relative_position_bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
        return bucket(relative_position, bidirectional=bidirectional, num_buckets=num_buckets,
                      max_distance=max_distance, **knobs)
    return dict(relative_position_bucket=relative_position_bucket)


@mutant(catches={"T5B-VAL-01", "T5B-EXACT-01", "T5B-MONO-01", "T5B-RANGE-01", "T5B-EDGE-02", "T5B-SAT-01",
                 "T5B-SIGN-01"}, spec=SPEC)
def exact_region_one_short():
    """Off by one at the end of the exact buckets (n < max_exact - 1): distance max_exact - 1 goes to the log branch,
    whose negative log(n / max_exact) truncates to max_exact or below. With the fewest buckets (one exact bucket),
    distance 0 itself takes log(0): a key after the query in unidirectional attention gets bucket -2^63. (n <= max_exact instead of n < max_exact is
    an equivalent mutant: log(1) = 0.)"""
    return buckets(exact_end=-1)


@mutant(catches={"T5B-VAL-01", "T5B-EXACT-01", "T5B-SAT-01", "T5B-SIGN-01", "T5B-EDGE-02"}, spec=SPEC)
def direction_flipped():
    """relative_position read as query - memory: keys before the query land in the upper half, and unidirectional
    attention buckets the future."""
    return buckets(sign=-1)


@mutant(catches={"T5B-VAL-01", "T5B-SAT-01", "T5B-RANGE-01", "T5B-SIGN-01"}, spec=SPEC)
def no_clamp_at_last_bucket():
    """The log bucket is not clamped to num_buckets - 1: distances past max_distance overflow into the other half
    and past num_buckets."""
    return buckets(clamp=False)


@mutant(catches={"T5B-VAL-01", "T5B-SAT-01", "T5B-EDGE-02"}, spec=SPEC)
def max_distance_ignored():
    """max_distance is accepted but 128 is always used."""
    return buckets(use_max_distance=False)


@mutant(catches="T5B-VAL-01", spec=SPEC)
def log_bucket_rounded():
    """The log bucket is rounded to the nearest integer instead of truncated."""
    return buckets(rounding="round")


@mutant(catches={"T5B-VAL-01", "T5B-MONO-01", "T5B-SAT-01"}, spec=SPEC)
def log_buckets_not_offset():
    """The log buckets start again from 0 instead of after the max_exact exact ones."""
    return buckets(offset_log=False)


@mutant(catches={"T5B-VAL-01", "T5B-SIGN-01", "T5B-SAT-01", "T5B-EDGE-02"}, spec=SPEC)
def unidirectional_uses_abs():
    """Unidirectionally, |relative_position| is bucketed: future keys share buckets with past ones instead of bucket 0."""
    return buckets(unidirectional="abs")


@mutant(catches={"T5B-RANGE-01", "T5B-EDGE-01"}, spec=SPEC)
def float_buckets():
    """The buckets come back as float32 (torch.where with a float branch), unusable as embedding indices."""
    return buckets(dtype=torch.float32)


@variant(spec=SPEC)
def float64_log():
    """Correct: the log bucket in float64 (it differs from T5's float32 only at exact boundaries)."""
    return buckets(compute=torch.float64)


@variant(spec=SPEC)
def int32_buckets():
    """Correct: Mesh TensorFlow's int32 buckets."""
    return buckets(dtype=torch.int32)


@mutant(catches="T5B-DEFAULT-01", spec=SPEC)
def decoder_defaults():
    """The signature defaults to the decoder's setting, bidirectional=False (T5's decoder self-attention passes
    bidirectional=not is_decoder): a caller relying on the documented default gets causal buckets."""
    def relative_position_bucket(relative_position, *, bidirectional=False, num_buckets=32, max_distance=128):
        return bucket(relative_position, bidirectional=bidirectional, num_buckets=num_buckets,
                      max_distance=max_distance)
    return dict(relative_position_bucket=relative_position_bucket)


@mutant(catches="T5B-EDGE-02", spec=SPEC)
def published_code_without_room_check():
    """The published code as is (Mesh TensorFlow, Hugging Face, torchtune, x-transformers before 0.8.3): with
    max_distance == max_exact it divides by log(1) = 0 and the NaN bucket becomes -2^63 (x-transformers #19, 64
    buckets and max_distance 16); below max_exact the log turns negative and far keys get ever smaller buckets."""
    return buckets(no_log_room="formula")


@mutant(catches="T5B-EDGE-01", spec=SPEC)
def table_sized_by_largest_distance():
    """Buckets read from a table of every distance up to the largest one asked for (as torchtune's T5 encoder builds
    its table), stopping where the buckets saturate: sizing it with relative_position.abs().max() fails on an empty
    input ("max(): Expected reduction dim to be specified for input.numel() == 0")."""
    def relative_position_bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
        reach = min(int(relative_position.abs().max()), max(max_distance, num_buckets))
        distances = torch.arange(-reach, reach + 1)
        table = bucket(distances, bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance)
        return table[relative_position.clamp(-reach, reach) + reach]
    return dict(relative_position_bucket=relative_position_bucket)


def _bidirectional_only(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
    if not bidirectional:
        raise NotImplementedError("only T5's encoder buckets (bidirectional)")
    return bucket(relative_position, num_buckets=num_buckets, max_distance=max_distance)


@variant(spec=SPEC, unsupported={"relative_position_bucket.unidirectional"})
def encoder_only_declared():
    """Correct, with T5's encoder buckets only (as torchtune's T5 encoder), and the unidirectional ones declared
    unsupported: every clause runs on bidirectional settings."""
    return dict(relative_position_bucket=_bidirectional_only)


def _unidirectional_only(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
    if bidirectional:
        raise NotImplementedError("only T5's decoder buckets (unidirectional): pass bidirectional=False")
    return bucket(relative_position, bidirectional=False, num_buckets=num_buckets, max_distance=max_distance)


@variant(spec=SPEC, unsupported={"relative_position_bucket.bidirectional"})
def decoder_only_declared():
    """Correct, with T5's decoder buckets only, and the bidirectional ones declared unsupported: every clause runs on
    unidirectional settings, and the default of bidirectional= (True, a direction it lacks) is never relied on."""
    return dict(relative_position_bucket=_unidirectional_only)
