"""The implementation contract as data: family names, declared conventions and optional features.

This module is the single source of the tables in ``../shared/contract.md``;
docs/guide/conventions.md and docs/guide/capabilities.md document them, and the plugin validates
adapters against them.
"""

FAMILIES = (
    "token_embedding",
    "sinusoidal_encoding",
    "sinusoidal_module",
    "learned_positional",
    "transformer_embedding",
    "rope",
    "alibi_slopes",
    "alibi_bias",
    "relative_position_bucket",
    "sincos_2d",
    "interpolate_positions",
    "relative_shift",
    "hybrid_positional",
    "learned_2d",
    "tied_embedding",
)

# key -> legal values, the default first.
CONVENTIONS = {
    "token_embedding.scale": ("one", "sqrt_dim"),
    # split_cos_first: the cosines in the first half, the sines in the second (diffusers' flip_sin_to_cos=True)
    "sinusoidal.layout": ("interleaved", "split", "split_cos_first"),
    "sinusoidal.frequencies": ("paper", "endpoint"),
    "sinusoidal.beyond_max_len": ("raise", "extend"),
    "learned_positional.scale": ("one", "inv_sqrt_dim"),
    "rope.pairing": ("half", "interleaved"),
    "alibi.mode": ("symmetric", "causal"),
    "sincos_2d.order": ("hw", "wh"),
    # where the cells sit: index (row i, column j) or normalised (row i, column j * height / width: both axes span
    # the extent of the rows, as diffusers' get_2d_sincos_pos_embed with base_size = height)
    "sincos_2d.grid": ("index", "normalised"),
    "hybrid.switch": ("sequence", "position"),
    # where a RoPE scaling type's attention factor goes (YaRN's 0.1 ln(factor) + 1, LongRoPE's): multiplied into
    # the rotated tensor (transformers scales cos and sin) or left to the attention's softmax scale
    "rope.attention_factor": ("output", "separate"),
}


# Optional features an implementation may declare in `unsupported`: name -> what it lacks then.
FEATURES = {
    "token_embedding.padding_idx": "the padding_idx= keyword (no padding row)",
    "relative_position_bucket.bidirectional": "bidirectional buckets (T5's decoder has only unidirectional ones)",
    "relative_position_bucket.unidirectional": "unidirectional buckets (T5's encoder has only bidirectional ones)",
    "learned_2d.full": "the full learned 2-D table (only the factorized form)",
    "learned_2d.factorized": "the factorized learned 2-D table (only the full form)",
    "sinusoidal.base": "a sinusoidal base other than 10000 (the wavelength is hard-coded)",
    "sincos_2d.base": "a 2-D sin-cos base other than 10000 (the wavelength is hard-coded)",
    "rope.base": "a RoPE base other than 10000 (the wavelength is hard-coded)",
    "transformer_embedding.sinusoidal": 'positional="sinusoidal" in the transformer embedding',
    "rope.batched_positions": "RoPE positions of shape (B, S) (one position vector for the whole batch)",
    "rope.scaling.linear": "RoPE scaling type linear (position interpolation)",
    "rope.scaling.dynamic": "RoPE scaling type dynamic (dynamic NTK)",
    "rope.scaling.yarn": "RoPE scaling type yarn (YaRN)",
    "rope.scaling.llama3": "RoPE scaling type llama3 (Llama 3.1's frequency bands)",
    "rope.scaling.longrope": "RoPE scaling type longrope (LongRoPE)",
}


# The arguments the specification calls each factory with: its positional sizes (by their contract names) and its
# keywords, each with the optional feature that makes it optional (None: every implementation of the family takes
# it). ``device=``, ``dtype=``, ``rotary_dim=`` and ``scaling=`` are passed only where a factory accepts them.
SIGNATURES = {
    "token_embedding": (("num_embeddings", "embedding_dim"), {"padding_idx": "token_embedding.padding_idx"}),
    "sinusoidal_encoding": (("num_positions", "dim"), {"base": "sinusoidal.base"}),
    "sinusoidal_module": (("dim", "max_len"), {"base": "sinusoidal.base"}),
    "learned_positional": (("max_len", "dim"), {}),
    "transformer_embedding": (("vocab_size", "dim", "max_len"),
                              {"positional": None, "padding_idx": "token_embedding.padding_idx", "dropout": None}),
    "rope": (("head_dim",), {"base": "rope.base", "max_seq_len": None}),
    "alibi_slopes": (("num_heads",), {}),
    "alibi_bias": (("num_heads", "q_len", "k_len"), {}),
    "relative_position_bucket": (("relative_position",), {"bidirectional": None, "num_buckets": None,
                                                          "max_distance": None}),
    "sincos_2d": (("height", "width", "dim"), {"base": "sincos_2d.base"}),
    "interpolate_positions": (("table", "new_len"), {}),
    "relative_shift": (("scores",), {}),
    "hybrid_positional": (("max_len", "dim"), {"base": None}),
    "learned_2d": (("height", "width", "dim"), {"factorized": None}),
    "tied_embedding": (("num_embeddings", "embedding_dim"), {}),
}


class ConventionError(ValueError):
    """An implementation declared a convention key or value the contract does not know."""


def resolve_conventions(declared):
    """Return the full convention mapping: the declared values over the defaults.

    Raises ConventionError naming every unknown key or value and listing the legal ones.
    """
    declared = dict(declared or {})
    problems = []
    for key, value in declared.items():
        if key not in CONVENTIONS:
            problems.append(f"unknown convention key {key!r}; known keys: {', '.join(CONVENTIONS)}")
        elif value not in CONVENTIONS[key]:
            problems.append(
                f"convention {key!r} has no value {value!r}; legal values: {', '.join(CONVENTIONS[key])}"
            )
    if problems:
        raise ConventionError("; ".join(problems))
    return {key: declared.get(key, values[0]) for key, values in CONVENTIONS.items()}


class FeatureError(ValueError):
    """An implementation declared an unsupported feature the contract does not know."""


def resolve_unsupported(declared):
    """Return the declared unsupported features as a frozenset.

    Raises FeatureError naming every unknown feature and listing the known ones.
    """
    if isinstance(declared, str) or not all(isinstance(name, str) for name in declared):
        raise FeatureError(f"`unsupported` must be a set of feature names, got {declared!r}")
    unknown = sorted(set(declared) - set(FEATURES))
    if unknown:
        raise FeatureError(f"unknown feature(s) {', '.join(map(repr, unknown))}; known features: {', '.join(FEATURES)}")
    return frozenset(declared)
