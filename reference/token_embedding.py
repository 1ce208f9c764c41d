"""Token embedding: a learnable lookup table, one row per token id."""

import torch
from torch import nn


def check_ids(ids, num_rows, what="token id"):
    """Raise a clear error for ids that are not integers or fall outside [0, num_rows)."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{what}s must be a tensor, got {type(ids).__name__}")
    if ids.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{what}s must be an int32 or int64 tensor, got dtype {ids.dtype}")
    if ids.numel() > 0:
        low, high = ids.min().item(), ids.max().item()
        if low < 0:
            raise IndexError(f"{what} {low} is negative; valid ids are 0..{num_rows - 1}")
        if high >= num_rows:
            raise IndexError(f"{what} {high} is out of range; valid ids are 0..{num_rows - 1}")


class TokenEmbedding(nn.Embedding):
    """nn.Embedding with errors that name the offending id.

    weight: (num_embeddings, embedding_dim); the padding row starts at zero and
    receives no gradient.
    """

    def forward(self, ids):  # ids: (...) -> (..., embedding_dim)
        check_ids(ids, self.num_embeddings)
        return super().forward(ids)


def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None, device=None, dtype=None):
    return TokenEmbedding(num_embeddings, embedding_dim, padding_idx=padding_idx, device=device, dtype=dtype)
