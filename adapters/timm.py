"""timm (PyTorch Image Models): its 2-D sin-cos builder, its rotary helpers and ``resample_abs_pos_embed``.

    embedspec --impl embedspec.adapters.timm

Bound, from timm/layers/pos_embed_sincos.py and timm/layers/pos_embed.py (1.0.31):

- ``sincos_2d``: ``build_sincos2d_pos_embed([height, width], dim, temperature=base)``. Its
  columns are four blocks of dim/4, ``[sin_h, sin_w, cos_h, cos_w]`` (``torch.stack([sin, cos],
  dim=1).flatten(1)``); the contract's ``hw`` order with the ``split`` layout is
  ``[sin_h, cos_h, sin_w, cos_w]``, so the adapter swaps the two middle blocks (a fixed
  permutation of the columns, nothing recomputed). Frequencies ``temperature ** -(i / (dim/4))``
  are the paper's for a 1-D encoding of dim/2 features.
- ``rope``: ``RotaryEmbedding(dim=2 * head_dim, in_pixels=False, temperature=base)`` with
  ``get_embed([n])`` and ``apply_rot_embed``: timm's rotary module is axial (for images) and gives
  each of two axes dim/4 frequencies, so a 1-D RoPE of head_dim features is the module with
  ``dim = 2 * head_dim`` on a 1-D grid; ``_rope_layout`` repeats each frequency twice
  (``rope.pairing = interleaved``). The table is built for positions ``0 .. max(positions)``
  and read at the positions.
- ``interpolate_positions``: ``resample_abs_pos_embed(table[None], new_size=[1, new_len],
  old_size=[1, L], num_prefix_tokens=0)``: the 1-D table as a 1 x L grid, with timm's defaults
  (bicubic, ``align_corners=None``, antialias).

timm imports torchvision, and PyPI's torchvision wheels are built against the CUDA
build of torch (they load ``libtorch_cuda.so``). Where ``import timm`` fails for that
reason (a CPU-only torch), the adapter loads the two files above, and the three small
modules they import (``_fx``, ``helpers``, ``grid``, ``trace_utils``, none of which needs
torchvision), straight from the installed timm package under a private package name,
leaving ``timm`` itself unimported: the code run is timm's, unmodified.
"""

import importlib
import importlib.util
import sys
import types

import torch
from torch import nn

_PRIVATE = "_embedspec_timm_layers"


def _load_layers():
    try:
        from timm.layers import pos_embed, pos_embed_sincos

        return pos_embed, pos_embed_sincos, "timm"
    except (ImportError, RuntimeError) as exc:  # a CUDA torchvision on a CPU torch fails with RuntimeError
        spec = importlib.util.find_spec("timm")
        if spec is None:
            raise ImportError(
                "embedspec.adapters.timm needs timm: pip install --no-deps timm==1.0.31 "
                "(with a CUDA torch, plain pip install timm)") from exc
        if "torchvision" not in str(exc):
            raise
    # timm/__init__ imports torchvision; the positional layers do not: load them under a private name
    if _PRIVATE not in sys.modules:
        package = types.ModuleType(_PRIVATE)
        package.__path__ = [f"{next(iter(spec.submodule_search_locations))}/layers"]
        sys.modules[_PRIVATE] = package
    return (importlib.import_module(f"{_PRIVATE}.pos_embed"), importlib.import_module(f"{_PRIVATE}.pos_embed_sincos"),
            "timm.layers loaded without timm/__init__ (torchvision does not import)")


try:
    _pos_embed, _pos_embed_sincos, LOADED_FROM = _load_layers()
except ImportError as exc:  # pragma: no cover - exercised where timm is absent
    raise ImportError(f"embedspec.adapters.timm: {exc}") from exc

build_sincos2d_pos_embed = _pos_embed_sincos.build_sincos2d_pos_embed
RotaryEmbedding = _pos_embed_sincos.RotaryEmbedding
apply_rot_embed = _pos_embed_sincos.apply_rot_embed
resample_abs_pos_embed = _pos_embed.resample_abs_pos_embed

conventions = {
    "sincos_2d.order": "hw",
    "sinusoidal.layout": "split",
    "sinusoidal.frequencies": "paper",
    "rope.pairing": "interleaved",
}


def sincos_2d(height, width, dim, *, base=10000.0):
    table = build_sincos2d_pos_embed([height, width], dim=dim, temperature=base)  # (H*W, dim)
    quarter = dim // 4
    sin_h, sin_w, cos_h, cos_w = table.split(quarter, dim=1)
    return torch.cat([sin_h, cos_h, sin_w, cos_w], dim=1)


class Rope(nn.Module):
    """timm's ``RotaryEmbedding`` (1-D grid) and ``apply_rot_embed``, on x of shape (B, S, H, D)."""

    def __init__(self, rotary):
        super().__init__()
        self.rotary = rotary

    def forward(self, x, positions):
        length = int(positions.max()) + 1 if positions.numel() else 1
        sin_emb, cos_emb = self.rotary.get_embed([length])  # (length, D), for positions 0 .. length-1
        sin_emb = sin_emb.to(x.device)[positions].unsqueeze(-2)  # (S or B S, 1, D): one per head
        cos_emb = cos_emb.to(x.device)[positions].unsqueeze(-2)
        return apply_rot_embed(x, sin_emb, cos_emb)


def rope(head_dim, *, base=10000.0, max_seq_len=4096):
    # timm's rotary embeddings have no maximum length
    return Rope(RotaryEmbedding(dim=2 * head_dim, in_pixels=False, temperature=base))


def interpolate_positions(table, new_len):
    length, dim = table.shape
    resampled = resample_abs_pos_embed(table[None], new_size=[1, new_len], old_size=[1, length], num_prefix_tokens=0)
    return resampled[0]
