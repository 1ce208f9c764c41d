"""The reference implementation: one small, literal module per family.

Declares no conventions, so every convention takes its default value.
"""

from .learned_positional import learned_positional
from .sinusoidal import sinusoidal_encoding, sinusoidal_module
from .token_embedding import token_embedding
from .transformer_embedding import transformer_embedding

__all__ = [
    "learned_positional",
    "sinusoidal_encoding",
    "sinusoidal_module",
    "token_embedding",
    "transformer_embedding",
]
