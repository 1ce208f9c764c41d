"""NVIDIA megatron-core: RotaryEmbedding, its T5 relative buckets, LanguageModelEmbedding and GPTModel's tied head.

    embedspec --impl embedspec.adapters.megatron_core:gpt            # rope (half pairing), the rest
    embedspec --impl embedspec.adapters.megatron_core:interleaved    # rope with rotary_interleaved=True

Bound, from megatron/core (0.16.1):

- ``rope``: ``RotaryEmbedding(kv_channels=head_dim, rotary_percent, rotary_interleaved, rotary_base=base,
  use_cpu_initialization=True)`` (models/common/embeddings/rotary_pos_embedding.py) and
  ``apply_rotary_pos_emb`` (rope_utils.py), on megatron's sequence-first layout (x is transposed to
  (S, B, H, D) and back). ``RotaryEmbedding(seq_len)`` returns the angles of positions 0 .. seq_len-1,
  ``cat([freqs, freqs])`` by default (feature k pairs with k + d/2 in ``_rotate_half``: ``half``),
  each frequency twice in a row with ``rotary_interleaved=True`` (``interleaved``). GPTModel applies
  rows 0 .. S-1; megatron's dynamic inference gathers the table at each token's position
  (``DynamicInferenceContext.apply_rotary_emb_query``: ``query_emb[token_to_pos_ids]``), and so does
  the adapter, for positions of shape (S,) or (B, S), with a table of max(positions) + 1 rows (megatron
  has no maximum length). ``rotary_dim`` becomes ``rotary_percent = (rotary_dim + 0.5) / head_dim``:
  megatron keeps ``int(kv_channels * rotary_percent)`` channels, and ``rotary_dim / head_dim`` itself
  can round to one channel fewer (30 / 44 keeps 29 of 44).
- ``relative_position_bucket``: ``RelativePositionEmbedding._relative_position_bucket`` (the T5 model's
  relative_pos_embedding.py), called as its ``_compute_bias`` calls it, with the module's own
  ``bidirectional``, ``relative_attention_num_buckets`` and ``relative_attention_max_distance``.
- ``transformer_embedding``: ``LanguageModelEmbedding(position_embedding_type="learned_absolute")``: a
  ``VocabParallelEmbedding`` plus an ``nn.Embedding`` of positions, then ``embedding_dropout`` with
  ``config.hidden_dropout``. Its forward takes ``(input_ids, position_ids)`` and returns (S, B, d):
  the adapter passes ``arange(S)`` (GPT's data loader's position ids) and transposes back. It has no
  padding index and no sinusoidal positions (both declared unsupported); the contract's ``positional="learned"``
  is megatron's ``position_embedding_type="learned_absolute"``, and any other kind is passed on unchanged.
- ``tied_embedding``: a ``GPTModel(share_embeddings_and_output_weights=True)`` of one layer:
  ``embed`` is ``model.embedding.word_embeddings``, and ``project`` calls ``model.output_layer`` (a
  ``ColumnParallelLinear`` built without a weight) with ``weight=model.shared_embedding_or_output_weight()``,
  as ``GPTModel.forward`` does. The output layer takes (S, B, d): the hidden states are flattened to
  (tokens, 1, d) and the logits reshaped back.

Without CUDA or a launcher: megatron's layers take their process groups as arguments (a group of size
1 makes every collective a no-op), but drop them unless ``torch.distributed`` is initialised
(``get_tensor_model_parallel_group_if_none`` returns None then, and ``VocabParallelEmbedding.forward``
fails on ``None.size()``). So, as megatron's own unit tests do (``Utils.initialize_distributed``), the
adapter initialises ``torch.distributed`` if nothing has: a world of one gloo process on an in-memory
``HashStore`` (no port, no environment variables), on the first factory call, not at import; its
default group is passed as the tensor-, pipeline-, context- and data-parallel group, and
megatron's ``parallel_state`` stays uninitialised. ``use_cpu_initialization=True`` stands where
megatron would allocate on the current CUDA device. One call still asks CUDA: ``RotaryEmbedding.get_emb`` moves ``inv_freq``
to ``torch.cuda.current_device()`` on its first call ("move inv_freq to GPU once at the first
micro-batch forward pass"); on a machine without CUDA the adapter answers that one query with "cpu"
for the duration of the call, so the library's code runs unchanged on the CPU. With CUDA present the
library's own answer stands.
"""

import atexit
import contextlib
from unittest import mock

import torch
from torch import nn

try:
    import megatron.core
    from megatron.core.models.common.embeddings.language_model_embedding import LanguageModelEmbedding
    from megatron.core.models.common.embeddings.relative_pos_embedding import RelativePositionEmbedding
    from megatron.core.models.common.embeddings.rope_utils import apply_rotary_pos_emb
    from megatron.core.models.common.embeddings.rotary_pos_embedding import RotaryEmbedding
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.process_groups_config import ProcessGroupCollection
    from megatron.core.transformer.transformer_config import TransformerConfig
except ImportError as exc:  # pragma: no cover - exercised where megatron-core is absent
    raise ImportError(
        "embedspec.adapters.megatron_core needs megatron-core: pip install 'embedspec[adapters]' "
        f"(megatron-core==0.16.1 verified); the import failed with: {exc}"
    ) from exc

VERSION = megatron.core.__version__


def single_process_group():
    """The default process group, a world of one gloo process, initialised on first use (see the module docstring)."""
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)
        atexit.register(torch.distributed.destroy_process_group)
    if torch.distributed.get_world_size() != 1:
        raise RuntimeError("the megatron-core adapter runs megatron's layers in a world of one process; torch.distributed "
                           f"is initialised with {torch.distributed.get_world_size()}")
    return torch.distributed.group.WORLD


def _config(hidden_size, **options):
    """A TransformerConfig of one layer and one head on the CPU (use_cpu_initialization)."""
    return TransformerConfig(num_layers=1, hidden_size=hidden_size, num_attention_heads=1,
                             use_cpu_initialization=True, **options)


class Implementation:
    """One implementation object: the families it provides, its conventions and what it lacks."""

    def __init__(self, name, conventions, unsupported=(), **families):
        self.__name__ = name
        self.conventions = conventions
        self.unsupported = set(unsupported)
        for family, factory in families.items():
            setattr(self, family, factory)

    def __repr__(self):
        return f"<embedspec.adapters.megatron_core:{self.__name__}>"


# ---------------------------------------------------------------------------------------------
# RoPE


@contextlib.contextmanager
def _current_device_without_cuda():
    """Inside: torch.cuda.current_device() answers "cpu" where there is no CUDA (see the module docstring)."""
    if torch.cuda.is_available():
        yield
        return
    with mock.patch.object(torch.cuda, "current_device", lambda: "cpu"):
        yield


class Rope(nn.Module):
    """``RotaryEmbedding``'s table at the positions, then ``apply_rotary_pos_emb`` on (S, B, H, D)."""

    def __init__(self, rotary, config):
        super().__init__()
        self.rotary = rotary
        self.config = config

    def forward(self, x, positions):
        length = int(positions.max()) + 1 if positions.numel() else 1
        with _current_device_without_cuda():
            table = self.rotary(length)  # (length, 1, 1, rotary dim): GPTModel's rotary_pos_emb
        if positions.dim() == 1:
            freqs = table[positions]  # (S, 1, 1, rotary dim)
        else:
            freqs = table[positions.T][:, :, 0]  # (S, B, 1, rotary dim): one row per token
        out = apply_rotary_pos_emb(x.transpose(0, 1), freqs, self.config, cp_group=single_process_group())
        return out.transpose(0, 1)


def _rope_factory(interleaved):
    def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None):
        rotary_percent = 1.0 if rotary_dim is None else (rotary_dim + 0.5) / head_dim
        # no cp_group: without context parallelism (its default, None) the table is not sliced per rank
        rotary = RotaryEmbedding(kv_channels=head_dim, rotary_percent=rotary_percent, rotary_interleaved=interleaved,
                                 rotary_base=base, use_cpu_initialization=True)
        return Rope(rotary, _config(head_dim, rotary_interleaved=interleaved))
    return rope


# ---------------------------------------------------------------------------------------------
# T5 relative position buckets


def relative_position_bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
    with torch.device(relative_position.device):  # T5Model builds it once, on the model's device
        module = RelativePositionEmbedding(bidirectional=bidirectional, init_method=nn.init.zeros_,
                                           num_attention_heads=1, relative_attention_num_buckets=num_buckets,
                                           relative_attention_max_distance=max_distance)
    # RelativePositionEmbedding._compute_bias
    return module._relative_position_bucket(relative_position, bidirectional=module.bidirectional,
                                            num_buckets=module.relative_attention_num_buckets,
                                            max_distance=module.relative_attention_max_distance)


# ---------------------------------------------------------------------------------------------
# LanguageModelEmbedding: word + learned absolute positions, then dropout


class Embedding(nn.Module):
    """``LanguageModelEmbedding`` on batch-first ids, with position ids 0 .. S-1."""

    def __init__(self, embedding):
        super().__init__()
        self.embedding = embedding

    @property
    def token_embedding(self):
        return self.embedding.word_embeddings

    @property
    def positional(self):
        return self.embedding.position_embeddings

    def forward(self, ids):
        position_ids = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        return self.embedding(ids, position_ids).transpose(0, 1)  # megatron's (S, B, d)


# The contract's positional kind in megatron's name; any other kind is passed on as it is, for megatron to judge.
POSITION_EMBEDDING_TYPES = {"learned": "learned_absolute"}


def transformer_embedding(vocab_size, dim, max_len, *, positional="learned", dropout=0.0):
    config = _config(dim, hidden_dropout=dropout)
    return Embedding(LanguageModelEmbedding(config, vocab_size=vocab_size, max_sequence_length=max_len,
                                            position_embedding_type=POSITION_EMBEDDING_TYPES.get(positional, positional),
                                            tp_group=single_process_group()))


# ---------------------------------------------------------------------------------------------
# GPTModel with share_embeddings_and_output_weights=True


class Projection:
    """``GPTModel.output_layer`` as ``GPTModel.forward`` calls it, with the shared weight."""

    def __init__(self, model):
        self.model = model

    @property
    def weight(self):
        return self.model.shared_embedding_or_output_weight()

    def __call__(self, hidden):
        # GPTModel.forward: logits, _ = self.output_layer(hidden_states, weight=output_weight, ...), on (S, B, d)
        logits, _ = self.model.output_layer(hidden.reshape(-1, 1, hidden.shape[-1]), weight=self.weight)
        return logits.reshape(*hidden.shape[:-1], logits.shape[-1])


class TiedGPT(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    @property
    def embed(self):
        return self.model.embedding.word_embeddings

    @property
    def project(self):
        return Projection(self.model)


def tied_embedding(num_embeddings, embedding_dim):
    group = single_process_group()
    groups = ProcessGroupCollection(tp=group, pp=group, cp=group, dp=group, dp_cp=group, mp=group, tp_cp=group,
                                    embd=None, pos_embd=None)
    model = GPTModel(_config(embedding_dim), get_gpt_layer_local_spec(), vocab_size=num_embeddings,
                     max_sequence_length=1, share_embeddings_and_output_weights=True, pg_collection=groups)
    return TiedGPT(model)


gpt = Implementation(
    "gpt", {"rope.pairing": "half", "learned_positional.scale": "one"},
    unsupported={"transformer_embedding.sinusoidal", "token_embedding.padding_idx"},
    rope=_rope_factory(interleaved=False), relative_position_bucket=relative_position_bucket,
    transformer_embedding=transformer_embedding, tied_embedding=tied_embedding,
)

interleaved = Implementation("interleaved", {"rope.pairing": "interleaved"}, rope=_rope_factory(interleaved=True))
