"""Sinusoidal positional encoding (Vaswani et al., 2017).

    PE(pos, 2i)   = sin(pos / base^(2i/dim))
    PE(pos, 2i+1) = cos(pos / base^(2i/dim))
"""

import math

import torch
from torch import nn


def sinusoidal_encoding(num_positions, dim, *, base=10000.0, device=None, dtype=None):
    if dim <= 0 or dim % 2 != 0:
        raise ValueError(f"dim must be a positive even number, got {dim}")
    if num_positions < 0:
        raise ValueError(f"num_positions must be >= 0, got {num_positions}")
    # float64 for the angles: pos * frequency loses digits in float32 at large positions.
    position = torch.arange(num_positions, dtype=torch.float64, device=device).unsqueeze(1)  # (N, 1)
    div_term = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float64, device=device) * -(math.log(base) / dim)
    )  # (dim/2,)
    pe = torch.zeros(num_positions, dim, dtype=torch.float64, device=device)  # (N, dim)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe.to(dtype or torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed table to x; the table is a buffer, so it moves with the module."""

    def __init__(self, dim, max_len, *, base=10000.0, device=None, dtype=None):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_encoding(max_len, dim, base=base, device=device, dtype=dtype))

    def forward(self, x):  # x: (B, S, dim)
        seq_len = x.size(1)
        if seq_len > self.max_len:
            raise ValueError(f"sequence length {seq_len} exceeds max_len {self.max_len}")
        return x + self.table[:seq_len]  # (B, S, dim) + (S, dim) broadcasts over the batch


def sinusoidal_module(dim, max_len, *, base=10000.0, device=None, dtype=None):
    return SinusoidalPositionalEncoding(dim, max_len, base=base, device=device, dtype=dtype)
