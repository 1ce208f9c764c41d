"""T5 relative position buckets (Raffel et al., 2020; Mesh TensorFlow's _relative_position_bucket).

The input is relative_position = memory_position - query_position. Values are
checked against the spec's vectorised oracle of the published algorithm.

Float32 boundaries. T5 computes the log bucket v = log(n/e) / log(D/e) * (h - e) in
float32 and truncates it. An exhaustive comparison of that float32 computation with
float64, for every even num_buckets in 4..128, both directions, max_distance up to
512 and |relative_position| up to 4 * max_distance, finds flips at 56 of those
settings (e.g. num_buckets=18, bidirectional, max_distance=128 at |d| = 8, 16, 64,
where v is exactly an integer; or num_buckets=58, unidirectional, max_distance=282 at
d = -119, where v is 4.7e-8 below 18), none at T5's defaults (32, 128). Every flip is
at a v within float32 rounding of an integer, so the oracle accepts either
neighbouring bucket there and nowhere else (``tolerances.t5_log_bucket_window``).
The strategy's ranges below contain such settings; the same comparison over the wider
ordinary domain drawn below (num_buckets up to 320, odd ones included, max_distance
from just past the exact buckets to 512) finds every float32 bucket within that window.

Directions are optional features (`relative_position_bucket.bidirectional`,
`.unidirectional`: T5's encoder has only the first, its decoder only the second): the
settings drawn are moved to a direction the implementation has.

The ordinary domain is a non-empty tensor of relative positions and a max_distance past
the exact buckets (max_exact = (buckets per direction) / 2 >= 1, so num_buckets >= 4
bidirectionally and >= 2 unidirectionally). Two edges have clauses of their own: 0-d and
empty relative positions (T5B-EDGE-01), and a max_distance at or below max_exact, where
the published code divides by log(max_distance / max_exact) <= 0 (T5B-EDGE-02).
"""

import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from . import oracles_relative as oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_refused
from .capabilities import supported

BIDIRECTIONAL, UNIDIRECTIONAL = "relative_position_bucket.bidirectional", "relative_position_bucket.unidirectional"


def _direction_feature(bidirectional):
    return BIDIRECTIONAL if bidirectional else UNIDIRECTIONAL


def _half_and_exact(bidirectional, num_buckets):
    half = num_buckets // 2 if bidirectional else num_buckets
    return half, half // 2


def _fewest_buckets(bidirectional):
    """The fewest buckets with one exact bucket per direction (max_exact >= 1)."""
    return 4 if bidirectional else 2


@st.composite
def bucket_settings(draw):
    """(bidirectional, num_buckets, max_distance) of the ordinary domain: T5's defaults, even counts to 64, any count
    to 320 (more buckets than max_distance among them), and max_distance from just past the exact buckets to 512."""
    bidirectional = draw(st.booleans())
    fewest = _fewest_buckets(bidirectional)
    num_buckets = draw(st.one_of(st.just(32), st.integers(fewest // 2, 32).map(lambda k: 2 * k),
                                 st.integers(fewest, 320)))
    _, exact = _half_and_exact(bidirectional, num_buckets)
    max_distance = draw(st.one_of(st.just(128), st.integers(exact + 1, 512),
                                  st.integers(exact + 1, max(exact + 1, num_buckets))))
    return bidirectional, num_buckets, max(max_distance, exact + 1)


def _in_supported_direction(supports, settings, *, log_buckets=True):
    """``settings`` in a direction the implementation has: the drawn one, or else the other, with num_buckets and
    max_distance moved as far as that direction needs to keep max_distance past max_exact (``log_buckets``) or at
    most max_exact (not). Skips the property as not provided when it has neither direction."""
    bidirectional, num_buckets, max_distance = settings
    direction = supported(supports, [bidirectional, not bidirectional], _direction_feature)[0]
    num_buckets = max(num_buckets, _fewest_buckets(direction))
    _, exact = _half_and_exact(direction, num_buckets)
    return direction, num_buckets, max(max_distance, exact + 1) if log_buckets else min(max_distance, exact)


def _buckets(relative_position_bucket, relative_position, bidirectional, num_buckets, max_distance):
    kwargs = dict(bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance)
    return _checked_buckets(relative_position_bucket(relative_position.clone(), **kwargs), relative_position)


def _checked_buckets(out, relative_position):
    """``out``, asserted to be a tensor of the input's shape."""
    assert isinstance(out, torch.Tensor), f"returned a {type(out).__name__}, not a tensor"
    assert tuple(out.shape) == tuple(relative_position.shape), (
        f"shape {tuple(out.shape)} for an input of shape {tuple(relative_position.shape)}"
    )
    return out


def _is_integer(dtype):
    return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool


def _every_distance(max_distance):
    """Every relative position from -(2D + 2) to 2D + 2: both directions, past saturation."""
    reach = 2 * max_distance + 2
    return torch.arange(-reach, reach + 1)


def _first_bad(relative_position, bad, out, expected):
    index = tuple(int(i) for i in bad.nonzero()[0])
    return (f"relative position {int(relative_position[index])}: bucket {int(out[index])}, expected {expected(index)} "
            f"({int(bad.sum())} of {bad.numel()} positions wrong)")


def _assert_buckets(context, relative_position, out, expected):
    """``out`` equals the ``expected`` buckets everywhere; otherwise the first relative position that differs is
    named."""
    bad = out != expected
    if bad.any():
        raise AssertionError(f"{context}: " + _first_bad(relative_position, bad, out, lambda i: int(expected[i])))


@given(settings=bucket_settings())
@example(settings=(True, 32, 128))  # T5's defaults
@example(settings=(False, 32, 128))
@example(settings=(True, 18, 128))  # float32 flips at exact boundaries |d| = 8, 16, 64
def test_values_match_t5(relative_position_bucket, supports, settings):
    """T5B-VAL-01 (must): the bucket of every relative position (memory - query) is T5's: exact buckets for small distances, then log-spaced buckets up to max_distance, split by direction when bidirectional."""
    settings = _in_supported_direction(supports, settings)
    bidirectional, num_buckets, max_distance = settings
    rp = _every_distance(max_distance)
    out = _buckets(relative_position_bucket, rp, *settings).to(torch.int64)
    half, exact = _half_and_exact(bidirectional, num_buckets)
    window = tolerances.t5_log_bucket_window(half, exact, max_distance)
    low, high = oracles.t5_bucket_bounds(rp, bidirectional, num_buckets, max_distance, window)
    bad = (out < low) | (out > high)
    if bad.any():
        def expected(i):
            return f"{int(low[i])}" if low[i] == high[i] else f"{int(low[i])} or {int(high[i])}"
        raise AssertionError(f"{settings}: " + _first_bad(rp, bad, out, expected))


@given(settings=bucket_settings())
@example(settings=(True, 32, 128))
@example(settings=(False, 4, 3))
def test_small_distances_exact(relative_position_bucket, supports, settings):
    """T5B-EXACT-01 (must): each distance below max_exact = (buckets per direction) / 2 has a bucket of its own, the distance itself (keys after the query offset by half the buckets when bidirectional)."""
    settings = _in_supported_direction(supports, settings)
    bidirectional, num_buckets, max_distance = settings
    half, exact = _half_and_exact(bidirectional, num_buckets)
    rp = torch.arange(-(exact - 1), exact) if bidirectional else torch.arange(-(exact - 1), 1)
    out = _buckets(relative_position_bucket, rp, *settings).to(torch.int64)
    _assert_buckets(settings, rp, out, rp.abs() + (rp > 0).to(torch.int64) * half)


@given(settings=bucket_settings(), beyond=st.integers(0, 4096))
@example(settings=(True, 32, 128), beyond=0)
@example(settings=(True, 32, 48), beyond=1)
@example(settings=(False, 2, 8), beyond=3)  # the fewest buckets: one exact bucket, then saturation
def test_saturates_at_max_distance(relative_position_bucket, supports, settings, beyond):
    """T5B-SAT-01 (must): every distance at or past max_distance falls in the last bucket of its direction, however far."""
    settings = _in_supported_direction(supports, settings)
    bidirectional, num_buckets, max_distance = settings
    half, _ = _half_and_exact(bidirectional, num_buckets)
    distance = max_distance + beyond
    rp = torch.tensor([-distance, -max_distance, max_distance, distance])
    out = _buckets(relative_position_bucket, rp, *settings).to(torch.int64)
    if bidirectional:
        expected = torch.tensor([half - 1, half - 1, 2 * half - 1, 2 * half - 1])
    else:  # keys after the query are bucket 0 (T5B-SIGN-01)
        expected = torch.tensor([half - 1, half - 1, 0, 0])
    _assert_buckets(settings, rp, out, expected)


@given(settings=bucket_settings())
@example(settings=(True, 32, 128))
def test_monotone_in_distance(relative_position_bucket, supports, settings):
    """T5B-MONO-01 (must): within each direction the bucket never decreases as the distance grows: farther keys never share a bucket with nearer ones out of order."""
    settings = _in_supported_direction(supports, settings)
    bidirectional, num_buckets, max_distance = settings
    distance = torch.arange(0, 2 * max_distance + 3)
    directions = (("before the query", -distance), ("after the query", distance)) if bidirectional else (
        ("before the query", -distance),)
    for name, rp in directions:
        out = _buckets(relative_position_bucket, rp, *settings).to(torch.int64)
        drops = (out[1:] < out[:-1]).nonzero()
        if len(drops):
            d = int(drops[0])
            raise AssertionError(f"{settings}, keys {name}: distance {d} has bucket {int(out[d])}, "
                                 f"distance {d + 1} bucket {int(out[d + 1])}")


@given(settings=bucket_settings())
@example(settings=(True, 32, 128))
@example(settings=(False, 32, 128))
@example(settings=(False, 2, 8))  # the fewest buckets: distance 0 is the only exact bucket
@example(settings=(True, 4, 8))
def test_direction_split(relative_position_bucket, supports, settings):
    """T5B-SIGN-01 (must): bidirectionally, a key after the query (relative position d > 0) gets the bucket of the key at -d plus half the buckets, and keys at or before the query stay in the lower half; unidirectionally, every key after the query is bucket 0."""
    settings = _in_supported_direction(supports, settings)
    bidirectional, num_buckets, max_distance = settings
    half, _ = _half_and_exact(bidirectional, num_buckets)
    distance = torch.arange(1, 2 * max_distance + 3)
    before = _buckets(relative_position_bucket, torch.cat([torch.zeros(1, dtype=torch.long), -distance]),
                      *settings).to(torch.int64)
    after = _buckets(relative_position_bucket, distance, *settings).to(torch.int64)
    _assert_buckets(settings, distance, after, before[1:] + half if bidirectional else torch.zeros_like(after))
    if bidirectional:
        high = (before >= half).nonzero()
        if len(high):
            d = int(high[0])
            raise AssertionError(f"{settings}: relative position {-d} (key at or before the query) has bucket "
                                 f"{int(before[d])}, in the upper half [{half}, {2 * half})")


@given(settings=bucket_settings(), shape=sts.ordinary_shapes(), seed=sts.seeds(),
       reach=st.sampled_from([8, 1000, 10**6]))
@example(settings=(True, 32, 128), shape=(3,), seed=0, reach=8)
@example(settings=(False, 32, 128), shape=(2, 3), seed=0, reach=10**6)
@example(settings=(True, 4, 8), shape=(4, 4), seed=0, reach=8)  # the fewest buckets: one exact bucket, distance 0 among the draws
def test_integer_buckets_in_range(relative_position_bucket, supports, settings, shape, seed, reach):
    """T5B-RANGE-01 (must): for relative positions of any shape and any size, the result has the input's shape, an integer dtype, and every bucket in [0, num_buckets)."""
    settings = _in_supported_direction(supports, settings)
    _, num_buckets, _ = settings
    rp = sts.randint(-reach, reach + 1, shape, seed)
    out = _buckets(relative_position_bucket, rp, *settings)
    assert _is_integer(out.dtype), f"buckets of dtype {out.dtype}: bucket ids index an embedding, they are integers"
    bad = (out < 0) | (out >= num_buckets)
    if bad.any():
        raise AssertionError(f"{settings}: " + _first_bad(rp, bad, out, lambda i: f"a bucket in [0, {num_buckets})"))


KEYWORDS = ("bidirectional", "num_buckets", "max_distance")
DEFAULTS = dict(zip(KEYWORDS, (True, 32, 128)))  # the contract's signature


@given(settings=bucket_settings(), passed=st.sets(st.sampled_from(KEYWORDS), max_size=2))
@example(settings=(True, 32, 128), passed=set())
@example(settings=(False, 32, 128), passed={"bidirectional"})  # unidirectional: all 32 buckets in one direction
@example(settings=(True, 64, 128), passed={"num_buckets"})
def test_defaults_are_t5s(relative_position_bucket, supports, settings, passed):
    """T5B-DEFAULT-01 (must): a keyword left out takes T5's default from the contract's signature (bidirectional=True, num_buckets=32, max_distance=128): the buckets are those of the same call with the default passed explicitly."""
    settings = _in_supported_direction(supports, settings)
    if not supports(BIDIRECTIONAL):  # the default direction is one it lacks: bidirectional= is always passed
        passed = passed | {"bidirectional"}
    effective = {k: v if k in passed else DEFAULTS[k] for k, v in zip(KEYWORDS, settings)}
    _, exact = _half_and_exact(effective["bidirectional"], effective["num_buckets"])
    assume(exact >= 1 and effective["max_distance"] > exact)  # the ordinary domain, in the direction called
    rp = _every_distance(effective["max_distance"])
    explicit = _buckets(relative_position_bucket, rp, *effective.values()).to(torch.int64)
    out = relative_position_bucket(rp.clone(), **{k: effective[k] for k in passed})
    assert isinstance(out, torch.Tensor), f"returned a {type(out).__name__}, not a tensor"
    called = ", ".join(f"{k}={effective[k]!r}" for k in sorted(passed)) or "no keyword"
    left_out = ", ".join(f"{k}={v!r}" for k, v in DEFAULTS.items() if k not in passed)
    _assert_buckets(f"called with {called}, leaving {left_out} to the defaults, against the call with every keyword "
                    f"passed", rp, out.to(torch.int64), explicit)


def _edge_positions():
    """0-d or empty relative positions, the degenerate inputs (one query and one key; no pair at all)."""
    return st.one_of(st.just(()), sts.empty_shapes())


@given(settings=bucket_settings(), shape=_edge_positions(), seed=sts.seeds())
@example(settings=(True, 32, 128), shape=(), seed=0)
@example(settings=(False, 32, 128), shape=(0, 3), seed=0)
def test_degenerate_positions(relative_position_bucket, supports, settings, shape, seed):
    """T5B-EDGE-01 (must): for 0-d and empty relative positions the result has the input's shape and an integer dtype, and a 0-d position gets the bucket it gets in a one-element tensor (its value there is T5B-VAL-01's)."""
    settings = _in_supported_direction(supports, settings)
    reach = 2 * settings[2] + 2  # as far past max_distance as before it
    rp = sts.randint(-reach, reach + 1, shape, seed)
    out = _buckets(relative_position_bucket, rp, *settings)
    assert _is_integer(out.dtype), f"buckets of dtype {out.dtype}: bucket ids index an embedding, they are integers"
    if rp.dim() == 0:
        alone = _buckets(relative_position_bucket, rp.reshape(1), *settings)
        assert int(out) == int(alone[0]), (f"{settings}: the 0-d relative position {int(rp)} has bucket {int(out)}, "
                                           f"but {int(alone[0])} in a one-element tensor")


@st.composite
def settings_without_log_buckets(draw):
    """(bidirectional, num_buckets, max_distance) with max_distance <= max_exact: more buckets than the distances can
    use (x-transformers #19: 64 buckets and max_distance 16)."""
    bidirectional = draw(st.booleans())
    num_buckets = draw(st.integers(_fewest_buckets(bidirectional), 128))
    _, exact = _half_and_exact(bidirectional, num_buckets)
    return bidirectional, num_buckets, draw(st.integers(1, exact))


@given(settings=settings_without_log_buckets())
@example(settings=(True, 64, 16))  # x-transformers #19: max_distance == max_exact, log(1) in a denominator
@example(settings=(False, 64, 16))  # max_distance < max_exact: a negative log in a denominator
def test_no_room_for_log_buckets(relative_position_bucket, supports, settings):
    """T5B-EDGE-02 (must): when max_distance <= max_exact (no room for log buckets, e.g. 64 buckets and max_distance 16), every distance below max_exact keeps its exact bucket and every larger one, being at or past max_distance, falls in the last bucket of its direction, or the setting is refused (x-transformers since 0.8.3 refuses it): never a bucket from dividing by log(max_distance / max_exact) <= 0 (x-transformers #19 returned -2^63)."""
    settings = _in_supported_direction(supports, settings, log_buckets=False)
    _, exact = _half_and_exact(*settings[:2])
    rp = _every_distance(exact)
    expected = oracles.t5_bucket_bounds(rp, *settings)[0]

    def follows_the_rule(out):
        try:
            _assert_buckets(settings, rp, _checked_buckets(out, rp).to(torch.int64), expected)
        except AssertionError as wrong:
            return str(wrong)
        return None

    bidirectional, num_buckets, max_distance = settings
    assert_refused(lambda: relative_position_bucket(rp.clone(), bidirectional=bidirectional, num_buckets=num_buckets,
                                                    max_distance=max_distance),
                   what=f"settings {settings}", handled=follows_the_rule)
