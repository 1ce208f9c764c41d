"""Weight-tying mutants: copies, storage sharing, ties lost on moves and loads, projection and scale slips."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from embedspec.reference.token_embedding import TokenEmbedding

from .catalogue import mutant, variant

SPEC = "spec/test_tied_embedding.py"


class ScaledEmbedding(TokenEmbedding):
    def __init__(self, num_embeddings, embedding_dim, scale, check_empty=True):
        super().__init__(num_embeddings, embedding_dim)
        self.scale, self.check_empty = scale, check_empty

    def forward(self, ids):
        if not self.check_empty and ids.max() >= self.num_embeddings:  # no guard for no ids: max() of nothing raises
            raise IndexError(f"token id {ids.max().item()} is out of range")
        return super().forward(ids) * self.scale


class Projection(nn.Linear):
    """nn.Linear with the bugs of a hand-rolled output layer as options."""

    def __init__(self, dim, vocab, *, orient="transpose", scale=1.0):
        super().__init__(dim, vocab, bias=False)
        self.orient, self.scale = orient, scale

    def forward(self, h):
        weight = self.weight
        if self.orient == "by_shape" and weight.shape[0] == h.shape[-1]:
            weight = weight.T  # "already (dim, vocab)", it guesses: wrong whenever vocab == dim
        return F.linear(h, weight) * self.scale


class Tied(nn.Module):
    """The tutorial's tie (`self.output_projection.weight = self.embedding.weight`), with options."""

    def __init__(self, vocab, dim, *, tie="same", retie=True, embed_scale=1.0, orient="transpose", logit_scale=1.0,
                 load_assign=False, check_empty=True):
        super().__init__()
        self.embed = ScaledEmbedding(vocab, dim, embed_scale, check_empty)
        self.project = Projection(dim, vocab, orient=orient, scale=logit_scale)
        self.tie, self.retie, self.load_assign = tie, retie, load_assign
        self.tie_weights()

    def tie_weights(self):
        if self.tie == "same":
            self.project.weight = self.embed.weight
        elif self.tie == "copy":
            self.project.weight = nn.Parameter(self.embed.weight.detach().clone())
        elif self.tie == "storage":
            self.project.weight = nn.Parameter(self.embed.weight.data)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.retie:
            self.tie_weights()
        return self

    def load_state_dict(self, state_dict, strict=True, assign=False):
        # written for loading into a model made on the meta device, where assign=True avoids a copy
        return super().load_state_dict(state_dict, strict=strict, assign=assign or self.load_assign)


def tied(**options):
    def tied_embedding(num_embeddings, embedding_dim):
        return Tied(num_embeddings, embedding_dim, **options)
    return tied_embedding


def sqrt_dim_tied(**options):
    def tied_embedding(num_embeddings, embedding_dim):
        return Tied(num_embeddings, embedding_dim, embed_scale=math.sqrt(embedding_dim), **options)
    return tied_embedding


ALL_TIE = {"TIED-SAME-01", "TIED-CAST-01", "TIED-DEVICE-01", "TIED-COPY-01", "TIED-LOAD-01"}


@mutant(catches=ALL_TIE | {"TIED-LOGITS-01", "TIED-GRAD-01", "TIED-EDGE-01"}, spec=SPEC)
def weight_copied():
    """The projection gets a copy, `nn.Parameter(embed.weight.clone())`: two parameters that drift apart in training."""
    return dict(tied_embedding=tied(tie="copy"))


@mutant(catches=ALL_TIE | {"TIED-GRAD-01"}, spec=SPEC)
def second_parameter_over_same_storage():
    """`nn.Parameter(embed.weight.data)`: one storage, two Parameter objects, so each use's gradient lands on its own."""
    return dict(tied_embedding=tied(tie="storage"))


@mutant(catches="TIED-DEVICE-01", spec=SPEC)
def tie_lost_on_device_move():
    """The tutorial's tie, set once in __init__: a move to the meta device (or an XLA device) makes one new
    Parameter per module and the tie is gone (Modalities#357, pytorch/torchtitan#2252, transformers#13030)."""
    return dict(tied_embedding=tied(retie=False))


@mutant(catches={"TIED-CAST-01", "TIED-DEVICE-01"}, spec=SPEC,
        torch_patches=((torch.__future__, "_overwrite_module_params_on_conversion", True),))
def tie_lost_on_cast_with_overwrite():
    """The tutorial's tie, set once, in a program that opted into
    torch.__future__.set_overwrite_module_params_on_conversion(True): every .to()/.half() re-creates the parameters."""
    return dict(tied_embedding=tied(retie=False))


@mutant(catches="TIED-LOAD-01", spec=SPEC)
def tie_lost_on_load():
    """load_state_dict with assign=True (the meta-device loading recipe) puts two loaded tensors in place of the
    one Parameter (huggingface/accelerate#1204)."""
    return dict(tied_embedding=tied(load_assign=True))


@mutant(catches={"TIED-LOGITS-01", "TIED-GRAD-01", "TIED-EDGE-01"}, spec=SPEC)
def projection_not_transposed_when_square():
    """The projection guesses the weight's orientation from its shape, so with vocab == dim it uses E, not E^T."""
    return dict(tied_embedding=tied(orient="by_shape"))


@mutant(catches={"TIED-LOGITS-01", "TIED-GRAD-01", "TIED-EDGE-01"}, spec=SPEC,
        conventions={"token_embedding.scale": "sqrt_dim"})
def scale_applied_to_logits():
    """Declares sqrt_dim and scales the lookup, but also multiplies the logits by sqrt(dim)."""
    return dict(tied_embedding=lambda n, d: Tied(n, d, embed_scale=math.sqrt(d), logit_scale=math.sqrt(d)))


@mutant(catches={"TIED-EMBED-01", "TIED-GRAD-01", "TIED-EDGE-01"}, spec=SPEC,
        conventions={"token_embedding.scale": "sqrt_dim"})
def scale_declared_not_applied():
    """Declares sqrt_dim (as the model's other embeddings do) but the tied lookup returns E[ids] unscaled."""
    return dict(tied_embedding=tied())


@mutant(catches="TIED-EDGE-01", spec=SPEC)
def range_check_fails_on_no_ids():
    """The lookup checks `ids.max() >= num_embeddings` without a guard for no ids: empty ids raise "max(): Expected
    reduction dim to be specified for input.numel() == 0"; every other size is right."""
    return dict(tied_embedding=tied(check_empty=False))


@variant(spec=SPEC, conventions={"token_embedding.scale": "sqrt_dim"})
def sqrt_dim_lookup():
    """Correct: the lookup scaled by sqrt(dim) (the Transformer paper's and Gemma's convention), logits unscaled."""
    return dict(tied_embedding=sqrt_dim_tied())


class _SharedProjection(nn.Module):
    """An output layer with no parameter of its own: it reads the embedding's weight when asked."""

    def __init__(self, embedding):
        super().__init__()
        self._embedding = [embedding]  # a plain list: not a submodule, so it is not registered twice

    @property
    def weight(self):
        return self._embedding[0].weight

    def forward(self, h):
        return F.linear(h, self.weight)


class _PropertyTied(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.embed = TokenEmbedding(vocab, dim)
        self.project = _SharedProjection(self.embed)


@variant(spec=SPEC)
def projection_reads_embedding_weight():
    """Correct: the projection owns no parameter and reads the embedding's weight each call, so no move can untie it."""
    return dict(tied_embedding=_PropertyTied)
