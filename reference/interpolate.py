"""Resampling a learned positional table to a new length (fine-tuning on longer sequences).

Linear interpolation on linspace(0, 1) grids, as the long tutorial's
interpolate_position_embeddings does: align_corners=True semantics, so output row
k samples the table at k * (L - 1) / (new_len - 1) and the first and last rows
are kept exactly.
"""

import torch.nn.functional as F


def interpolate_positions(table, new_len):  # table: (L, dim) -> (new_len, dim)
    if not table.is_floating_point():
        raise TypeError(f"the table must be a floating tensor, got dtype {table.dtype}")
    if new_len <= 0:
        raise ValueError(f"new_len must be positive, got {new_len}")
    columns = table.T.unsqueeze(0)  # (1, dim, L): interpolate along the positions
    resampled = F.interpolate(columns, size=new_len, mode="linear", align_corners=True)  # (1, dim, new_len)
    return resampled.squeeze(0).T.contiguous()  # (new_len, dim)
