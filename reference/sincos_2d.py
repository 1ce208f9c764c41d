"""Fixed 2-D sincos positional encoding for a grid of patches (ViT, MAE).

The first dim/2 features are the 1-D sinusoidal encoding of the cell's row, the
last dim/2 that of its column; cells are listed in row-major order.
"""

import torch

from .sinusoidal import sinusoidal_encoding


def sincos_2d(height, width, dim, *, base=10000.0, device=None, dtype=None):
    if dim <= 0 or dim % 4 != 0:
        raise ValueError(f"dim must be a positive multiple of 4 (two even halves), got {dim}")
    half = dim // 2
    rows = sinusoidal_encoding(height, half, base=base, device=device, dtype=torch.float64)  # (H, dim/2)
    cols = sinusoidal_encoding(width, half, base=base, device=device, dtype=torch.float64)  # (W, dim/2)
    row_half = rows[:, None, :].expand(height, width, half)  # cell (i, j) gets row i
    col_half = cols[None, :, :].expand(height, width, half)  # and column j
    grid = torch.cat([row_half, col_half], dim=-1)  # (H, W, dim)
    return grid.reshape(height * width, dim).to(dtype or torch.get_default_dtype())
