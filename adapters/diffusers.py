"""Hugging Face diffusers: its sin-cos tables, timestep embeddings and rotary helpers, one object per convention.

    embedspec --impl embedspec.adapters.diffusers:sincos        # likewise :sinusoidal, :timesteps,
                                                                # :timesteps_ddpm, :flux, :ace_step, :lumina2

Everything bound is diffusers/models/embeddings.py and the transformers that call it (0.42.1); each
object states its conventions, read from that source:

- ``sincos``: ``get_1d_sincos_pos_embed_from_grid`` (the 1-D table of ``get_3d_sincos_pos_embed``'s time
  axis) and ``get_2d_sincos_pos_embed`` (``PatchEmbed``'s table: DiT, PixArt, SD3). Both put the sines in
  the first half (split layout) at the paper's frequencies and hard-code 10000 (the factories take no
  ``base=``; ``sinusoidal.base`` and ``sincos_2d.base`` are declared unsupported). The 2-D grid is
  ``meshgrid(grid_w, grid_h, indexing="xy")`` and the first half encodes ``grid[0]``, the column
  (``sincos_2d.order = wh``, MAE's layout, despite the comment "use half of dimensions to encode
  grid_h"). Each axis is normalised: position k of an axis of n cells is
  ``k / (n / base_size) / interpolation_scale``. ``PatchEmbed`` passes ``base_size`` = the grid
  height it was built for, so at that height the rows are 0 .. H-1 and a W-wide grid has its columns
  at ``j * H / W`` (both axes span the same extent whatever the aspect ratio: PixArt's multi-aspect
  grid); the adapter passes ``base_size = height, interpolation_scale = 1``, the
  ``sincos_2d.grid = normalised`` convention.
- ``sinusoidal``: ``SinusoidalPositionalEmbedding`` (``BasicTransformerBlock(positional_embeddings=
  "sinusoidal")``): the tutorial's interleaved table as the buffer ``pe`` of ``max_seq_length`` rows;
  a longer input fails to broadcast (``raise``); 10000 is hard-coded here too.
- ``timesteps``: ``get_timestep_embedding`` as ``Timesteps(flip_sin_to_cos=True,
  downscale_freq_shift=0)`` calls it, the setting of Stable Diffusion's UNet, SD3, Flux and PixArt
  (``max_period`` is the base). ``flip_sin_to_cos=True`` puts the cosines first
  (``sinusoidal.layout = split_cos_first``); the frequencies are
  ``exp(-ln(max_period) i / (dim/2 - downscale_freq_shift))``, so shift 0 is the paper's schedule.
- ``timesteps_ddpm``: the same function with its own defaults (``flip_sin_to_cos=False,
  downscale_freq_shift=1``, the DDPM code it cites): sines first, and shift 1 is exactly the
  ``endpoint`` schedule ``base^(-i/(dim/2 - 1))``.
- ``flux``: ``FluxPosEmbed(theta, axes_dim=[head_dim])`` on one position axis (``ids`` of shape (S, 1)),
  then ``apply_rotary_emb(x, (cos, sin), sequence_dim=1)``, as ``FluxAttnProcessor`` calls it on
  queries of shape (B, S, H, D). ``repeat_interleave_real=True`` with ``use_real_unbind_dim=-1``:
  features 2k and 2k+1 pair (``interleaved``).
- ``ace_step``: ``get_1d_rotary_pos_embed(use_real=True, repeat_interleave_real=False)`` with
  ``apply_rotary_emb(use_real_unbind_dim=-2, sequence_dim=1)``, the pair ACE-Step (and Stable Audio,
  CogView4, Cosmos) uses: cos and sin concatenated with themselves and the halves unbound, so feature
  k pairs with k + D/2 (``half``).
- ``lumina2``: ``Lumina2RotaryPosEmbed(theta, axes_dim=[head_dim], axes_lens=[max_seq_len])``, its
  precomputed complex table gathered at the position ids (``_get_freqs_cis``, which its forward calls
  on ids of shape (B, S, axes)), and ``apply_rotary_emb(use_real=False)``: the complex form,
  ``view_as_complex`` of adjacent features (``interleaved``).

The real forms take positions of shape (S,) only (``get_1d_rotary_pos_embed`` forms ``outer(pos,
freqs)``); Lumina2's table lookup takes (B, S).
"""

import torch
from torch import nn

try:
    import diffusers
    from diffusers.models.embeddings import (
        SinusoidalPositionalEmbedding,
        apply_rotary_emb,
        get_1d_rotary_pos_embed,
        get_1d_sincos_pos_embed_from_grid,
        get_2d_sincos_pos_embed,
        get_timestep_embedding,
    )
    from diffusers.models.transformers.transformer_flux import FluxPosEmbed
    from diffusers.models.transformers.transformer_lumina2 import Lumina2RotaryPosEmbed
except ImportError as exc:  # pragma: no cover - exercised where diffusers is absent
    raise ImportError(
        "embedspec.adapters.diffusers needs diffusers: pip install 'embedspec[adapters]' "
        f"(diffusers==0.42.1 verified); the import failed with: {exc}"
    ) from exc

VERSION = diffusers.__version__
PAPER_BASE = 10000.0


class Implementation:
    """One implementation object: the families it provides, its conventions and what it lacks."""

    def __init__(self, name, conventions, unsupported=(), **families):
        self.__name__ = name
        self.conventions = conventions
        self.unsupported = set(unsupported)
        for family, factory in families.items():
            setattr(self, family, factory)

    def __repr__(self):
        return f"<embedspec.adapters.diffusers:{self.__name__}>"


# ---------------------------------------------------------------------------------------------
# sincos: get_1d_sincos_pos_embed_from_grid and get_2d_sincos_pos_embed (split, paper, wh, normalised grid).


def sincos_sinusoidal_encoding(num_positions, dim, *, device=None):
    # get_3d_sincos_pos_embed's time axis: grid_t = torch.arange(T, device=device, dtype=torch.float32)
    positions = torch.arange(num_positions, device=device, dtype=torch.float32)
    return get_1d_sincos_pos_embed_from_grid(dim, positions, output_type="pt")


def sincos_sincos_2d(height, width, dim, *, device=None):
    # PatchEmbed.forward for a grid of another size: base_size is the height the model was built for
    return get_2d_sincos_pos_embed(dim, (height, width), base_size=height, interpolation_scale=1.0,
                                   device=device, output_type="pt")


sincos = Implementation(
    "sincos",
    {"sinusoidal.layout": "split", "sinusoidal.frequencies": "paper", "sincos_2d.order": "wh",
     "sincos_2d.grid": "normalised"},
    unsupported={"sinusoidal.base", "sincos_2d.base"},
    sinusoidal_encoding=sincos_sinusoidal_encoding,
    sincos_2d=sincos_sincos_2d,
)

# ---------------------------------------------------------------------------------------------
# sinusoidal: SinusoidalPositionalEmbedding (interleaved, paper, a buffer of max_seq_length rows).


def sinusoidal_sinusoidal_encoding(num_positions, dim):
    return SinusoidalPositionalEmbedding(dim, max_seq_length=num_positions).pe[0]  # the buffer is (1, max, dim)


def sinusoidal_sinusoidal_module(dim, max_len):
    return SinusoidalPositionalEmbedding(dim, max_seq_length=max_len)  # forward: x + pe[:, :seq_length]


sinusoidal = Implementation(
    "sinusoidal",
    {"sinusoidal.layout": "interleaved", "sinusoidal.frequencies": "paper", "sinusoidal.beyond_max_len": "raise"},
    unsupported={"sinusoidal.base"},
    sinusoidal_encoding=sinusoidal_sinusoidal_encoding,
    sinusoidal_module=sinusoidal_sinusoidal_module,
)

# ---------------------------------------------------------------------------------------------
# Timestep embeddings: get_timestep_embedding at the integer timesteps 0 .. n-1 (the table of a scheduler's steps).


def _timestep_table(flip_sin_to_cos, downscale_freq_shift):
    def sinusoidal_encoding(num_positions, dim, *, base=PAPER_BASE, device=None):
        timesteps = torch.arange(num_positions, device=device)  # a pipeline's timesteps tensor, on the model's device
        return get_timestep_embedding(timesteps, dim, flip_sin_to_cos=flip_sin_to_cos,
                                      downscale_freq_shift=downscale_freq_shift, max_period=base)
    return sinusoidal_encoding


timesteps = Implementation(
    "timesteps",
    {"sinusoidal.layout": "split_cos_first", "sinusoidal.frequencies": "paper"},
    sinusoidal_encoding=_timestep_table(flip_sin_to_cos=True, downscale_freq_shift=0),
)

timesteps_ddpm = Implementation(
    "timesteps_ddpm",
    {"sinusoidal.layout": "split", "sinusoidal.frequencies": "endpoint"},
    sinusoidal_encoding=_timestep_table(flip_sin_to_cos=False, downscale_freq_shift=1),
)

# ---------------------------------------------------------------------------------------------
# RoPE: Flux (real, interleaved), ACE-Step (real, half), Lumina2 (complex, interleaved).


class FluxRope(nn.Module):
    """``FluxPosEmbed`` on one position axis, then ``apply_rotary_emb(x, (cos, sin), sequence_dim=1)``."""

    def __init__(self, pos_embed):
        super().__init__()
        self.pos_embed = pos_embed

    def forward(self, x, positions):
        # FluxTransformer2DModel: image_rotary_emb = self.pos_embed(ids), ids of shape (S, axes)
        cos, sin = self.pos_embed(positions[:, None])
        return apply_rotary_emb(x, (cos, sin), sequence_dim=1)


def flux_rope(head_dim, *, base=PAPER_BASE, max_seq_len=4096):
    # FluxPosEmbed has no maximum length: it computes cos and sin at the ids it is given
    return FluxRope(FluxPosEmbed(theta=base, axes_dim=[head_dim]))


flux = Implementation("flux", {"rope.pairing": "interleaved"}, unsupported={"rope.batched_positions"},
                      rope=flux_rope)


def ace_step_rope(head_dim, *, base=PAPER_BASE, max_seq_len=4096):
    def rotate(x, positions):
        # ace_step_transformer.py: _ace_step_rotary_freqs, then AceStepAttnProcessor's apply_rotary_emb
        cos, sin = get_1d_rotary_pos_embed(head_dim, positions, theta=base, use_real=True,
                                           repeat_interleave_real=False)
        return apply_rotary_emb(x, (cos, sin), use_real=True, use_real_unbind_dim=-2, sequence_dim=1)
    return rotate


ace_step = Implementation("ace_step", {"rope.pairing": "half"}, unsupported={"rope.batched_positions"},
                          rope=ace_step_rope)


class Lumina2Rope(nn.Module):
    """``Lumina2RotaryPosEmbed``'s table gathered at the positions, then ``apply_rotary_emb(use_real=False)``."""

    def __init__(self, pos_embed):
        super().__init__()
        self.pos_embed = pos_embed

    def forward(self, x, positions):
        ids = positions.reshape(-1, positions.shape[-1], 1)  # Lumina2's position ids: (B or 1, S, axes)
        freqs_cis = self.pos_embed._get_freqs_cis(ids)  # (B or 1, S, head_dim / 2), complex
        return apply_rotary_emb(x, freqs_cis, use_real=False)


def lumina2_rope(head_dim, *, base=PAPER_BASE, max_seq_len=4096):
    return Lumina2Rope(Lumina2RotaryPosEmbed(theta=base, axes_dim=[head_dim], axes_lens=[max_seq_len]))


lumina2 = Implementation("lumina2", {"rope.pairing": "interleaved"}, rope=lumina2_rope)
