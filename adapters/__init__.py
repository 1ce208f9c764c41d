"""Ready adapters: the specification run against the libraries people use.

One module per library. Each binds the library's own classes and functions
(never a re-implementation of them) to the contract's family factories, and
declares the library's conventions, read from its source. A library with
several implementations of one family (transformers has three sinusoidal
tables) exposes one implementation object per model, named as an attribute:

    embedspec --impl embedspec.adapters.torch_nn
    embedspec --impl embedspec.adapters.hf_transformers:llama

Importing an adapter whose library is not installed raises ImportError with
the command that installs it. ``IMPLEMENTATIONS`` below is the list the test
suite, ``embedspec matrix`` and docs/adapters.md are generated from; each adapter's
known divergences are in ``adapters/xfails/<name>.toml``.

This package imports no library itself, so it can always be imported.
"""

from dataclasses import dataclass
from pathlib import Path

XFAILS_DIRECTORY = Path(__file__).resolve().parent / "xfails"


@dataclass(frozen=True)
class Adapter:
    """One implementation object of an adapter module."""

    module: str  # the adapter module, within this package
    attribute: str  # "" when the module itself is the implementation
    library: str  # the import name of the library
    distribution: str  # its name on PyPI
    title: str  # what is bound, for tables

    @property
    def name(self):
        """A short stable name: the module, or module.attribute."""
        return f"{self.module}.{self.attribute}" if self.attribute else self.module

    @property
    def impl(self):
        """The ``--impl`` value."""
        path = f"{__name__}.{self.module}"
        return f"{path}:{self.attribute}" if self.attribute else path

    @property
    def xfails(self):
        return XFAILS_DIRECTORY / f"{self.name}.toml"


def _many(module, library, distribution, entries):
    return [Adapter(module, attribute, library, distribution, title) for attribute, title in entries]


IMPLEMENTATIONS = (
    *_many("torch_nn", "torch", "torch", [("", "torch.nn.Embedding (token embedding, learned positions)")]),
    *_many("hf_transformers", "transformers", "transformers", [
        ("xlm", "XLM / DistilBERT create_sinusoidal_embeddings"),
        ("marian", "MarianSinusoidalPositionalEmbedding"),
        ("m2m100", "M2M100SinusoidalPositionalEmbedding"),
        ("bert", "BertEmbeddings.position_embeddings"),
        ("bart", "BartLearnedPositionalEmbedding"),
        ("opt", "OPTLearnedPositionalEmbedding"),
        ("llama", "LlamaRotaryEmbedding + apply_rotary_pos_emb"),
        ("gptj", "GPT-J create_sinusoidal_positions + apply_rotary_pos_emb"),
        ("t5", "T5Attention._relative_position_bucket"),
        ("bloom", "BLOOM build_alibi_tensor"),
        ("mpt", "MPT build_mpt_alibi_tensor"),
        ("gpt2", "GPT2LMHeadModel tied input/output embeddings"),
        ("vit_mae", "ViT-MAE build_2d_sinusoidal_position_embedding"),
        ("xlnet", "XLNet (Transformer-XL) rel_shift_bnij"),
    ]),
    *_many("tune", "torchtune", "torchtune", [
        ("", "RotaryPositionalEmbeddings, T5 encoder relative buckets"),
    ]),
    *_many("x_transformers", "x_transformers", "x-transformers", [
        ("", "AbsolutePositionalEmbedding, ScaledSinusoidalEmbedding, RotaryEmbedding, "
             "AlibiPositionalBias, RelativePositionBias, TransformerWrapper(tie_embedding=True)"),
    ]),
    *_many("rotary_embedding_torch", "rotary_embedding_torch", "rotary-embedding-torch", [("", "RotaryEmbedding")]),
    *_many("positional_encodings", "positional_encodings", "positional-encodings", [
        ("", "PositionalEncoding1D, PositionalEncoding2D, Summer"),
    ]),
    *_many("timm", "timm", "timm", [
        ("", "build_sincos2d_pos_embed, RotaryEmbedding + apply_rot_embed, resample_abs_pos_embed"),
    ]),
    *_many("diffusers", "diffusers", "diffusers", [
        ("sincos", "get_1d_sincos_pos_embed_from_grid, get_2d_sincos_pos_embed (PatchEmbed's normalised grid)"),
        ("sinusoidal", "SinusoidalPositionalEmbedding"),
        ("timesteps", "get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0), as Timesteps in SD"),
        ("timesteps_ddpm", "get_timestep_embedding with its defaults (flip_sin_to_cos=False, downscale_freq_shift=1)"),
        ("flux", "FluxPosEmbed + apply_rotary_emb (real form, interleaved)"),
        ("ace_step", "get_1d_rotary_pos_embed(repeat_interleave_real=False) + apply_rotary_emb(use_real_unbind_dim=-2)"),
        ("lumina2", "Lumina2RotaryPosEmbed + apply_rotary_emb(use_real=False) (complex form)"),
    ]),
    *_many("torchtitan", "torchtitan", "torchtitan", [
        ("llama3", "ComplexRoPE"),
        ("qwen3", "CosSinRoPE, Embedding, Decoder's tied tok_embeddings and lm_head"),
    ]),
    *_many("megatron_core", "megatron.core", "megatron-core", [
        ("gpt", "RotaryEmbedding + apply_rotary_pos_emb, RelativePositionEmbedding buckets, LanguageModelEmbedding, "
                "GPTModel(share_embeddings_and_output_weights=True)"),
        ("interleaved", "RotaryEmbedding(rotary_interleaved=True) + apply_rotary_pos_emb"),
    ]),
)


def by_name(name):
    """The Adapter called ``name`` (``module`` or ``module.attribute``)."""
    for adapter in IMPLEMENTATIONS:
        if adapter.name == name:
            return adapter
    raise KeyError(f"no adapter {name!r}; known: {', '.join(a.name for a in IMPLEMENTATIONS)}")
