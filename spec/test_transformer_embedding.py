"""Token plus position, then one dropout (long tutorial, "Combining Token and Positional Information")."""

import math

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_equal, assert_raises_naming, build

F32, F64 = torch.float32, torch.float64

positional_kinds = st.sampled_from(["learned", "sinusoidal"])


def _dims(conventions):
    """Even dims, from 4 (the endpoint frequency schedule needs dim >= 4)."""
    return sts.even_dims(4, 16)


def _model(transformer_embedding, vocab, dim, max_len, **kwargs):
    model = build(transformer_embedding, vocab, dim, max_len, **kwargs)
    for part in ("token_embedding", "positional"):
        assert hasattr(model, part), f"the module exposes no m.{part}"
    return model


def _expected(model, ids, positional, conventions):
    """token(ids) + position, from the weights and the spec's own sinusoidal oracle."""
    token_weight = model.token_embedding.weight.detach().to(F64)
    dim = token_weight.shape[1]
    seq = ids.shape[1]
    tokens = token_weight[ids] * oracles.token_scale(dim, conventions["token_embedding.scale"])
    if positional == "learned":
        position = model.positional.weight.detach().to(F64)[:seq] * oracles.learned_scale(
            dim, conventions["learned_positional.scale"])
    else:
        position = oracles.sinusoidal_table(torch.arange(seq), dim, 10000.0, conventions["sinusoidal.layout"],
                                            conventions["sinusoidal.frequencies"])
    return tokens + position


def _atol(expected, seq):
    return tolerances.angle_atol(F32, seq) + tolerances.atol(F32, operations=2, magnitude=expected.abs().max().item() + 1)


@given(vocab=st.integers(1, 12), data=st.data(), batch=sts.batch_sizes(), seq=sts.seq_lens(), extra=st.integers(0, 4),
       positional=positional_kinds, seed=sts.seeds())
@example(vocab=1, data=None, batch=1, seq=1, extra=0, positional="sinusoidal", seed=0)
def test_token_plus_position(transformer_embedding, conventions, vocab, data, batch, seq, extra, positional, seed):
    """EMB-SUM-01 (must): in eval mode the output is token(ids) + position, of shape (B, S, d): the token rows (scaled per convention) plus the learned rows 0..S-1 or the sinusoidal table."""
    dim = 4 if data is None else data.draw(_dims(conventions), label="dim")
    model = _model(transformer_embedding, vocab, dim, seq + extra, positional=positional).eval()
    ids = sts.randint(0, vocab, (batch, seq), seed)
    out = model(ids)
    assert tuple(out.shape) == (batch, seq, dim), f"output shape {tuple(out.shape)}"
    expected = _expected(model, ids, positional, conventions)
    assert_close(out, expected, atol=_atol(expected, seq), what=f"m(ids) with {positional} positions")


# Dropout. With a fixed torch seed per example the check is deterministic; the bound
# on the fraction of zeros is Hoeffding's at probability 1e-9, so a correct
# implementation fails it for fewer than one seed in a billion.
DROPOUT_FAILURE_PROBABILITY = 1e-9


@given(positional=positional_kinds, p=st.sampled_from([0.1, 0.25, 0.5, 0.75]), seed=sts.seeds())
@example(positional="learned", p=0.5, seed=0)
def test_dropout_once_after_sum(transformer_embedding, conventions, positional, p, seed):
    """EMB-DROP-01 (must): dropout is applied once, after the sum: in train mode every output element is either exactly 0 or the eval-mode value divided by (1 - p)."""
    model = _model(transformer_embedding, 16, 8, 32, positional=positional, dropout=p)
    ids = sts.randint(0, 16, (4, 32), seed)
    model.eval()
    reference = model(ids).detach().to(F64)
    model.train()
    torch.manual_seed(seed)
    out = model(ids).detach().to(F64)
    kept = out != 0
    scaled = reference / (1 - p)
    error = (out - scaled).abs()
    bad = kept & (error > _atol(scaled, 32) * 4)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise AssertionError(
            f"element {index} is {out[index].item()!r}: neither 0 nor eval value / (1 - p) = {scaled[index].item()!r}"
        )


@given(positional=positional_kinds, p=st.sampled_from([0.1, 0.25, 0.5, 0.75]), seed=sts.seeds())
def test_dropout_rate(transformer_embedding, positional, p, seed):
    """EMB-DROP-02 (must): in train mode the fraction of zeroed elements is p, within a Hoeffding bound that a correct dropout exceeds with probability below 1e-9."""
    model = _model(transformer_embedding, 16, 16, 64, positional=positional, dropout=p).train()
    ids = sts.randint(0, 16, (8, 64), seed)
    torch.manual_seed(seed)
    out = model(ids)
    n = out.numel()
    zeros = (out == 0).double().mean().item()
    bound = math.sqrt(math.log(2 / DROPOUT_FAILURE_PROBABILITY) / (2 * n))
    assert abs(zeros - p) <= bound, f"{zeros:.3f} of {n} elements are zero with dropout p = {p} (allowed {p} +- {bound:.3f})"


@given(positional=positional_kinds, p=st.sampled_from([0.0, 0.1, 0.5]), seed=sts.seeds())
def test_eval_deterministic(transformer_embedding, positional, p, seed):
    """EMB-EVAL-01 (must): in eval mode the module is deterministic and drops nothing: two calls give bit-identical outputs equal to token + position."""
    model = _model(transformer_embedding, 16, 8, 16, positional=positional, dropout=p).eval()
    ids = sts.randint(0, 16, (2, 16), seed)
    torch.manual_seed(seed)
    first = model(ids)
    torch.manual_seed(seed + 1)
    second = model(ids)
    assert torch.equal(first, second), "two eval-mode calls differ"
    assert bool((first != 0).all()) or p == 0.0, "eval mode zeroed elements: dropout is still active"


@given(positional=positional_kinds, seed=sts.seeds())
@example(positional="learned", seed=0)
def test_default_dropout_is_zero(transformer_embedding, positional, seed):
    """EMB-DROP-03 (must): built without a dropout argument the module drops nothing (the default rate is 0): in train mode its output equals its eval-mode output."""
    model = _model(transformer_embedding, 16, 8, 16, positional=positional)
    ids = sts.randint(0, 16, (2, 16), seed)
    reference = model.eval()(ids).detach()
    assert_equal(model.train()(ids).detach(), reference.to(F64), what="train-mode output with the default dropout")


@given(positional=st.sampled_from(["rotary", "alibi", "absolute", "learnt"]))
def test_unknown_positional_kind_rejected(transformer_embedding, positional):
    """EMB-ERR-01 (should): a positional kind other than "learned" or "sinusoidal" is rejected with a documented error naming it, never silently replaced by a default."""
    assert_raises_naming(lambda: build(transformer_embedding, 16, 8, 16, positional=positional), positional,
                         what=f"positional={positional!r}")


@given(vocab=st.integers(2, 12), positional=positional_kinds, seed=sts.seeds(), data=st.data())
def test_padding_gradient_through_module(transformer_embedding, vocab, positional, seed, data):
    """EMB-PAD-01 (must): through the whole module, the padding row of the token table receives exactly zero gradient."""
    padding_idx = data.draw(sts.padding_indices(vocab), label="padding_idx")
    model = _model(transformer_embedding, vocab, 8, 8, positional=positional, padding_idx=padding_idx)
    ids = sts.randint(0, vocab, (2, 8), seed)
    ids[0, 0] = padding_idx
    (model(ids) * sts.randn((2, 8, 8), seed)).sum().backward()
    grad = model.token_embedding.weight.grad[padding_idx]
    assert bool((grad == 0).all()), f"padding row {padding_idx} received gradient {grad.tolist()}"
