"""Transformer-embedding mutants: dropout placement, scaling, padding, the positional kind."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import embedspec.reference as reference

from .catalogue import mutant, variant
from .sinusoidal import Module as SinusoidalModule
from .learned_positional import Learned

SPEC = "spec/test_transformer_embedding.py"


class Combined(nn.Module):
    def __init__(self, vocab, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0, bug=None,
                 token_scale=1.0, position_scale=1.0, layout="interleaved", schedule="paper"):
        super().__init__()
        if positional not in ("learned", "sinusoidal") and bug not in ("any_positional", "dispatch_table"):
            raise ValueError(f"positional must be 'learned' or 'sinusoidal', got {positional!r}")
        if bug == "dispatch_table":  # the kind looked up in a dict of constructors: a KeyError for any other
            {"learned": None, "sinusoidal": None}[positional]
        token_padding = None if bug == "padding_dropped" else padding_idx
        self.token_embedding = reference.token_embedding(vocab, dim, padding_idx=token_padding)
        if positional == "sinusoidal" and bug != "always_learned":
            self.positional = SinusoidalModule(dim, max_len, layout=layout, schedule=schedule)
        else:
            self.positional = Learned(max_len, dim, scale=position_scale)
        self.p, self.bug, self.token_scale = dropout, bug, token_scale

    def forward(self, ids):
        if self.bug == "unguarded_range_check" and ids.max() >= self.token_embedding.weight.shape[0]:
            raise IndexError(f"token id {ids.max().item()} is out of range")  # ids.max() of no ids raises first
        tokens = self.token_embedding(ids) * self.token_scale
        if self.bug == "scaled_positions":  # sqrt(d) applied to token + position instead of the token part alone
            return F.dropout(self.positional(tokens) * math.sqrt(tokens.shape[-1]), self.p, self.training)
        if self.bug == "dropout_separately":  # pitfall 2
            position = self.positional(torch.zeros_like(tokens))
            return F.dropout(tokens, self.p, self.training) + F.dropout(position, self.p, self.training)
        combined = self.positional(tokens)
        if self.bug == "dropout_twice":
            return F.dropout(F.dropout(combined, self.p, self.training), self.p, self.training)
        if self.bug == "no_dropout":
            return combined
        if self.bug == "dropout_always":
            return F.dropout(combined, self.p, True)
        return F.dropout(combined, self.p, self.training)


def combined(**options):
    def transformer_embedding(vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0):
        return Combined(vocab_size, dim, max_len, positional=positional, padding_idx=padding_idx, dropout=dropout,
                        **options)
    return transformer_embedding


@mutant(catches={"EMB-DROP-01", "EMB-DROP-02"}, spec=SPEC)
def dropout_separately():
    """Token and position parts are dropped out separately, then added (pitfall 2)."""
    return dict(transformer_embedding=combined(bug="dropout_separately"))


@mutant(catches={"EMB-DROP-01", "EMB-DROP-02"}, spec=SPEC)
def dropout_twice():
    """Dropout applied twice in a row after the sum (once in the positional module, once in the layer)."""
    return dict(transformer_embedding=combined(bug="dropout_twice"))


@mutant(catches={"EMB-DROP-01", "EMB-DROP-02"}, spec=SPEC)
def dropout_never_applied():
    """The dropout argument is stored but never applied."""
    return dict(transformer_embedding=combined(bug="no_dropout"))


@mutant(catches={"EMB-EVAL-01", "EMB-DROP-01"}, spec=SPEC)
def dropout_in_eval_mode():
    """F.dropout(training=True) hard-coded: eval mode still drops."""
    return dict(transformer_embedding=combined(bug="dropout_always"))


@mutant(catches={"EMB-SUM-01", "EMB-EDGE-01"}, spec=SPEC)
def sinusoidal_request_ignored():
    """positional='sinusoidal' silently builds a learned table."""
    return dict(transformer_embedding=combined(bug="always_learned"))


@mutant(catches={"EMB-SUM-01", "EMB-EDGE-01"}, spec=SPEC)
def scale_applied_to_positions():
    """sqrt(d) is applied to token + position instead of to the token part alone."""
    return dict(transformer_embedding=combined(bug="scaled_positions"))


@mutant(catches="EMB-PAD-01", spec=SPEC)
def padding_idx_not_forwarded():
    """padding_idx is accepted by the layer but not passed to its token embedding."""
    return dict(transformer_embedding=combined(bug="padding_dropped"))


@mutant(catches="EMB-DROP-03", spec=SPEC)
def default_dropout_nonzero():
    """The dropout rate defaults to 0.1, as in many tutorials, where the contract's default is 0."""
    def transformer_embedding(vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.1):
        return Combined(vocab_size, dim, max_len, positional=positional, padding_idx=padding_idx, dropout=dropout)
    return dict(transformer_embedding=transformer_embedding)


@mutant(catches={"EMB-ERR-01", "EMB-REFUSE-01"}, spec=SPEC)
def unknown_positional_becomes_learned():
    """Any positional kind other than "sinusoidal" (a typo, "rotary") silently builds a learned table."""
    return dict(transformer_embedding=combined(bug="any_positional"))


@variant(spec=SPEC, conventions={"token_embedding.scale": "sqrt_dim", "learned_positional.scale": "inv_sqrt_dim",
                                 "sinusoidal.layout": "split", "sinusoidal.frequencies": "endpoint"})
def every_other_convention():
    """Correct: the tutorial's scaled tokens, scaled learned rows, split layout and endpoint frequencies."""
    def transformer_embedding(vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0):
        return Combined(vocab_size, dim, max_len, positional=positional, padding_idx=padding_idx, dropout=dropout,
                        token_scale=math.sqrt(dim), position_scale=1 / math.sqrt(dim), layout="split",
                        schedule="endpoint")
    return dict(transformer_embedding=transformer_embedding)


@mutant(catches="EMB-ERR-01", spec=SPEC)
def unknown_positional_key_error():
    """The kind is looked up in a dict of constructors: an unknown kind is refused, but with a KeyError, not a
    documented error type."""
    return dict(transformer_embedding=combined(bug="dispatch_table"))


@mutant(catches="EMB-EDGE-01", spec=SPEC)
def range_check_fails_on_empty_batch():
    """A range check of the ids as `ids.max() >= vocab_size`, without a guard for no ids: an empty batch raises
    "max(): Expected reduction dim to be specified for input.numel() == 0"; every other size is right."""
    return dict(transformer_embedding=combined(bug="unguarded_range_check"))


@variant(spec=SPEC, unsupported={"transformer_embedding.sinusoidal"})
def learned_positions_only_declared():
    """Correct, with learned positions only (positional="sinusoidal" raises ValueError), and declared unsupported:
    every clause runs on the learned kind."""
    def transformer_embedding(vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0):
        if positional == "sinusoidal":
            raise ValueError("this library has no sinusoidal positions (positional='sinusoidal')")
        return Combined(vocab_size, dim, max_len, positional=positional, padding_idx=padding_idx, dropout=dropout)
    return dict(transformer_embedding=transformer_embedding)
