"""Learned 2-D positional embeddings for a grid of image patches (Vision Transformers).

Patches are numbered in row-major order: patch (i, j) of a height x width grid is
token i * width + j, the order sincos_2d uses.

    full:        one learned row per patch        (ViT: nn.Embedding(H * W, d))
    factorized:  row_weight[i] + col_weight[j]    (one table per axis: H + W rows)
"""

import torch
from torch import nn


class Learned2DPositionalEmbedding(nn.Module):
    def __init__(self, height, width, dim, *, factorized=False, device=None, dtype=None):
        super().__init__()
        self.height, self.width, self.factorized = height, width, factorized
        if factorized:
            self.row_weight = nn.Parameter(torch.empty(height, dim, device=device, dtype=dtype))  # (H, dim)
            self.col_weight = nn.Parameter(torch.empty(width, dim, device=device, dtype=dtype))  # (W, dim)
        else:
            self.weight = nn.Parameter(torch.empty(height * width, dim, device=device, dtype=dtype))  # (H*W, dim)
        for weight in self.parameters():
            nn.init.normal_(weight, mean=0.0, std=0.02)

    def table(self):  # (H*W, dim), row i * width + j for patch (i, j)
        if not self.factorized:
            return self.weight
        grid = self.row_weight[:, None, :] + self.col_weight[None, :, :]  # (H, W, dim)
        return grid.reshape(self.height * self.width, -1)  # row-major: rows of the grid one after another

    def forward(self, x):  # x: (B, H*W, dim)
        num_patches = x.size(1)
        if num_patches != self.height * self.width:
            raise ValueError(
                f"got {num_patches} patches, expected {self.height * self.width} "
                f"for a {self.height} x {self.width} grid"
            )
        return x + self.table()  # broadcast over the batch


def learned_2d(height, width, dim, *, factorized=False, device=None, dtype=None):
    return Learned2DPositionalEmbedding(height, width, dim, factorized=factorized, device=device, dtype=dtype)
