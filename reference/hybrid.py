"""Learned positions up to max_len, the sinusoidal table past it (the long tutorial's
HybridPositionalEmbedding, "use sinusoidal for positions > max_seq_len").

As in the tutorial, a sequence longer than max_len uses the sinusoidal table for
every one of its positions (hybrid.switch = "sequence").
"""

import torch
from torch import nn

from .sinusoidal import sinusoidal_encoding


class HybridPositionalEmbedding(nn.Module):
    def __init__(self, max_len, dim, *, base=10000.0, device=None, dtype=None):
        super().__init__()
        self.max_len, self.dim, self.base = max_len, dim, base
        self.weight = nn.Parameter(torch.empty(max_len, dim, device=device, dtype=dtype))  # (max_len, dim)
        nn.init.normal_(self.weight, mean=0.0, std=0.02)

    def forward(self, x):  # x: (B, S, dim)
        seq_len = x.size(1)
        if seq_len <= self.max_len:
            return x + self.weight[:seq_len]  # (S, dim), broadcast over the batch
        # longer than anything learned: the fixed table, computed for this length (nothing to train)
        table = sinusoidal_encoding(seq_len, self.dim, base=self.base, device=x.device, dtype=x.dtype)  # (S, dim)
        return x + table


def hybrid_positional(max_len, dim, *, base=10000.0, device=None, dtype=None):
    return HybridPositionalEmbedding(max_len, dim, base=base, device=device, dtype=dtype)
