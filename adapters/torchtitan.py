"""torchtitan: its two rotary embeddings and the tied token embedding and output head of its decoders.

    embedspec --impl embedspec.adapters.torchtitan:llama3     # ComplexRoPE (also DeepSeek-V3, Kimi)
    embedspec --impl embedspec.adapters.torchtitan:qwen3      # CosSinRoPE (also gpt-oss), Embedding, the tied ends

Bound, from torchtitan/models/common/ (0.3.0):

- ``rope``: ``ComplexRoPE`` and ``CosSinRoPE`` (rope.py), built from their ``Config(dim, max_seq_len,
  theta)`` and called as the attention calls them, ``rope(xq, xk, positions)`` with x of shape
  (B, S, H, D) and positions of shape (B, S) (a vector (S,) is passed as (1, S), the shape torchtitan's
  own single-sequence path takes); the rotated query is returned. ``ComplexRoPE`` caches
  ``polar(1, p * theta^(-2k/d))`` and multiplies ``view_as_complex(x.reshape(..., -1, 2))``: features 2k
  and 2k+1 pair (``rope.pairing = interleaved``). ``CosSinRoPE`` caches ``cat([cos, sin])`` of
  ``cat([freqs, freqs])`` and uses ``_rotate_half``: feature k pairs with k + d/2 (``half``). Both
  caches hold ``max_seq_len`` rows, built at construction in float32, and are non-persistent buffers.
- ``token_embedding``: ``Embedding`` (embedding.py), an ``nn.Embedding`` without a padding index.
- ``tied_embedding``: a decoder's two ends, ``tok_embeddings`` (``Embedding``) and ``lm_head``
  (``Linear``, linear.py, no bias), tied the way ``Decoder.__init__`` ties them when
  ``enable_weight_tying`` is set (Llama 3.2 and the Qwen3 configs): ``self.tok_embeddings.weight =
  self.lm_head.weight``, the one line repeated here, citing decoder.py.

torchtitan 0.3.0's ``torchtitan.models.common`` package imports ``triton`` (its MoE token dispatcher's
kernels), which the package does not declare and which PyPI only ships for CUDA machines' torch; on a
CPU-only torch ``import torchtitan.models`` fails. The three files above import neither triton nor each
other's package: the adapter loads them from the installed package under a private package name,
without running ``torchtitan/models/common/__init__.py`` (the code run is torchtitan's, unmodified;
their own imports, ``torchtitan.protocols`` and ``spmd_types``, are imported normally). The same holds
for ``Decoder`` itself (decoder.py imports the MoE), which is why the tie is repeated rather than built.

torchtitan 0.3.0's declared requirements (datasets, wandb, tensorboard, torchdata, ...) are a training
stack and pin ``datasets<4.8``; the modules bound need only ``spmd_types==0.2.3`` and ``tyro``:
``pip install --no-deps torchtitan==0.3.0 spmd_types==0.2.3 && pip install tyro==1.0.17``.
"""

import importlib
import importlib.util
import sys
import types

from torch import nn

_PRIVATE = "_embedspec_torchtitan_common"


def _load_common():
    spec = importlib.util.find_spec("torchtitan")
    if spec is None:
        raise ImportError(
            "embedspec.adapters.torchtitan needs torchtitan: pip install --no-deps torchtitan==0.3.0 "
            "spmd_types==0.2.3 && pip install tyro")
    # torchtitan/models/common/__init__ imports triton (see above): the three modules are loaded on their own
    if _PRIVATE not in sys.modules:
        package = types.ModuleType(_PRIVATE)
        package.__path__ = [f"{next(iter(spec.submodule_search_locations))}/models/common"]
        sys.modules[_PRIVATE] = package
    return (importlib.import_module(f"{_PRIVATE}.rope"), importlib.import_module(f"{_PRIVATE}.embedding"),
            importlib.import_module(f"{_PRIVATE}.linear"))


try:
    _rope, _embedding, _linear = _load_common()
except ImportError as exc:  # pragma: no cover - exercised where torchtitan or its two requirements are absent
    raise ImportError(
        f"embedspec.adapters.torchtitan: {exc} (torchtitan==0.3.0 with spmd_types==0.2.3 and tyro verified)"
    ) from exc

ComplexRoPE = _rope.ComplexRoPE
CosSinRoPE = _rope.CosSinRoPE
Embedding = _embedding.Embedding
Linear = _linear.Linear


class Implementation:
    """One implementation object: the families it provides, its conventions and what it lacks."""

    def __init__(self, name, conventions, unsupported=(), **families):
        self.__name__ = name
        self.conventions = conventions
        self.unsupported = set(unsupported)
        for family, factory in families.items():
            setattr(self, family, factory)

    def __repr__(self):
        return f"<embedspec.adapters.torchtitan:{self.__name__}>"


class Rope(nn.Module):
    """A torchtitan RoPE module called on (query, key) = (x, x), as GQAttention calls it; the query is returned."""

    def __init__(self, rope):
        super().__init__()
        self.rope = rope

    def forward(self, x, positions):
        positions = positions if positions.dim() == 2 else positions.unsqueeze(0)  # torchtitan's (B or 1, S)
        query, _ = self.rope(x, x, positions)
        return query


def _rope_factory(rope_class):
    def rope(head_dim, *, base=10000.0, max_seq_len=4096):
        return Rope(rope_class.Config(dim=head_dim, max_seq_len=max_seq_len, theta=base).build())
    return rope


def token_embedding(num_embeddings, embedding_dim):
    return Embedding.Config(num_embeddings=num_embeddings, embedding_dim=embedding_dim).build()


class TiedEnds(nn.Module):
    """A decoder's ``tok_embeddings`` and ``lm_head``, tied as torchtitan's ``Decoder`` ties them."""

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.tok_embeddings = Embedding.Config(num_embeddings=num_embeddings, embedding_dim=embedding_dim).build()
        self.lm_head = Linear.Config(in_features=embedding_dim, out_features=num_embeddings).build()
        # decoder.py, Decoder.__init__: if self.enable_weight_tying: self.tok_embeddings.weight = self.lm_head.weight
        self.tok_embeddings.weight = self.lm_head.weight

    @property
    def embed(self):
        return self.tok_embeddings

    @property
    def project(self):
        return self.lm_head


def tied_embedding(num_embeddings, embedding_dim):
    return TiedEnds(num_embeddings, embedding_dim)


# Llama 3 (and DeepSeek-V3, Kimi) build ComplexRoPE; Qwen3 (and gpt-oss) CosSinRoPE, and Qwen3's configs tie
# the embedding and the head.
llama3 = Implementation("llama3", {"rope.pairing": "interleaved"}, rope=_rope_factory(ComplexRoPE))

qwen3 = Implementation(
    "qwen3", {"rope.pairing": "half"}, unsupported={"token_embedding.padding_idx"},
    rope=_rope_factory(CosSinRoPE), token_embedding=token_embedding, tied_embedding=tied_embedding,
)
