"""rotary-embedding-torch (lucidrains): ``RotaryEmbedding``.

    embedspec --impl embedspec.adapters.rotary_embedding_torch

Conventions, from rotary_embedding_torch/rotary_embedding_torch.py (0.9.1): the
frequencies are ``theta ** -(2i / dim)`` (``freqs_for='lang'``), each repeated
twice, ``(n r)``, and ``rotate_half`` pairs features 2i and 2i+1
(``rope.pairing = interleaved``). ``rotary_dim`` is the module's ``dim``; the
features after it pass through unrotated. ``seq_before_head_dim=True`` makes
the module take the contract's (B, S, H, D) layout directly.

Two call paths, both the library's own: positions ``offset .. offset + S - 1``
(the common case) go through ``rotate_queries_or_keys(x, offset=offset)``, the
method users call; any other positions go through ``forward(positions)`` and
``apply_rotary_emb``, the route the library documents for custom positions.
"""

import torch
from torch import nn

try:
    import rotary_embedding_torch
    from rotary_embedding_torch import RotaryEmbedding, apply_rotary_emb
except ImportError as exc:  # pragma: no cover - exercised where rotary-embedding-torch is absent
    raise ImportError(
        "embedspec.adapters.rotary_embedding_torch needs rotary-embedding-torch: pip install 'embedspec[adapters]' "
        f"(rotary-embedding-torch==0.9.1 verified); the import failed with: {exc}"
    ) from exc

conventions = {"rope.pairing": "interleaved"}
# interpolate_factor divides the positions (position interpolation): rope_scaling linear. theta_rescale_factor is
# a fixed NTK-aware base change, which no rope_scaling type is.
unsupported = {"rope.scaling.dynamic", "rope.scaling.yarn", "rope.scaling.llama3", "rope.scaling.longrope"}


def _contiguous_offset(positions):
    """The offset when ``positions`` is ``offset + arange(S)`` (1-D), else None (also on meta: no values)."""
    if positions.ndim != 1 or positions.numel() == 0 or positions.device.type == "meta":
        return None
    offset = int(positions[0])
    expected = torch.arange(offset, offset + positions.numel(), device=positions.device, dtype=positions.dtype)
    return offset if torch.equal(positions, expected) else None


class Rope(nn.Module):
    def __init__(self, rotary):
        super().__init__()
        self.rotary = rotary

    def forward(self, x, positions):
        offset = _contiguous_offset(positions)
        if offset is not None:
            return self.rotary.rotate_queries_or_keys(x, offset=offset)
        freqs = self.rotary(positions)  # (S, rotary_dim) or (B, S, rotary_dim)
        # insert the head axis, as rotate_queries_or_keys does for seq_dim == -3: 'n d -> n 1 d'
        freqs = freqs.unsqueeze(-2)
        return apply_rotary_emb(freqs, x, seq_dim=-3, freqs_seq_dim=-3)


def _interpolation(scaling):
    """RotaryEmbedding's keywords for a rope_scaling dict: linear's factor is interpolate_factor (left to the
    library's default 1 where the dict has none)."""
    if scaling is None:
        return {}
    if scaling.get("rope_type") != "linear":
        raise ValueError(f"rope_scaling['rope_type'] {scaling.get('rope_type')!r}: rotary-embedding-torch scales "
                         f"only by interpolation ('linear')")
    return {"interpolate_factor": scaling["factor"]} if "factor" in scaling else {}


def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, scaling=None):
    # the module has no maximum position (it caches the first cache_max_seq_len = 8192 positions)
    rotary = RotaryEmbedding(head_dim if rotary_dim is None else rotary_dim, theta=base, seq_before_head_dim=True,
                             **_interpolation(scaling))
    return Rope(rotary)
