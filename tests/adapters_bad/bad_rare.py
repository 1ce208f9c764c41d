"""Bugs that only a few inputs show (for scripts/determinism.py).

A random profile finds such a bug on some runs and misses it on others, so its
verdict flips; the derandomized ``ci`` profile decides the same way on every run.

- ``token_embedding``: with 11 rows and 6 features or more, row 10 is looked up
  as row 9;
- ``learned_positional``: a sequence of exactly 13 positions gets row 12 twice;
- ``sinusoidal_encoding``: tables of 37 to 39 positions are 1e-3 off at the last row.
"""

import torch

from embedspec.reference import learned_positional as _learned_positional
from embedspec.reference import sinusoidal_encoding as _sinusoidal_encoding
from embedspec.reference import token_embedding as _token_embedding


class _Token(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.weight = inner.weight

    def forward(self, ids):
        if self.weight.shape == (11, self.weight.shape[1]) and self.weight.shape[1] >= 6:
            ids = torch.where(ids == 10, 9, ids)
        return self.inner(ids)


def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None):
    return _Token(_token_embedding(num_embeddings, embedding_dim, padding_idx=padding_idx))


class _Learned(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.weight = inner.weight

    def forward(self, x, positions=None):
        if positions is None and x.shape[1] == 13:
            positions = torch.arange(13, device=x.device).clamp(max=11)
            positions[-1] = 12
            positions[-2] = 12
        return self.inner(x, positions)


def learned_positional(max_len, dim):
    return _Learned(_learned_positional(max_len, dim))


def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
    table = _sinusoidal_encoding(num_positions, dim, base=base)
    if 37 <= num_positions <= 39:
        table = table.clone()
        table[-1] += 1e-3
    return table
