"""Hugging Face transformers: the positional code of its models, one implementation object per model.

    embedspec --impl embedspec.adapters.hf_transformers:llama     # likewise :xlm, :marian, :m2m100,
                                                                  # :bert, :bart, :opt, :gptj, :t5,
                                                                  # :bloom, :mpt, :gpt2, :vit_mae, :xlnet

Nothing is downloaded: every module is built from a tiny configuration with
random weights, as ``Model(Config(...))`` does, and a table that the library
fills in an init hook (``_init_weights``) is filled the way that hook does.
Where a model's forward does the positional step inline (BERT, XLM, GPT-J), the adapter holds the library's own module or buffer and repeats the
two or three lines of that forward verbatim, citing them; everything else is
a direct call of the library's function or module. Conventions are read from
transformers 5.23.0 and stated on each object.
"""

import torch
from torch import nn
from torch.nn.utils import parametrize

try:
    import transformers
    from transformers import BertConfig, GPT2Config, GPT2LMHeadModel, GPTJConfig, LlamaConfig, XLMConfig, XLMModel
    from transformers.models.bart.modeling_bart import BartLearnedPositionalEmbedding
    from transformers.models.bert.modeling_bert import BertEmbeddings
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes, build_alibi_tensor
    from transformers.models.gptj.modeling_gptj import GPTJAttention
    from transformers.models.gptj.modeling_gptj import apply_rotary_pos_emb as gptj_apply_rotary_pos_emb
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb as llama_apply_rotary_pos_emb
    from transformers.models.m2m_100.modeling_m2m_100 import M2M100SinusoidalPositionalEmbedding
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor
    from transformers.models.opt.modeling_opt import OPTLearnedPositionalEmbedding
    from transformers.models.t5.modeling_t5 import T5Attention
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings
    from transformers.models.xlnet.modeling_xlnet import XLNetRelativeAttention
except ImportError as exc:  # pragma: no cover - exercised where transformers is absent
    raise ImportError(
        "embedspec.adapters.hf_transformers needs transformers: pip install 'embedspec[adapters]' "
        f"(transformers==5.23.0 verified); the import failed with: {exc}"
    ) from exc

VERSION = transformers.__version__
PAPER_BASE = 10000.0


class Implementation:
    """One implementation object: the families it provides, its conventions, and the optional features of the
    contract its model's code lacks (``unsupported``)."""

    def __init__(self, name, conventions, unsupported=(), **families):
        self.__name__ = name
        self.conventions = conventions
        self.unsupported = set(unsupported)
        for family, factory in families.items():
            setattr(self, family, factory)

    def __repr__(self):
        return f"<embedspec.adapters.hf_transformers:{self.__name__}>"


def _fixed_base(model, base):
    # A model whose code hard-codes the wavelength 10000 cannot honour another base; the
    # adapter says so instead of silently returning a table for the wrong base.
    if float(base) != PAPER_BASE:
        raise NotImplementedError(f"{model} hard-codes the base 10000; it cannot build base={base}")


class _SkipLeadingRows(nn.Module):
    """A parametrization: the library's table is ``cat([unused leading rows, weight])``.

    Bart and OPT allocate ``max_len + 2`` rows and look position p up at row p + 2 (a fairseq
    legacy: rows 0 and 1 were once reserved for padding). The contract's ``m.weight`` is the
    ``(max_len, dim)`` parameter of the rows positions use, so the adapter re-expresses the
    library's weight through ``torch.nn.utils.parametrize``: the library's own forward runs
    unchanged on ``cat([head, weight])``, and casts, moves, gradients and state dicts act on
    the real parameter.
    """

    def __init__(self, head):
        super().__init__()
        self.register_buffer("head", head)

    def forward(self, table):
        return torch.cat([self.head.to(table.dtype), table])

    def right_inverse(self, full):
        return full[self.head.shape[0]:]


def _expose_rows(module, name, skip):
    """Parametrize ``module.<name>`` so that its rows from ``skip`` on are one parameter; return it."""
    head = getattr(module, name).detach()[:skip].clone()
    parametrize.register_parametrization(module, name, _SkipLeadingRows(head))
    return module.parametrizations[name].original


# ---------------------------------------------------------------------------------------------
# XLM / DistilBERT: create_sinusoidal_embeddings (numpy, interleaved, paper schedule, base 10000).
# DistilBERT's _create_sinusoidal_embeddings is a verbatim copy of XLM's.


def xlm_sinusoidal_encoding(num_positions, dim, *, base=PAPER_BASE):
    _fixed_base("XLM's create_sinusoidal_embeddings", base)
    return create_sinusoidal_embeddings(num_positions, dim, out=torch.empty(num_positions, dim))


class XLMPositions(nn.Module):
    """The position part of ``XLMModel``: its ``position_embeddings`` and ``position_ids``.

    ``forward`` repeats modeling_xlm.py's two lines: ``position_ids = self.position_ids[:, :slen]``
    and ``tensor = inputs_embeds + self.position_embeddings(position_ids).expand_as(inputs_embeds)``.
    """

    def __init__(self, model):
        super().__init__()
        self.position_embeddings = model.position_embeddings
        self.register_buffer("position_ids", model.position_ids, persistent=False)

    def forward(self, x):
        position_ids = self.position_ids[:, : x.shape[1]]
        return x + self.position_embeddings(position_ids).expand_as(x)


def xlm_sinusoidal_module(dim, max_len, *, base=PAPER_BASE):
    _fixed_base("XLM's create_sinusoidal_embeddings", base)
    # XLMModel(config) runs the library's _init_weights, which fills position_embeddings.
    config = XLMConfig(vocab_size=4, emb_dim=dim, n_layers=0, n_heads=1, max_position_embeddings=max_len,
                       sinusoidal_embeddings=True, n_langs=1)
    return XLMPositions(XLMModel(config))


xlm = Implementation(
    "xlm",
    {"sinusoidal.layout": "interleaved", "sinusoidal.frequencies": "paper", "sinusoidal.beyond_max_len": "raise"},
    {"sinusoidal.base"},  # the wavelength 10000 is hard-coded
    sinusoidal_encoding=xlm_sinusoidal_encoding,
    sinusoidal_module=xlm_sinusoidal_module,
)

# ---------------------------------------------------------------------------------------------
# Marian: MarianSinusoidalPositionalEmbedding (split layout, paper schedule, a frozen nn.Embedding).


def marian_sinusoidal_encoding(num_positions, dim, *, base=PAPER_BASE):
    _fixed_base("MarianSinusoidalPositionalEmbedding.create_weight", base)
    return MarianSinusoidalPositionalEmbedding(num_positions, dim).create_weight()


class AddPositions(nn.Module):
    """``x + positions(x)`` for a library module that returns the position vectors only."""

    def __init__(self, positions, call):
        super().__init__()
        self.positions = positions
        self._call = call

    def forward(self, x):
        return x + self._call(self.positions, x)


def marian_sinusoidal_module(dim, max_len, *, base=PAPER_BASE):
    _fixed_base("MarianSinusoidalPositionalEmbedding", base)
    module = MarianSinusoidalPositionalEmbedding(max_len, dim)
    with torch.no_grad():  # MarianPreTrainedModel._init_weights: init.copy_(module.weight, module.create_weight())
        module.weight.copy_(module.create_weight())
    # MarianEncoder: embed_pos = self.embed_positions(inputs_embeds.shape[:-1])
    return AddPositions(module, lambda positions, x: positions(x.shape[:-1]))


marian = Implementation(
    "marian",
    {"sinusoidal.layout": "split", "sinusoidal.frequencies": "paper", "sinusoidal.beyond_max_len": "raise"},
    {"sinusoidal.base"},  # the wavelength 10000 is hard-coded
    sinusoidal_encoding=marian_sinusoidal_encoding,
    sinusoidal_module=marian_sinusoidal_module,
)

# ---------------------------------------------------------------------------------------------
# M2M100 (and NLLB, fairseq): M2M100SinusoidalPositionalEmbedding (split layout, endpoint schedule,
# extends itself past max_len, positions numbered from padding_idx + 1).

M2M100_PADDING_IDX = 1  # M2M100Config.pad_token_id


def m2m100_sinusoidal_encoding(num_positions, dim, *, base=PAPER_BASE):
    _fixed_base("M2M100SinusoidalPositionalEmbedding.get_embedding", base)
    return M2M100SinusoidalPositionalEmbedding.get_embedding(num_positions, dim)


def m2m100_sinusoidal_module(dim, max_len, *, base=PAPER_BASE):
    _fixed_base("M2M100SinusoidalPositionalEmbedding", base)
    # The model's own padding_idx (the config's pad_token_id): the module counts positions from
    # padding_idx + 1, so this is what an M2M100 encoder adds to its inputs.
    module = M2M100SinusoidalPositionalEmbedding(max_len, dim, padding_idx=M2M100_PADDING_IDX)
    # M2M100Encoder: embed_pos = self.embed_positions(input_ids, inputs_embeds); with inputs_embeds only:
    return AddPositions(module, lambda positions, x: positions(inputs_embeds=x))


m2m100 = Implementation(
    "m2m100",
    {"sinusoidal.layout": "split", "sinusoidal.frequencies": "endpoint", "sinusoidal.beyond_max_len": "extend"},
    {"sinusoidal.base"},  # the wavelength 10000 is hard-coded
    sinusoidal_encoding=m2m100_sinusoidal_encoding,
    sinusoidal_module=m2m100_sinusoidal_module,
)

# ---------------------------------------------------------------------------------------------
# Learned absolute positions: BERT (rows from 0), Bart and OPT (rows offset by 2).


class BertPositions(nn.Module):
    """The position part of ``BertEmbeddings``: its ``position_embeddings`` and ``position_ids`` buffer.

    ``forward`` repeats modeling_bert.py: ``position_ids = self.position_ids[:, :seq_length]`` when
    none are given, then ``embeddings + self.position_embeddings(position_ids)``.
    """

    def __init__(self, embeddings):
        super().__init__()
        self.embeddings = embeddings

    @property
    def weight(self):
        return self.embeddings.position_embeddings.weight

    def forward(self, x, positions=None):
        if positions is None:
            positions = self.embeddings.position_ids[:, : x.shape[1]]
        return x + self.embeddings.position_embeddings(positions)


def bert_learned_positional(max_len, dim):
    config = BertConfig(vocab_size=2, hidden_size=dim, num_attention_heads=1, max_position_embeddings=max_len,
                        type_vocab_size=1, pad_token_id=0)
    return BertPositions(BertEmbeddings(config))


bert = Implementation("bert", {"learned_positional.scale": "one"}, learned_positional=bert_learned_positional)


class OffsetPositions(nn.Module):
    """Bart's or OPT's learned positions with the two unused leading rows mapped away (see _SkipLeadingRows)."""

    def __init__(self, module, call):
        super().__init__()
        self.positions = module
        self._call = call
        _expose_rows(module, "weight", module.offset)

    @property
    def weight(self):
        return self.positions.parametrizations.weight.original

    def forward(self, x, positions=None):
        return x + self._call(self.positions, x, positions)


def _bart_call(module, x, positions):
    if positions is None:  # BartEncoder: embed_pos = self.embed_positions(input) - only its shape[:2] is used
        return module(x)
    return module(x, position_ids=positions)  # BartDecoder passes 1-D cache positions as position_ids


def bart_learned_positional(max_len, dim):
    return OffsetPositions(BartLearnedPositionalEmbedding(max_len, dim), _bart_call)


bart = Implementation("bart", {"learned_positional.scale": "one"}, learned_positional=bart_learned_positional)


def _opt_call(module, x, positions):
    # OPTDecoder: without an attention mask it uses ones, and positions = cumsum(mask) - 1
    mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
    return module(mask, position_ids=positions)


def opt_learned_positional(max_len, dim):
    return OffsetPositions(OPTLearnedPositionalEmbedding(max_len, dim), _opt_call)


opt = Implementation("opt", {"learned_positional.scale": "one"}, learned_positional=opt_learned_positional)

# ---------------------------------------------------------------------------------------------
# RoPE: Llama (half pairing) and GPT-J (interleaved pairing, optional partial rotary_dim).


class LlamaRope(nn.Module):
    """``LlamaRotaryEmbedding`` then ``apply_rotary_pos_emb``, as LlamaModel and LlamaAttention call them.

    The contract's x is (B, S, H, D); ``apply_rotary_pos_emb``'s docstring says to pass
    ``unsqueeze_dim=2`` for that layout. Only the query half of its (q, k) pair is returned.
    """

    def __init__(self, config):
        super().__init__()
        self.rotary_emb = LlamaRotaryEmbedding(config)

    def forward(self, x, positions):
        position_ids = positions if positions.ndim == 2 else positions.unsqueeze(0)  # LlamaModel: (B or 1, S)
        cos, sin = self.rotary_emb(x, position_ids)
        query, _ = llama_apply_rotary_pos_emb(x, x, cos, sin, unsqueeze_dim=2)
        return query


def llama_rope(head_dim, *, base=PAPER_BASE, max_seq_len=4096, scaling=None):
    """``scaling`` is the checkpoint's rope_scaling dict, passed to LlamaConfig as its rope_parameters (the
    scaled types of modeling_rope_utils.py: linear, dynamic, yarn, llama3, longrope). The contract's
    original length of a dynamic NTK is transformers' max_position_embeddings (_compute_dynamic_ntk_parameters
    reads it there); every other type reads original_max_position_embeddings from the dict, defaulting to
    max_position_embeddings = max_seq_len, as the contract does."""
    parameters = {"rope_type": "default"} if scaling is None else dict(scaling)
    max_position_embeddings = max_seq_len
    if parameters.get("rope_type") == "dynamic" and "original_max_position_embeddings" in parameters:
        max_position_embeddings = parameters.pop("original_max_position_embeddings")
    config = LlamaConfig(vocab_size=2, hidden_size=head_dim, intermediate_size=1, num_hidden_layers=0,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=head_dim,
                         max_position_embeddings=max_position_embeddings,
                         rope_parameters={**parameters, "rope_theta": float(base)})
    return LlamaRope(config)


# LlamaRotaryEmbedding.forward multiplies cos and sin by attention_scaling (YaRN's and LongRoPE's factor)
llama = Implementation("llama", {"rope.pairing": "half", "rope.attention_factor": "output"}, rope=llama_rope)


class GPTJRope(nn.Module):
    """The rotary part of ``GPTJAttention.forward``, on the attention module's own ``embed_positions`` buffer.

    Repeats modeling_gptj.py: ``embed_positions = self._get_embed_positions(position_ids)``, the
    gather at the positions, the split into sin and cos, and ``apply_rotary_pos_emb`` on the first
    ``rotary_dim`` features (the rest pass through). GPT-J's query is already (B, S, H, D).
    """

    def __init__(self, attention):
        super().__init__()
        self.attention = attention

    def forward(self, x, positions):
        attention = self.attention
        position_ids = positions if positions.ndim == 2 else positions.unsqueeze(0)
        embed_positions = attention._get_embed_positions(position_ids)
        repeated_position_ids = position_ids.unsqueeze(-1).repeat(1, 1, embed_positions.shape[-1])
        sincos = torch.gather(embed_positions, 1, repeated_position_ids).to(x.dtype)
        sin, cos = torch.split(sincos, sincos.shape[-1] // 2, dim=-1)
        q_rot = x[:, :, :, : attention.rotary_dim]
        q_pass = x[:, :, :, attention.rotary_dim:]
        q_rot = gptj_apply_rotary_pos_emb(q_rot, sin, cos)
        return torch.cat([q_rot, q_pass], dim=-1)


def gptj_rope(head_dim, *, base=PAPER_BASE, max_seq_len=4096, rotary_dim=None):
    _fixed_base("GPT-J's create_sinusoidal_positions", base)
    config = GPTJConfig(vocab_size=2, n_embd=head_dim, n_head=1, n_layer=0, n_positions=max_seq_len,
                        rotary_dim=head_dim if rotary_dim is None else rotary_dim)
    return GPTJRope(GPTJAttention(config))


gptj = Implementation("gptj", {"rope.pairing": "interleaved"}, {"rope.base"}, rope=gptj_rope)  # base 10000 hard-coded

# ---------------------------------------------------------------------------------------------
# T5 relative position buckets: the static method itself has the contract's signature.

t5 = Implementation("t5", {}, relative_position_bucket=T5Attention._relative_position_bucket)

# ---------------------------------------------------------------------------------------------
# ALiBi: BLOOM (bias = m * j, the key position) and MPT (bias = m * (j - (k_len - 1))); both are the
# `causal` mode: equal to -m * (i - j) up to a constant per query row.


def bloom_alibi_slopes(num_heads, *, device=None):
    return _get_alibi_slopes(num_heads, device)


def bloom_alibi_bias(num_heads, q_len, k_len, *, device=None, dtype=torch.float32):
    # BloomModel: the attention mask (all ones without padding) covers the k_len keys;
    # build_alibi_tensor gives (batch * heads, 1, k_len), broadcast over the queries by baddbmm.
    mask = torch.ones(1, k_len, dtype=torch.long, device=device)
    alibi = build_alibi_tensor(mask, num_heads, dtype)
    # materialised: the broadcast is the adapter's, and a caller may edit the result in place
    return alibi.reshape(num_heads, 1, k_len).expand(num_heads, q_len, k_len).contiguous()


bloom = Implementation("bloom", {"alibi.mode": "causal"}, alibi_slopes=bloom_alibi_slopes,
                       alibi_bias=bloom_alibi_bias)


def mpt_alibi_slopes(num_heads, *, device=None):
    # MPT exposes only the bias; the slope of a head is its bias step between adjacent keys.
    alibi = build_mpt_alibi_tensor(num_heads, 2, device=device)  # (heads, 1, 2) = m * [-1, 0]
    return alibi[:, 0, 1] - alibi[:, 0, 0]


def mpt_alibi_bias(num_heads, q_len, k_len, *, device=None):
    # MptAttention slices position_bias[:, -q_len:, -k_len:] from (heads, 1, max_seq_len): the
    # last k_len columns of any longer tensor equal build_mpt_alibi_tensor(heads, k_len).
    alibi = build_mpt_alibi_tensor(num_heads, k_len, device=device)
    return alibi.expand(num_heads, q_len, k_len).contiguous()  # materialised, as for BLOOM


mpt = Implementation("mpt", {"alibi.mode": "causal"}, alibi_slopes=mpt_alibi_slopes, alibi_bias=mpt_alibi_bias)

# ---------------------------------------------------------------------------------------------
# Weight tying: GPT2LMHeadModel ties lm_head.weight to transformer.wte.weight (tie_word_embeddings).


class TiedGPT2(nn.Module):
    """A zero-layer ``GPT2LMHeadModel``: ``embed`` is its ``wte``, ``project`` its ``lm_head``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @property
    def embed(self):
        return self.model.get_input_embeddings()

    @property
    def project(self):
        return self.model.get_output_embeddings()


def gpt2_tied_embedding(num_embeddings, embedding_dim):
    config = GPT2Config(vocab_size=num_embeddings, n_embd=embedding_dim, n_layer=0, n_head=1, n_positions=1,
                        bos_token_id=0, eos_token_id=0, tie_word_embeddings=True)
    return TiedGPT2(GPT2LMHeadModel(config))


gpt2 = Implementation("gpt2", {}, tied_embedding=gpt2_tied_embedding)

# ---------------------------------------------------------------------------------------------
# 2-D sin-cos: ViT-MAE's build_2d_sinusoidal_position_embedding ([sin_h | cos_h | sin_w | cos_w]).
# (ViTMAEEmbeddings then swaps the halves to match the original MAE checkpoints: the model's
# table is the `wh` order; the builder, bound here, is `hw`.)


def vit_mae_sincos_2d(height, width, dim, *, base=PAPER_BASE):
    return build_2d_sinusoidal_position_embedding(height, width, embed_dim=dim, temperature=base)


vit_mae = Implementation(
    "vit_mae",
    {"sincos_2d.order": "hw", "sinusoidal.layout": "split", "sinusoidal.frequencies": "paper"},
    sincos_2d=vit_mae_sincos_2d,
)

# ---------------------------------------------------------------------------------------------
# Transformer-XL's relative shift, as XLNet (built on Transformer-XL) implements it.


def xlnet_relative_shift(scores):
    """``XLNetRelativeAttention.rel_shift_bnij`` on the contract's layout.

    XLNet's position scores have k_len + q_len columns, column c for the relative distance
    k_len - c (``relative_positional_encoding``: ``arange(klen, -qlen, -1)``); the contract's
    have k_len columns, column c for the distance k_len - 1 - c. So the contract's column c is
    XLNet's column c + 1: the adapter puts one column in front (distance k_len, which the shift
    discards) and q_len - 1 behind (distances below 0, the masked future), and XLNet keeps
    ``klen`` columns.
    """
    *lead, q_len, k_len = scores.shape
    flat = scores.reshape(1, -1, q_len, k_len)  # XLNet's (batch, heads, i, j)
    padded = torch.nn.functional.pad(flat, (1, q_len - 1))
    return XLNetRelativeAttention.rel_shift_bnij(padded, klen=k_len).reshape(scores.shape)


xlnet = Implementation("xlnet", {}, relative_shift=xlnet_relative_shift)
