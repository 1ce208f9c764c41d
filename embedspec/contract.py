"""The implementation contract as data: family names and declared conventions.

This module is the single source of the tables in ``../shared/contract.md``;
the README documents them and the plugin validates adapters against them.
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
    "sinusoidal.layout": ("interleaved", "split"),
    "sinusoidal.frequencies": ("paper", "endpoint"),
    "sinusoidal.beyond_max_len": ("raise", "extend"),
    "learned_positional.scale": ("one", "inv_sqrt_dim"),
    "rope.pairing": ("half", "interleaved"),
    "alibi.mode": ("symmetric", "causal"),
    "sincos_2d.order": ("hw", "wh"),
    "hybrid.switch": ("sequence", "position"),
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
