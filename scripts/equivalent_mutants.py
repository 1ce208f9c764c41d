"""Surviving AST mutants of the reference that are equivalent to it, each with its one-line argument.

Keys are the mutant ids printed by scripts/mutate.py (module:function: original -> mutated).
A mutant belongs here only when no test of the contract could tell it from the
reference: the change is unobservable (it alters nothing a caller can see), or it
alters only what the contract leaves free (initial values of learned tables, the
wording of an error message that still names the value). Every other survivor
is a gap in the specification and gets a sharper property instead.
"""

_INIT = ("the contract leaves the initial values of a learned table free (only its shape, its being a trained "
         "parameter and how it is used are specified)")
_CLASS_DEFAULT = ("a default of the class that the factory never uses: the factory always passes this argument "
                  "explicitly, and the contract reaches the class only through the factory")

_ZERO_WIDTH = ("lets a width of 0 through (rotating or encoding no features: an empty result instead of an error), which the "
               "contract leaves free: it rejects odd widths only")
_ONE_IS_ODD = "rejects 1 as well, which is odd and rejected by the parity test with the same error"
_NO_CACHE = ("the reference forms its angles in every call and keeps no cache, so max_seq_len changes nothing it computes "
             "(ROPE-BEYOND-01 accepts the exact rotation at any position)")

_FLOAT32_INSIDE = ("the scaled frequencies formed in float32 instead of float64 before the float32 cast: the rotation stays "
                   "within scaled_rotation_atol, which owes the scaled frequency in float32 (the contract asks for "
                   "float32 angles, not float64 ones)")
_RANGE_FREE = ("a range check on a type's secondary key (YaRN's betas and mscales, Llama 3.1's frequency factors): "
               "the contract's bad configurations are those of ROPE-SCALE-ERR-01, and transformers only warns about "
               "these, so refusing them is the reference's own strictness")
_STILL_NAMES_KEY = "the message still names the key, which is what ROPE-SCALE-ERR-01 asks a message to name"
_SAME_AT_ONE = "the boundary value itself gives the same number: at factor 1, 0.1 ln(1) + 1 and sqrt(1 + ln(1) / ln L) are 1"

EQUIVALENT = {
    # sinusoidal.py
    "sinusoidal.py:sinusoidal_encoding: 0 -> 1":
        "`dim <= 1` instead of `dim <= 0`: the only integer it adds, dim = 1, is odd and is rejected by the "
        "`dim % 2 != 0` test with the same error",
    "sinusoidal.py:sinusoidal_encoding: dim <= 0 -> dim < 0":
        "lets dim = 0 through (an empty (N, 0) table instead of an error): the contract rejects odd dims only and "
        "leaves dim = 0 free",
    "sinusoidal.py:sinusoidal_encoding: 0 -> -1":
        "`dim <= -1`: lets dim = 0 through, which the contract leaves free (see `dim < 0`)",
    "sinusoidal.py:sinusoidal_encoding: torch.arange(num_positions, dtype=torch.float64, device=device) -> "
    "torch.arange(num_positions, device=device)":
        "positions made in the default float32: integers below 2^24 are exact in float32, and their product with "
        "the float64 frequencies is promoted to float64, so the table is bit-identical",
    "sinusoidal.py:sinusoidal_encoding: torch.float64 -> torch.float32":
        "the same as above: float32 positions are exact below 2^24 and promoted to float64 by the product",
    "sinusoidal.py:sinusoidal_encoding: torch.zeros -> torch.ones":
        "the buffer's initial values are all overwritten by the sine and cosine column assignments",
    # learned_positional.py
    "learned_positional.py:LearnedPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, std=0.02)": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, mean=0.0)": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.0 -> 1.0": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.0 -> -1.0": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.02 -> 1.02": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.02 -> 0.002": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.forward: check_ids(positions, self.max_len, what='position') -> "
    "check_ids(positions, self.max_len)":
        "the error for a bad position then says 'token id 9' instead of 'position 9': still a documented type "
        "naming the offending value, which is all the contract asks of a message",
    # transformer_embedding.py
    "transformer_embedding.py:TransformerEmbedding.__init__: 0.0 -> 1.0": _CLASS_DEFAULT,
    "transformer_embedding.py:TransformerEmbedding.__init__: 0.0 -> -1.0": _CLASS_DEFAULT,
    # hybrid.py (the same two patterns)
    "hybrid.py:HybridPositionalEmbedding.__init__: 10000.0 -> 10001.0": _CLASS_DEFAULT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 10000.0 -> 1000.0": _CLASS_DEFAULT,
    "hybrid.py:HybridPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, std=0.02)": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, mean=0.0)": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.0 -> 1.0": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.0 -> -1.0": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.02 -> 1.02": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.02 -> 0.002": _INIT,
    # learned_2d.py (the patterns of learned_positional.py)
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: False -> True": _CLASS_DEFAULT,
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: nn.init.normal_(weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(weight, std=0.02)": _INIT,
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: nn.init.normal_(weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(weight, mean=0.0)": _INIT,
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: 0.0 -> 1.0": _INIT,
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: 0.0 -> -1.0": _INIT,
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: 0.02 -> 1.02": _INIT,
    "learned_2d.py:Learned2DPositionalEmbedding.__init__: 0.02 -> 0.002": _INIT,
    # relative_bucket.py
    "relative_bucket.py:relative_position_bucket: (relative_position > 0).to(relative_position.dtype) -> "
    "relative_position > 0":
        "a bool tensor times an int is an int64 tensor, and adding it in place into the integer buckets gives the same "
        "values as the cast first",
    "relative_bucket.py:relative_position_bucket: n < max_exact -> n <= max_exact":
        "at n = max_exact the log branch gives max_exact + trunc(log(1) ...) = max_exact, the same bucket",
    "relative_bucket.py:relative_position_bucket: n.float() -> n":
        "an integer tensor divided by an int is already float32 (true division in the default dtype), the same "
        "numbers as n.float() / max_exact",
    # rope.py
    "rope.py:RotaryEmbedding.__init__: 10000.0 -> 10001.0": _CLASS_DEFAULT,
    "rope.py:RotaryEmbedding.__init__: 10000.0 -> 1000.0": _CLASS_DEFAULT,
    "rope.py:RotaryEmbedding.__init__: 4096 -> 4097": _CLASS_DEFAULT,
    "rope.py:RotaryEmbedding.__init__: 4096 -> 4095": _CLASS_DEFAULT,
    "rope.py:rope: 4096 -> 4097": _NO_CACHE,
    "rope.py:rope: 4096 -> 4095": _NO_CACHE,
    "rope.py:rope: RotaryEmbedding(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, de... -> "
    "RotaryEmbedding(head_dim, base=base, rotary_dim=rotary_dim, device=device)": _NO_CACHE,
    "rope.py:RotaryEmbedding.__init__: head_dim <= 0 -> head_dim < 0": _ZERO_WIDTH,
    "rope.py:RotaryEmbedding.__init__: 0 -> 1": _ONE_IS_ODD,
    "rope.py:RotaryEmbedding.__init__: 0 -> -1": _ZERO_WIDTH,
    "rope.py:RotaryEmbedding.__init__: rotary_dim <= 0 -> rotary_dim < 0": _ZERO_WIDTH,
    "rope.py:RotaryEmbedding.__init__: 0 -> 1 #3": _ONE_IS_ODD,
    "rope.py:RotaryEmbedding.__init__: 0 -> -1 #3": _ZERO_WIDTH,
    "rope.py:RotaryEmbedding.__init__: torch.arange(0, rotary_dim, 2, dtype=torch.float64, device=device) -> "
    "torch.arange(0, rotary_dim, 2, device=device)":
        "inv_freq formed in float32 (as Llama's is) is within 2 ulp of the rounded float64 value: an angle error far "
        "inside the float32 angle budget the contract grants (ROPE-PREC-01: 4 eps32 (p w + 2))",
    "rope.py:RotaryEmbedding.__init__: torch.float64 -> torch.float32":
        "the same as above: inv_freq formed in float32 is within the float32 angle budget",
    "rope.py:RotaryEmbedding.__init__: (1.0 / base ** exponent).float() -> 1.0 / base ** exponent":
        "inv_freq kept in float64: the angles are then formed in float64, more accurate than the float32 the "
        "contract requires, and _apply keeps that buffer's dtype through casts",
    "rope.py:RotaryEmbedding.__init__: self.register_buffer('inv_freq', inv_freq, persistent=False) -> "
    "self.register_buffer('inv_freq', inv_freq)":
        "inv_freq saved in the state_dict too: whether a derived buffer is persistent is left free by the contract "
        "(DEV-STATE-01's round trip works either way; older transformers releases saved it)",
    "rope.py:RotaryEmbedding.__init__: False -> True":
        "persistent=True: the same as dropping the keyword (see above)",
    "rope.py:RotaryEmbedding._apply: True -> False":
        "the default of recurse: nn.Module.to() and .half() call _apply(fn) and RotaryEmbedding has no child modules, "
        "so recursing or not reaches the same tensors",
    "rope.py:RotaryEmbedding.forward: 0 -> 1":
        "the length of a call with no positions, for the per-call scaling types: an empty call rotates nothing, so its "
        "frequencies are never used",
    "rope.py:RotaryEmbedding.forward: 0 -> -1":
        "the length of a call with no positions, for the per-call scaling types: an empty call rotates nothing, so its "
        "frequencies are never used",
    "rope.py:RotaryEmbedding.forward: positions.float() -> positions":
        "integer positions times the float32 inv_freq are promoted to float32: the same product",
    "rope.py:RotaryEmbedding.forward: x[..., :self.rotary_dim].float() -> x[..., :self.rotary_dim]":
        "x times the float32 cos and sin is promoted to float32 for half inputs (the same arithmetic) and to float64 "
        "for float64 inputs (more accurate than required)",
    # alibi.py
    "alibi.py:alibi_bias: raise ValueError(f'q_len {q_len} exceeds k_len {k_len}') -> pass":
        "the contract specifies alibi_bias for q_len <= k_len; past it, the reference without the check returns the "
        "bias of the same position rule (query row r at k_len - q_len + r, now negative), which the contract leaves "
        "free",
    "alibi.py:alibi_bias: f'q_len {q_len} exceeds k_len {k_len}' -> 'q_len exceeds k_len '":
        "the message of the check above, for an input the contract leaves free",
    # sincos_2d.py
    "sincos_2d.py:sincos_2d: dim <= 0 -> dim < 0": _ZERO_WIDTH,
    "sincos_2d.py:sincos_2d: 0 -> 1": "`dim <= 1`: the integers it adds are not multiples of 4 and are rejected anyway",
    "sincos_2d.py:sincos_2d: 0 -> -1": _ZERO_WIDTH,
    # interpolate.py
    "interpolate.py:interpolate_positions: 0 -> 1":
        "`new_len <= 1` also rejects new_len = 1 with a documented error naming it: a single row has no grid spacing, "
        "and the contract leaves that case free",
    "interpolate.py:interpolate_positions: resampled.squeeze(0).T.contiguous() -> resampled.squeeze(0).T":
        "the same values in a transposed layout: the contract asks for the resampled table, not a memory layout",
    # tied.py
    "tied.py:TiedEmbedding.__init__: Projection(embedding_dim, num_embeddings, bias=False, device=device, dtype=dtype) "
    "-> Projection(embedding_dim, num_embeddings, bias=False, dtype=dtype)":
        "the projection's own weight is replaced by the embedding's in the constructor (tie_weights): no tensor the "
        "module holds is made there",
    "tied.py:TiedEmbedding.__init__: Projection(embedding_dim, num_embeddings, bias=False, device=device, dtype=dtype) "
    "-> Projection(embedding_dim, num_embeddings, bias=False, device=device)":
        "the same: the weight made in the default dtype is replaced by the embedding's before the constructor returns",
    # rope_scaling.py
    "rope_scaling.py:_factors: torch.tensor(value, dtype=torch.float64) -> torch.tensor(value)": _FLOAT32_INSIDE,
    "rope_scaling.py:_factors: torch.float64 -> torch.float32": _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies.__init__: torch.arange(0, dim, 2, dtype=torch.float64) -> torch.arange(0, dim, 2)":
        _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies.__init__: torch.float64 -> torch.float32": _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies._dynamic: torch.arange(0, self.dim, 2, dtype=torch.float64) -> "
    "torch.arange(0, self.dim, 2)": _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies._dynamic: torch.float64 -> torch.float32": _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies._yarn: torch.arange(self.dim // 2, dtype=torch.float64) -> "
    "torch.arange(self.dim // 2)": _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies._yarn: torch.float64 -> torch.float32": _FLOAT32_INSIDE,
    "rope_scaling.py:ScaledFrequencies._yarn: self.dim // 2 -> self.dim / 2":
        "torch.arange(8.0) is the pair indices 0 to 7 as floats: the same ramp",
    "rope_scaling.py:ScaledFrequencies.frequencies: scaled.float() -> scaled":
        "float64 frequencies give float64 angles: more accurate than the float32 the contract requires",
    "rope_scaling.py:ScaledFrequencies._dynamic: seq_len <= self.original -> seq_len < self.original":
        "at seq_len = original the stretch s n / L - (s - 1) is 1 and the base unchanged: the plain frequencies either way",
    "rope_scaling.py:ScaledFrequencies._mscale: self.factor <= 1 -> self.factor < 1": _SAME_AT_ONE,
    "rope_scaling.py:ScaledFrequencies._mscale: 1 -> 0":
        "`factor <= 0` never holds (factors below 1 are refused), and at factor 1 the formula gives 1: " + _SAME_AT_ONE,
    "rope_scaling.py:ScaledFrequencies._check_longrope: self.factor > 1 -> self.factor >= 1": _SAME_AT_ONE,
    "rope_scaling.py:ScaledFrequencies._yarn: 0.001 -> 0.0001":
        "with low == high the ramp (k - low) / 0.0001 is a step at the same integer k as with 0.001",
    "rope_scaling.py:ScaledFrequencies._llama3: wavelength > self.original / self.low_freq_factor -> "
    "wavelength >= self.original / self.low_freq_factor":
        "at that wavelength the smooth factor is 0 and the middle band's formula gives w / s, the low band's value",
    "rope_scaling.py:ScaledFrequencies._llama3: wavelength < self.original / self.high_freq_factor -> "
    "wavelength <= self.original / self.high_freq_factor":
        "at that wavelength the smooth factor is 1 and the middle band's formula gives w, the high band's value",
    "rope_scaling.py:ScaledFrequencies._check_longrope: self.dim // 2 -> self.dim / 2":
        "a list's length compares equal to 8.0 as to 8; only the count in the message reads 8.0",
    "rope_scaling.py:ScaledFrequencies._check_longrope: self.dim // 2 -> self.dim / 2 #2":
        "a list's length compares equal to 8.0 as to 8; only the count in the message reads 8.0",
    "rope_scaling.py:ScaledFrequencies.__init__: f\"rope_scaling['rope_type'] must be one of {', '.join(TYPES)}, got "
    "{self.type!r}\" -> \"rope_scaling['rope_type'] must be one of , got \"": _STILL_NAMES_KEY,
    "rope_scaling.py:ScaledFrequencies.__init__: f\"rope_scaling['original_max_position_embeddings'] must be a positive "
    "integer, got {ori... -> \"rope_scaling['original_max_position_embeddings'] must be a positive integer, got \"":
        _STILL_NAMES_KEY,
    "rope_scaling.py:ScaledFrequencies._check_yarn: _number(scaling, 'beta_fast', above=0) -> "
    "_number(scaling, 'beta_fast')": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: 0 -> 1": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: 0 -> -1": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: _number(scaling, 'beta_slow', above=0) -> "
    "_number(scaling, 'beta_slow')": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: 0 -> -1 #2": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: self.beta_fast <= self.beta_slow -> "
    "self.beta_fast < self.beta_slow": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: raise ValueError(f\"rope_scaling['beta_fast'] ({self.beta_fast}) "
    "must exceed beta_slow (... -> pass": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: f\"rope_scaling['beta_fast'] ({self.beta_fast}) must exceed "
    "beta_slow ({self.beta_slow})\" -> \"rope_scaling['beta_fast'] () must exceed beta_slow ()\"": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: _number(scaling, 'mscale', above=0) -> _number(scaling, 'mscale')":
        _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: 0 -> -1 #4": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: _number(scaling, 'mscale_all_dim', above=0) -> "
    "_number(scaling, 'mscale_all_dim')": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_yarn: 0 -> -1 #5": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_llama3: _number(scaling, 'low_freq_factor', above=0) -> "
    "_number(scaling, 'low_freq_factor')": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_llama3: 0 -> -1": _RANGE_FREE,
    "rope_scaling.py:ScaledFrequencies._check_llama3: _number(scaling, 'high_freq_factor', above=self.low_freq_factor) "
    "-> _number(scaling, 'high_freq_factor')": _RANGE_FREE,
}
