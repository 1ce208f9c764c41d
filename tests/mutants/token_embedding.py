"""Token-embedding mutants: padding, range checks, scaling, the weight parameter."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import embedspec.reference as reference
from embedspec.reference.token_embedding import TokenEmbedding, check_ids

from .catalogue import mutant, variant

SPEC = "spec/test_token_embedding.py"


class _Lookup(nn.Module):
    """A token embedding whose lookup is a plain function of (weight, ids); bugs are injected there."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, lookup=None, zero_padding=True,
                 check_type=True):
        super().__init__()
        self.check_type = check_type
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))
        self.padding_idx = padding_idx
        if padding_idx is not None and zero_padding:
            with torch.no_grad():
                self.weight[padding_idx] = 0
        self.lookup = lookup

    def forward(self, ids):
        if self.check_type and not isinstance(ids, torch.Tensor):
            raise TypeError(f"token ids must be a tensor, got {type(ids).__name__}")
        return self.lookup(self, ids)


def _checked(module, ids):
    check_ids(ids, module.weight.shape[0])
    return F.embedding(ids, module.weight, padding_idx=module.padding_idx)


def _factory(lookup, **options):
    def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None):
        return _Lookup(num_embeddings, embedding_dim, padding_idx, lookup, **options)

    return token_embedding


@mutant(catches={"TOK-PAD-01", "TOK-EDGE-01"}, spec=SPEC)
def padding_row_not_zeroed():
    """The padding row keeps its random initial value (padding_idx only stops its gradient)."""
    return dict(token_embedding=_factory(_checked, zero_padding=False))


@mutant(catches="TOK-PAD-02", spec=SPEC)
def padding_row_trained():
    """The padding row starts at zero but the lookup does not pass padding_idx, so it is trained (pitfall 6)."""
    return dict(token_embedding=_factory(lambda m, ids: (check_ids(ids, m.weight.shape[0]), m.weight[ids])[1]))


@mutant(catches={"TOK-ERR-01", "TOK-REFUSE-01"}, spec=SPEC)
def clamps_large_ids():
    """Ids past the vocabulary are clamped to the last row instead of raising."""
    def lookup(m, ids):
        check_ids(ids, m.weight.shape[0] + 10**9)  # the dtype and sign checks stay
        if ids.numel() and ids.min() < 0:
            raise IndexError(f"negative id {ids.min().item()}")
        return F.embedding(ids.clamp(max=m.weight.shape[0] - 1), m.weight, padding_idx=m.padding_idx)
    return dict(token_embedding=_factory(lookup))


@mutant(catches={"TOK-ERR-02", "TOK-REFUSE-01"}, spec=SPEC)
def negative_ids_index_from_end():
    """Negative ids index from the end, Python style, instead of raising."""
    def lookup(m, ids):
        check_ids(ids.abs(), m.weight.shape[0])  # the dtype and upper-bound checks stay
        return F.embedding(ids % m.weight.shape[0], m.weight, padding_idx=m.padding_idx)
    return dict(token_embedding=_factory(lookup))


@mutant(catches={"TOK-ERR-03", "TOK-REFUSE-01"}, spec=SPEC)
def truncates_float_ids():
    """Floating ids are silently truncated to integers with .long()."""
    return dict(token_embedding=_factory(lambda m, ids: _checked(m, ids.long())))


@mutant(catches={"TOK-ERR-01", "TOK-ERR-02", "TOK-ERR-03"}, spec=SPEC)
def unhelpful_index_error():
    """Plain nn.Embedding on CPU: out-of-range ids raise 'index out of range in self', naming no id, and float ids a RuntimeError."""
    return dict(token_embedding=lambda n, d, *, padding_idx=None: nn.Embedding(n, d, padding_idx=padding_idx))


@mutant(catches={"TOK-LOOKUP-01", "TOK-GRAD-01", "TOK-EDGE-01"}, spec=SPEC,
        conventions={"token_embedding.scale": "sqrt_dim"})
def declared_scale_not_applied():
    """Declares the sqrt(d) scale (pitfall 1's fix) but forgets to multiply."""
    return dict(token_embedding=_factory(_checked))


@mutant(catches={"TOK-LOOKUP-01", "TOK-GRAD-01", "TOK-EDGE-01"}, spec=SPEC,
        conventions={"token_embedding.scale": "sqrt_dim"})
def scale_by_dim_not_sqrt():
    """Scales by d instead of sqrt(d)."""
    return dict(token_embedding=_factory(lambda m, ids: _checked(m, ids) * m.weight.shape[1]))


@mutant(catches="TOK-SHAPE-01", spec=SPEC)
def weight_not_a_parameter():
    """The table is a plain tensor attribute that requires grad, not a registered Parameter: optimisers never see it."""
    class Embedding(nn.Module):
        def __init__(self, n, d, padding_idx=None):
            super().__init__()
            self.weight = torch.randn(n, d)
            if padding_idx is not None:
                self.weight[padding_idx] = 0
            self.weight.requires_grad_()
            self.padding_idx = padding_idx

        def forward(self, ids):
            return _checked(self, ids)
    return dict(token_embedding=lambda n, d, *, padding_idx=None: Embedding(n, d, padding_idx))


@mutant(catches={"TOK-BATCH-01", "TOK-GRAD-01"}, spec=SPEC)
def chunked_lookup_mixes_batch():
    """Long batches (S > 4) are looked up in chunks whose offsets are computed on the flattened batch, so later sequences read earlier ones' rows (and send their gradient to the first sequence's rows)."""
    def lookup(m, ids):
        out = _checked(m, ids)
        if ids.dim() == 2 and ids.shape[0] > 1 and ids.shape[1] > 4:
            out = out.clone()
            out[1:] = out[:1]
        return out
    return dict(token_embedding=_factory(lookup))


@variant(spec=SPEC, conventions={"token_embedding.scale": "sqrt_dim"})
def scaled_by_sqrt_dim():
    """Correct: the Transformer paper's sqrt(d) scaling, declared."""
    class Scaled(TokenEmbedding):
        def forward(self, ids):
            return super().forward(ids) * math.sqrt(self.embedding_dim)
    return dict(token_embedding=lambda n, d, *, padding_idx=None: Scaled(n, d, padding_idx=padding_idx))


@mutant(catches={"TOK-ERR-01", "TOK-ERR-02"}, spec=SPEC)
def single_id_skips_range_check():
    """A fast path for one decoding step: a single id skips the range check and goes straight to F.embedding, whose
    IndexError ("index out of range in self") does not name the id."""
    def lookup(m, ids):
        if ids.numel() > 1:
            check_ids(ids, m.weight.shape[0])
        return F.embedding(ids, m.weight, padding_idx=m.padding_idx)
    return dict(token_embedding=_factory(lookup))


@mutant(catches="TOK-ERR-04", spec=SPEC)
def list_ids_attribute_error():
    """The dtype check reads ids.dtype before anything has made sure ids is a tensor: a list of ids fails with
    AttributeError: 'list' object has no attribute 'dtype'."""
    def lookup(m, ids):
        if ids.dtype.is_floating_point:
            raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
        return _checked(m, ids)
    return dict(token_embedding=_factory(lookup, check_type=False))


def _by_last_axis(m, ids):
    """A lookup written for (batch, seq) ids, flattened over the leading axes by the size of the last one: 0-d ids
    have no last axis (IndexError), and empty ids cannot be reshaped to (-1, 0)."""
    check_ids(ids, m.weight.shape[0])
    rows = ids.reshape(-1, ids.shape[-1])
    return F.embedding(rows, m.weight, padding_idx=m.padding_idx).reshape(*ids.shape, -1)


@mutant(catches="TOK-EDGE-01", spec=SPEC)
def crashes_on_zero_d_ids():
    """The lookup flattens ids to (-1, ids.shape[-1]), as a kernel written for (batch, seq) ids does: a single 0-d id
    (one decoding step) and empty ids crash, every other shape is right."""
    return dict(token_embedding=_factory(_by_last_axis))


@mutant(catches={"TOK-EDGE-01", "TOK-LOOKUP-01", "TOK-GRAD-01"}, spec=SPEC,
        conventions={"token_embedding.scale": "sqrt_dim"})
def edge_crash_and_scale_not_applied():
    """Both bugs at once: crashes on 0-d and empty ids, and forgets the declared sqrt(d) scale. Hypothesis used to
    shrink every failure to the crash at the edge; the value clauses, drawn from the ordinary domain, still name
    the missing scale."""
    return dict(token_embedding=_factory(_by_last_axis))


def no_padding_token_embedding(num_embeddings, embedding_dim, *, padding_idx=None, device=None, dtype=None):
    """A correct token embedding from a library that has no padding row: the wrapper refuses padding_idx=."""
    if padding_idx is not None:
        raise TypeError(f"this embedding has no padding row (padding_idx={padding_idx})")
    return TokenEmbedding(num_embeddings, embedding_dim, device=device, dtype=dtype)


def no_padding_transformer_embedding(vocab_size, dim, max_len, *, padding_idx=None, **options):
    """The transformer embedding of the same library, which has no padding row either."""
    if padding_idx is not None:
        raise TypeError(f"this embedding has no padding row (padding_idx={padding_idx})")
    return reference.transformer_embedding(vocab_size, dim, max_len, **options)


@variant(spec=(SPEC, "spec/test_transformer_embedding.py"), unsupported={"token_embedding.padding_idx"})
def no_padding_idx_declared():
    """Correct, without padding_idx, and declared unsupported: the padding clauses are skipped as not provided,
    everything else passes."""
    return dict(token_embedding=no_padding_token_embedding, transformer_embedding=no_padding_transformer_embedding)
