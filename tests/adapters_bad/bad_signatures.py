"""Three factories whose signatures cannot take the contract's arguments, as an adapter written in haste has.

- ``token_embedding(num_embeddings, embedding_dim)``: no ``padding_idx=``;
- ``sinusoidal_encoding(num_positions, dim)``: no ``base=``;
- ``rope(head_dim, *, base=10000.0)``: no ``max_seq_len=``.

Each is checked once at the start of the run: one ERROR per factory, naming it, its signature and the contract's
arguments, and the family's properties skipped, blocked by it (not an ERROR per property).
"""

from embedspec.reference import rope as _rope
from embedspec.reference import sinusoidal_encoding as _sinusoidal_encoding
from embedspec.reference import token_embedding as _token_embedding


def token_embedding(num_embeddings, embedding_dim):
    return _token_embedding(num_embeddings, embedding_dim)


def sinusoidal_encoding(num_positions, dim):
    return _sinusoidal_encoding(num_positions, dim)


def rope(head_dim, *, base=10000.0):
    return _rope(head_dim, base=base)
