"""Learned absolute positional embedding: one trainable row per position (GPT-2, BERT)."""

import torch
from torch import nn

from .token_embedding import check_ids


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len, dim, *, device=None, dtype=None):
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.empty(max_len, dim, device=device, dtype=dtype))  # (max_len, dim)
        nn.init.normal_(self.weight, mean=0.0, std=0.02)

    def forward(self, x, positions=None):  # x: (B, S, dim); positions: (S,) or (B, S)
        seq_len = x.size(1)
        if positions is None:
            if seq_len > self.max_len:  # checked before any tensor is made
                raise ValueError(f"sequence length {seq_len} exceeds max_len {self.max_len}")
            positions = torch.arange(seq_len, device=x.device)
        else:
            check_ids(positions, self.max_len, what="position")
        return x + self.weight[positions]  # (S, dim) or (B, S, dim), broadcast over the batch


def learned_positional(max_len, dim, *, device=None, dtype=None):
    return LearnedPositionalEmbedding(max_len, dim, device=device, dtype=dtype)
