"""x-transformers (lucidrains): its embedding and positional modules.

    embedspec --impl embedspec.adapters.x_transformers

Bound: ``AbsolutePositionalEmbedding``, ``ScaledSinusoidalEmbedding``, ``RotaryEmbedding`` +
``apply_rotary_pos_emb``, ``AlibiPositionalBias``, ``RelativePositionBias._relative_position_bucket``
and ``TransformerWrapper(tie_embedding=True)`` (whose ``token_emb`` is the library's
``TokenEmbedding``). ``TokenEmbedding`` is not bound as ``token_embedding`` on its own: it has
no ``padding_idx``, which every property of that family's module checks builds with.

Conventions, from x_transformers/x_transformers.py (2.31.10):
- ``AbsolutePositionalEmbedding`` multiplies the looked-up rows by ``dim ** -0.5``
  (``learned_positional.scale = inv_sqrt_dim``);
- ``RotaryEmbedding`` stacks each frequency twice, ``(d r)``, and ``rotate_half`` pairs
  features 2i and 2i+1 (``rope.pairing = interleaved``); ``rotary_dim`` is the module's
  ``dim``, and ``apply_rotary_pos_emb`` rotates that many leading features;
- ``AlibiPositionalBias`` is ``-m |i - j|`` with the queries last (``alibi.mode = symmetric``);
- ``ScaledSinusoidalEmbedding`` is ``cat(sin, cos)`` (``sinusoidal.layout = split``) with
  frequencies ``theta ** -(i / (dim/2))`` (the paper's), times a learned scalar initialised
  to ``dim ** -0.5`` - a scale the contract has no convention for.
"""

import torch
from torch import nn

try:
    import x_transformers
    from x_transformers import Decoder, TransformerWrapper
    from x_transformers.x_transformers import (AbsolutePositionalEmbedding, AlibiPositionalBias,
                                               RelativePositionBias, RotaryEmbedding, ScaledSinusoidalEmbedding,
                                               apply_rotary_pos_emb)
except ImportError as exc:  # pragma: no cover - exercised where x-transformers is absent
    raise ImportError(
        "embedspec.adapters.x_transformers needs x-transformers: pip install 'embedspec[adapters]' "
        f"(x-transformers==2.31.10 verified); the import failed with: {exc}"
    ) from exc

conventions = {
    "token_embedding.scale": "one",  # the tied embedding's lookup
    "learned_positional.scale": "inv_sqrt_dim",
    "rope.pairing": "interleaved",
    "alibi.mode": "symmetric",
    "sinusoidal.layout": "split",
    "sinusoidal.frequencies": "paper",
    "sinusoidal.beyond_max_len": "extend",
}
# RotaryEmbedding's interpolation_factor divides the angles (position interpolation): rope_scaling linear. Its
# base_rescale_factor is a fixed NTK-aware base change, which no rope_scaling type is.
unsupported = {"rope.scaling.dynamic", "rope.scaling.yarn", "rope.scaling.llama3", "rope.scaling.longrope"}


class Tokens(nn.Module):
    """``TokenEmbedding`` (``emb(x.long())``), with its inner ``nn.Embedding``'s weight as ``m.weight``."""

    def __init__(self, token_emb):
        super().__init__()
        self.token_emb = token_emb

    @property
    def weight(self):
        return self.token_emb.emb.weight

    def forward(self, ids):
        return self.token_emb(ids)


class Positions(nn.Module):
    """``x + AbsolutePositionalEmbedding(x, pos=positions)``, as TransformerWrapper adds it."""

    def __init__(self, pos_emb):
        super().__init__()
        self.pos_emb = pos_emb

    @property
    def weight(self):
        return self.pos_emb.emb.weight

    def forward(self, x, positions=None):
        # TransformerWrapper.forward: x = token_emb + pos_emb(x, pos = pos, ...)
        return x + self.pos_emb(x, pos=positions)


def learned_positional(max_len, dim):
    return Positions(AbsolutePositionalEmbedding(dim, max_len))


class Sinusoidal(nn.Module):
    """``x + ScaledSinusoidalEmbedding(x)``, as TransformerWrapper adds it (``scaled_sinu_pos_emb=True``)."""

    def __init__(self, pos_emb):
        super().__init__()
        self.pos_emb = pos_emb

    def forward(self, x):
        return x + self.pos_emb(x)


def sinusoidal_module(dim, max_len, *, base=10000.0):
    # the module has no maximum length: it computes the table for each input
    return Sinusoidal(ScaledSinusoidalEmbedding(dim, theta=base))


def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
    module = ScaledSinusoidalEmbedding(dim, theta=base)
    with torch.no_grad():  # the table at initialisation, not the graph to its learned scale
        return module(torch.zeros(1, num_positions, dim))


class Rope(nn.Module):
    """``RotaryEmbedding`` then ``apply_rotary_pos_emb``, as x-transformers' Attention applies them.

    x-transformers' queries are (B, H, S, D); the contract's x is (B, S, H, D), so the adapter
    transposes around the call.
    """

    def __init__(self, rotary):
        super().__init__()
        self.rotary_pos_emb = rotary

    def forward(self, x, positions):
        freqs, scale = self.rotary_pos_emb(positions)  # (1 or B, S, rotary_dim)
        out = apply_rotary_pos_emb(x.transpose(1, 2), freqs, scale)
        return out.transpose(1, 2)


def _interpolation(scaling):
    """RotaryEmbedding's keywords for a rope_scaling dict: linear's factor is interpolation_factor (left to the
    library's default 1 where the dict has none)."""
    if scaling is None:
        return {}
    if scaling.get("rope_type") != "linear":
        raise ValueError(f"rope_scaling['rope_type'] {scaling.get('rope_type')!r}: x-transformers' RotaryEmbedding "
                         f"scales only by interpolation ('linear')")
    return {"interpolation_factor": scaling["factor"]} if "factor" in scaling else {}


def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, scaling=None):
    # x-transformers has no maximum length for rotary positions (max_seq_len is not used)
    return Rope(RotaryEmbedding(head_dim if rotary_dim is None else rotary_dim, base=base, **_interpolation(scaling)))


def alibi_slopes(num_heads):
    return AlibiPositionalBias(heads=num_heads, total_heads=num_heads).slopes.reshape(num_heads)


def alibi_bias(num_heads, q_len, k_len):
    return AlibiPositionalBias(heads=num_heads, total_heads=num_heads)(q_len, k_len)


def relative_position_bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
    # x-transformers' flag is `causal`, the negation of T5's `bidirectional`
    return RelativePositionBias._relative_position_bucket(
        relative_position, causal=not bidirectional, num_buckets=num_buckets, max_distance=max_distance)


class _Logits:
    """``TransformerWrapper.to_logits`` (a lambda over the token embedding's weight) with that weight."""

    def __init__(self, wrapper):
        self._wrapper = wrapper

    @property
    def weight(self):
        return self._wrapper.token_emb.emb.weight

    def __call__(self, hidden):
        return self._wrapper.to_logits(hidden)


class Tied(nn.Module):
    """``TransformerWrapper(tie_embedding=True)``: ``embed`` is its token embedding, ``project`` its ``to_logits``."""

    def __init__(self, wrapper):
        super().__init__()
        self.wrapper = wrapper
        # not registered as submodules: they are views of the wrapper's own modules
        object.__setattr__(self, "embed", Tokens(wrapper.token_emb))
        object.__setattr__(self, "project", _Logits(wrapper))


def tied_embedding(num_embeddings, embedding_dim):
    wrapper = TransformerWrapper(num_tokens=num_embeddings, max_seq_len=1, tie_embedding=True,
                                 attn_layers=Decoder(dim=embedding_dim, depth=1, heads=1))
    return Tied(wrapper)
