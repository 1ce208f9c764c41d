"""The reference implementation: one small, literal module per family.

Declares no conventions, so every convention takes its default value.
"""

from .alibi import alibi_bias, alibi_slopes
from .hybrid import hybrid_positional
from .interpolate import interpolate_positions
from .learned_2d import learned_2d
from .learned_positional import learned_positional
from .relative_bucket import relative_position_bucket
from .relative_shift import relative_shift
from .tied import tied_embedding
from .rope import rope
from .sincos_2d import sincos_2d
from .sinusoidal import sinusoidal_encoding, sinusoidal_module
from .token_embedding import token_embedding
from .transformer_embedding import transformer_embedding

__all__ = [
    "alibi_bias",
    "alibi_slopes",
    "interpolate_positions",
    "relative_position_bucket",
    "rope",
    "sincos_2d",
    "hybrid_positional",
    "learned_2d",
    "learned_positional",
    "relative_shift",
    "tied_embedding",
    "sinusoidal_encoding",
    "sinusoidal_module",
    "token_embedding",
    "transformer_embedding",
]
