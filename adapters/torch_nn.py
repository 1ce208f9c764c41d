"""torch.nn: ``nn.Embedding`` as the token embedding and as a learned position table.

    embedspec --impl embedspec.adapters.torch_nn

Conventions (from torch/nn/modules/sparse.py): ``nn.Embedding(ids)`` is
``weight[ids]`` with no scale; ``padding_idx`` zeroes that row at
construction and masks its gradient. torch has no positional module, so the
learned table is the pattern every GPT-2-style model uses: an ``nn.Embedding``
of ``max_len`` rows looked up at ``arange(S)`` and added to the input.
"""

import torch
from torch import nn

conventions = {"token_embedding.scale": "one", "learned_positional.scale": "one"}


def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None, device=None, dtype=None):
    return nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx, device=device, dtype=dtype)


class LearnedPositions(nn.Module):
    """x + table(positions), the table an ``nn.Embedding`` (nanoGPT's ``wpe``)."""

    def __init__(self, max_len, dim, device=None, dtype=None):
        super().__init__()
        self.table = nn.Embedding(max_len, dim, device=device, dtype=dtype)

    @property
    def weight(self):
        return self.table.weight

    def forward(self, x, positions=None):
        if positions is None:
            # as nanoGPT: positions on the input's device, looked up without a length check
            positions = torch.arange(x.shape[1], device=x.device)
        return x + self.table(positions)


def learned_positional(max_len, dim, *, device=None, dtype=None):
    return LearnedPositions(max_len, dim, device=device, dtype=dtype)
