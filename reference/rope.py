"""Rotary position embedding, RoPE (Su et al., 2021, RoFormer; GPT-NeoX and Llama layout).

Each pair of features (x_k, x_{k + d/2}) is rotated by the angle p * w_k, with
w_k = base^(-2k/d), p the token's position:

    out_k         = x_k cos(p w_k) - x_{k+d/2} sin(p w_k)
    out_{k + d/2} = x_k sin(p w_k) + x_{k+d/2} cos(p w_k)

so that <R(m) q, R(n) k> depends only on m - n. With ``scaling`` (a transformers
``rope_scaling`` dict, see rope_scaling.py) the frequencies are the scaled ones and the
rotated features carry the type's attention factor (``rope.attention_factor = output``).
"""

import torch
from torch import nn

from .rope_scaling import PER_CALL, ScaledFrequencies


def rotate_half(x):  # (..., d) -> (..., d): (x1, x2) -> (-x2, x1)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class RotaryEmbedding(nn.Module):
    """f(x, positions) for x (B, S, H, head_dim) and positions (S,) or (B, S).

    The angles are computed in forward from the positions, in float32, so there is
    no cache to go stale: every position is exact, at or beyond max_seq_len
    (which is accepted for the contract and not needed here).
    """

    def __init__(self, head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, scaling=None, device=None):
        super().__init__()
        if rotary_dim is None:  # rotate every feature
            if head_dim <= 0 or head_dim % 2 != 0:
                raise ValueError(f"head_dim must be a positive even number, got {head_dim}")
            rotary_dim = head_dim
        elif rotary_dim <= 0 or rotary_dim % 2 != 0 or rotary_dim > head_dim:
            raise ValueError(f"rotary_dim must be a positive even number <= head_dim {head_dim}, got {rotary_dim}")
        self.rotary_dim, self.max_seq_len = rotary_dim, max_seq_len
        exponent = torch.arange(0, rotary_dim, 2, dtype=torch.float64, device=device) / rotary_dim
        inv_freq = (1.0 / base**exponent).float()  # (rotary_dim/2,)
        self.scaling = None if scaling is None else ScaledFrequencies(scaling, rotary_dim, base, max_seq_len)
        self.per_call = self.scaling is not None and self.scaling.type in PER_CALL
        self.attention_factor = 1.0
        if self.scaling is not None and not self.per_call:  # static: the same frequencies for every call
            inv_freq, self.attention_factor = self.scaling.frequencies(None)
            inv_freq = inv_freq.to(device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def _apply(self, fn, recurse=True):
        # .to(), .half(), .cuda() reach every buffer; inv_freq follows the device but
        # stays float32: in bfloat16 a position past 256 could not even be represented.
        inv_freq = self.inv_freq
        super()._apply(fn, recurse)
        self.inv_freq = inv_freq.to(self.inv_freq.device)
        return self

    def forward(self, x, positions):  # x: (B, S, H, D); positions: (S,) or (B, S)
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating tensor, got dtype {x.dtype}")
        inv_freq, attention_factor = self.inv_freq, self.attention_factor
        if self.per_call:  # from this call's length alone, whatever calls came before
            seq_len = int(positions.max()) + 1 if positions.numel() else 0
            inv_freq, attention_factor = self.scaling.frequencies(seq_len)
            inv_freq = inv_freq.to(self.inv_freq.device)
        angles = positions.float()[..., None] * inv_freq  # (S, D_r/2) or (B, S, D_r/2), float32
        angles = torch.cat([angles, angles], dim=-1).unsqueeze(-2)  # (..., S, 1, D_r): same for every head
        x_rot, x_pass = x[..., : self.rotary_dim].float(), x[..., self.rotary_dim:]
        rotated = x_rot * angles.cos() + rotate_half(x_rot) * angles.sin()  # (B, S, H, D_r), float32
        rotated = rotated * attention_factor  # YaRN's or LongRoPE's factor; 1 (exact) otherwise
        return torch.cat([rotated.to(x.dtype), x_pass], dim=-1)


def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, scaling=None, device=None):
    return RotaryEmbedding(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, scaling=scaling,
                           device=device)
