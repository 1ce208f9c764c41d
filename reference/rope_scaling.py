"""RoPE scaling: the frequencies of a scaled rotary embedding, from a transformers `rope_scaling` dict.

d is the rotated dimension, w_k = base^(-2k/d) (k = 0 .. d/2 - 1) the plain frequencies,
lambda_k = 2 pi / w_k their wavelengths, s = `factor`, L = `original_max_position_embeddings`
(default: the module's max_seq_len), n = max(positions) + 1 of the current call.

    linear   (position interpolation, Chen et al. 2023)   w'_k = w_k / s
    dynamic  (dynamic NTK, emozilla 2023)                 n <= L: w'_k = w_k; n > L: the plain frequencies of
                                                          base' = base * (s n / L - (s - 1))^(d / (d - 2))
    yarn     (Peng et al. 2023)                           w'_k = w_k ((1 - g_k) + g_k / s), g the ramp below
    llama3   (Llama 3.1)                                  kept for lambda_k < L / high_freq_factor, divided by s
                                                          for lambda_k > L / low_freq_factor, smoothed between
    longrope (Ding et al. 2024)                           w'_k = w_k / e_k, e = short_factor (n <= L) or long_factor

YaRN's ramp g over the pair index k: 0 up to the pair that turns beta_fast times within L, 1 from
the pair that turns beta_slow times, linear between (the paper's code, find_correction_range).
Attention factors: yarn 0.1 ln s + 1 (or mscale's ratio, or `attention_factor`), longrope
sqrt(1 + ln s / ln L) (or `attention_factor`), the others 1.
"""

import math

import torch

TYPES = ("linear", "dynamic", "yarn", "llama3", "longrope")
REQUIRED = {  # keys without a default, per type
    "linear": ("factor",),
    "dynamic": ("factor",),
    "yarn": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor"),
    "longrope": ("short_factor", "long_factor"),
}
PER_CALL = ("dynamic", "longrope")  # types whose frequencies depend on the call's length n


def _number(scaling, key, *, at_least=None, above=None):
    value = scaling[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"rope_scaling[{key!r}] must be a number, got {value!r}")
    if at_least is not None and value < at_least:
        raise ValueError(f"rope_scaling[{key!r}] must be >= {at_least}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"rope_scaling[{key!r}] must be > {above}, got {value!r}")
    return float(value)


def _factors(scaling, key, pairs):
    value = scaling[key]
    if not isinstance(value, (list, tuple)) or len(value) != pairs:
        length = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise ValueError(f"rope_scaling[{key!r}] must be a list of {pairs} numbers (one per pair), got {length}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"rope_scaling[{key!r}] must hold positive numbers, got {value!r}")
    return torch.tensor(value, dtype=torch.float64)  # (d/2,)


class ScaledFrequencies:
    """The checked configuration; ``frequencies(n)`` gives (w' as float32 (d/2,), attention factor)."""

    def __init__(self, scaling, dim, base, max_seq_len):
        if not isinstance(scaling, dict):
            raise TypeError(f"scaling must be a rope_scaling dict, got {type(scaling).__name__}")
        self.type = scaling.get("rope_type", scaling.get("type"))
        if self.type not in TYPES:
            raise ValueError(f"rope_scaling['rope_type'] must be one of {', '.join(TYPES)}, got {self.type!r}")
        for key in REQUIRED[self.type]:
            if key not in scaling:
                raise ValueError(f"rope_scaling[{key!r}] is required for rope_type {self.type!r}")
        self.dim, self.base = dim, float(base)
        original = scaling.get("original_max_position_embeddings", max_seq_len)
        if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
            raise ValueError(f"rope_scaling['original_max_position_embeddings'] must be a positive integer, "
                             f"got {original!r}")
        self.original = original
        if "factor" in scaling:
            self.factor = _number(scaling, "factor", at_least=1.0)
        else:  # longrope: the ratio of the lengths, as transformers infers it
            self.factor = max_seq_len / original
        exponent = torch.arange(0, dim, 2, dtype=torch.float64) / dim
        self.plain = 1.0 / self.base**exponent  # (d/2,) float64
        self.attention_factor = 1.0
        getattr(self, f"_check_{self.type}")(scaling)
        if self.type not in PER_CALL:
            self.static = getattr(self, f"_{self.type}")()

    def frequencies(self, seq_len):
        scaled = self.static if self.type not in PER_CALL else getattr(self, f"_{self.type}")(seq_len)
        return scaled.float(), self.attention_factor

    # linear

    def _check_linear(self, scaling):
        pass

    def _linear(self):
        return self.plain / self.factor

    # dynamic

    def _check_dynamic(self, scaling):
        pass

    def _dynamic(self, seq_len):
        if seq_len <= self.original:
            return self.plain
        stretch = self.factor * seq_len / self.original - (self.factor - 1)
        base = self.base * stretch ** (self.dim / (self.dim - 2))
        return 1.0 / base ** (torch.arange(0, self.dim, 2, dtype=torch.float64) / self.dim)

    # yarn

    def _check_yarn(self, scaling):
        self.beta_fast = _number(scaling, "beta_fast", above=0) if "beta_fast" in scaling else 32.0
        self.beta_slow = _number(scaling, "beta_slow", above=0) if "beta_slow" in scaling else 1.0
        if self.beta_fast <= self.beta_slow:
            raise ValueError(f"rope_scaling['beta_fast'] ({self.beta_fast}) must exceed beta_slow ({self.beta_slow})")
        self.truncate = bool(scaling.get("truncate", True))
        if "attention_factor" in scaling:
            self.attention_factor = _number(scaling, "attention_factor", above=0)
        elif scaling.get("mscale") and scaling.get("mscale_all_dim"):  # DeepSeek: a ratio of two mscales
            mscale = _number(scaling, "mscale", above=0)
            mscale_all_dim = _number(scaling, "mscale_all_dim", above=0)
            self.attention_factor = self._mscale(mscale) / self._mscale(mscale_all_dim)
        else:
            self.attention_factor = self._mscale(1.0)

    def _mscale(self, mscale):
        return 1.0 if self.factor <= 1 else 0.1 * mscale * math.log(self.factor) + 1.0

    def _yarn(self):
        def pair_turning(rotations):  # the (real) pair index whose wavelength fits `rotations` times into L
            return self.dim * math.log(self.original / (rotations * 2 * math.pi)) / (2 * math.log(self.base))

        low, high = pair_turning(self.beta_fast), pair_turning(self.beta_slow)
        if self.truncate:
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, self.dim - 1)
        if low == high:
            high += 0.001  # one step, not a division by zero
        k = torch.arange(self.dim // 2, dtype=torch.float64)
        ramp = ((k - low) / (high - low)).clamp(0, 1)  # (d/2,): 0 keeps w_k, 1 divides it by s
        return self.plain * (1 - ramp) + self.plain / self.factor * ramp

    # llama3

    def _check_llama3(self, scaling):
        self.low_freq_factor = _number(scaling, "low_freq_factor", above=0)
        self.high_freq_factor = _number(scaling, "high_freq_factor", above=self.low_freq_factor)

    def _llama3(self):
        wavelength = 2 * math.pi / self.plain  # (d/2,)
        smooth = (self.original / wavelength - self.low_freq_factor) / (self.high_freq_factor - self.low_freq_factor)
        middle = (1 - smooth) * self.plain / self.factor + smooth * self.plain
        scaled = torch.where(wavelength > self.original / self.low_freq_factor, self.plain / self.factor, middle)
        return torch.where(wavelength < self.original / self.high_freq_factor, self.plain, scaled)

    # longrope

    def _check_longrope(self, scaling):
        self.short_factor = _factors(scaling, "short_factor", self.dim // 2)
        self.long_factor = _factors(scaling, "long_factor", self.dim // 2)
        if "attention_factor" in scaling:
            self.attention_factor = _number(scaling, "attention_factor", above=0)
        elif self.factor > 1:
            self.attention_factor = math.sqrt(1 + math.log(self.factor) / math.log(self.original))

    def _longrope(self, seq_len):
        return self.plain / (self.long_factor if seq_len > self.original else self.short_factor)
