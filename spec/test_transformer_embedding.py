"""Token plus position, then one dropout (long tutorial, "Combining Token and Positional Information").

The ordinary domain is a vocabulary of two rows or more, a batch of one or more sequences of two positions or more
and an even width from 4 (the endpoint frequency schedule needs dim >= 4); one row, a single position,
S == max_len == 1, an empty batch and the narrowest width are EMB-EDGE-01's. The sinusoidal kind is drawn only
where the implementation provides it (transformer_embedding.sinusoidal).
"""

import math

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles
from . import strategies as sts
from . import tolerances
from .calls import assert_equal, assert_raises_naming, assert_refused, build
from .capabilities import needs, reject_unsupported
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
SINUSOIDAL = "transformer_embedding.sinusoidal"
CONVENTIONS_OF = {"learned": ("token_embedding.scale", "learned_positional.scale"),
                  "sinusoidal": ("token_embedding.scale", "sinusoidal.layout", "sinusoidal.frequencies")}

positional_kinds = st.sampled_from(["learned", "sinusoidal"])


def _provided(supports, positional):
    reject_unsupported(supports, positional, ("learned", "sinusoidal"),
                       lambda kind: SINUSOIDAL if kind == "sinusoidal" else None)


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
    magnitude = expected.abs().max().item() if expected.numel() else 0.0
    return tolerances.angle_atol(F32, seq) + tolerances.atol(F32, operations=2, magnitude=magnitude + 1)


def _assert_sum(model, ids, positional, conventions, what):
    """m(ids) (eval mode) is token(ids) + position, of shape (B, S, d); on failure, names the convention matched."""
    out = model(ids)
    dim = model.token_embedding.weight.shape[1]
    assert tuple(out.shape) == (*ids.shape, dim), f"{what}: output shape {tuple(out.shape)}"
    expected = _expected(model, ids, positional, conventions)
    assert_close_by_convention(out, lambda declared: _expected(model, ids, positional, declared), conventions,
                               CONVENTIONS_OF[positional], atol=_atol(expected, ids.shape[1]), what=what)


@given(vocab=st.integers(2, 12), dim=sts.even_dims(4, 16), batch=sts.batch_sizes(), seq=sts.seq_lens(2),
       extra=st.integers(0, 4), positional=positional_kinds, seed=sts.seeds())
def test_token_plus_position(transformer_embedding, conventions, supports, vocab, dim, batch, seq, extra, positional,
                             seed):
    """EMB-SUM-01 (must): in eval mode the output is token(ids) + position, of shape (B, S, d): the token rows (scaled per convention) plus the learned rows 0..S-1 or the sinusoidal table."""
    _provided(supports, positional)
    model = _model(transformer_embedding, vocab, dim, seq + extra, positional=positional).eval()
    _assert_sum(model, sts.randint(0, vocab, (batch, seq), seed), positional, conventions,
                what=f"m(ids) with {positional} positions")


# Dropout. With a fixed torch seed per example the check is deterministic; the bound
# on the fraction of zeros is Hoeffding's at probability 1e-9, so a correct
# implementation fails it for fewer than one seed in a billion.
DROPOUT_FAILURE_PROBABILITY = 1e-9


@given(positional=positional_kinds, p=st.sampled_from([0.1, 0.25, 0.5, 0.75]), seed=sts.seeds())
@example(positional="learned", p=0.5, seed=0)
def test_dropout_once_after_sum(transformer_embedding, conventions, supports, positional, p, seed):
    """EMB-DROP-01 (must): dropout is applied once, after the sum: in train mode every output element is either exactly 0 or the eval-mode value divided by (1 - p)."""
    _provided(supports, positional)
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
def test_dropout_rate(transformer_embedding, supports, positional, p, seed):
    """EMB-DROP-02 (must): in train mode the fraction of zeroed elements is p, within a Hoeffding bound that a correct dropout exceeds with probability below 1e-9."""
    _provided(supports, positional)
    model = _model(transformer_embedding, 16, 16, 64, positional=positional, dropout=p).train()
    ids = sts.randint(0, 16, (8, 64), seed)
    torch.manual_seed(seed)
    out = model(ids)
    n = out.numel()
    zeros = (out == 0).double().mean().item()
    bound = math.sqrt(math.log(2 / DROPOUT_FAILURE_PROBABILITY) / (2 * n))
    assert abs(zeros - p) <= bound, f"{zeros:.3f} of {n} elements are zero with dropout p = {p} (allowed {p} +- {bound:.3f})"


@given(positional=positional_kinds, p=st.sampled_from([0.0, 0.1, 0.5]), seed=sts.seeds())
def test_eval_deterministic(transformer_embedding, supports, positional, p, seed):
    """EMB-EVAL-01 (must): in eval mode the module is deterministic and drops nothing: two calls give bit-identical outputs equal to token + position."""
    _provided(supports, positional)
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
def test_default_dropout_is_zero(transformer_embedding, supports, positional, seed):
    """EMB-DROP-03 (must): built without a dropout argument the module drops nothing (the default rate is 0): in train mode its output equals its eval-mode output."""
    _provided(supports, positional)
    model = _model(transformer_embedding, 16, 8, 16, positional=positional)
    ids = sts.randint(0, 16, (2, 16), seed)
    reference = model.eval()(ids).detach()
    assert_equal(model.train()(ids).detach(), reference.to(F64), what="train-mode output with the default dropout")


unknown_kinds = st.sampled_from(["rotary", "alibi", "absolute", "learnt"])


@given(positional=unknown_kinds)
def test_unknown_positional_kind_rejected(transformer_embedding, positional):
    """EMB-ERR-01 (should): a positional kind other than "learned" or "sinusoidal" is rejected with a documented error naming it (that it is refused at all is EMB-REFUSE-01's)."""
    assert_raises_naming(lambda: build(transformer_embedding, 16, 8, 16, positional=positional), positional,
                         what=f"positional={positional!r}")


@given(positional=unknown_kinds)
def test_unknown_positional_kind_refused(transformer_embedding, positional):
    """EMB-REFUSE-01 (must): a positional kind other than "learned" or "sinusoidal" is refused by some exception, at construction or at the first call, never silently replaced by a default. Must: a typo that builds learned positions trains a different model without a word."""
    ids = torch.zeros(2, 4, dtype=torch.long)
    assert_refused(lambda: build(transformer_embedding, 16, 8, 16, positional=positional)(ids),
                   what=f"positional={positional!r}")


@needs("token_embedding.padding_idx")
@given(vocab=st.integers(2, 12), positional=positional_kinds, seed=sts.seeds(), data=st.data())
def test_padding_gradient_through_module(transformer_embedding, supports, vocab, positional, seed, data):
    """EMB-PAD-01 (must): through the whole module, the padding row of the token table receives exactly zero gradient."""
    _provided(supports, positional)
    padding_idx = data.draw(sts.padding_indices(vocab), label="padding_idx")
    model = _model(transformer_embedding, vocab, 8, 8, positional=positional, padding_idx=padding_idx)
    ids = sts.randint(0, vocab, (2, 8), seed)
    ids[0, 0] = padding_idx
    (model(ids) * sts.randn((2, 8, 8), seed)).sum().backward()
    grad = model.token_embedding.weight.grad[padding_idx]
    assert bool((grad == 0).all()), f"padding row {padding_idx} received gradient {grad.tolist()}"


def _edge_sizes():
    """(vocab, batch, seq, extra, narrowest) with one degenerate size: a vocabulary of one row, a single position,
    S == max_len == 1 (extra = max_len - S), an empty batch, or the narrowest width the positional kind allows."""
    vocab, batch, seq, extra = st.integers(2, 8), st.integers(1, 3), st.integers(2, 6), st.integers(0, 3)
    return st.one_of(
        st.tuples(st.just(1), batch, seq, extra, st.just(False)),
        st.tuples(vocab, batch, st.just(1), st.integers(1, 3), st.just(False)),
        st.tuples(vocab, batch, st.just(1), st.just(0), st.just(False)),
        st.tuples(vocab, st.just(0), seq, extra, st.just(False)),
        st.tuples(vocab, batch, seq, extra, st.just(True)),
    )


def _narrowest(positional, conventions):
    """A learned table takes a width of 1; the sinusoidal table needs an even one, from 4 for the endpoint schedule."""
    if positional == "learned":
        return 1
    return 4 if conventions["sinusoidal.frequencies"] == "endpoint" else 2


@given(sizes=_edge_sizes(), positional=positional_kinds, seed=sts.seeds())
@example(sizes=(1, 2, 3, 1, False), positional="learned", seed=0)
@example(sizes=(5, 2, 1, 3, False), positional="sinusoidal", seed=0)
@example(sizes=(5, 2, 1, 0, False), positional="learned", seed=0)
@example(sizes=(5, 0, 3, 1, False), positional="learned", seed=0)
@example(sizes=(5, 0, 3, 1, False), positional="sinusoidal", seed=0)
@example(sizes=(5, 2, 3, 1, True), positional="learned", seed=0)
@example(sizes=(5, 2, 3, 1, True), positional="sinusoidal", seed=0)
def test_degenerate_sizes(transformer_embedding, conventions, supports, sizes, positional, seed):
    """EMB-EDGE-01 (must): at the degenerate sizes - a vocabulary of one row, a single position, S == max_len == 1, an empty batch, the narrowest width the positional kind allows - the eval-mode output is token(ids) + position, of shape (B, S, d)."""
    _provided(supports, positional)
    vocab, batch, seq, extra, narrowest = sizes
    dim = _narrowest(positional, conventions) if narrowest else 8
    model = _model(transformer_embedding, vocab, dim, seq + extra, positional=positional).eval()
    _assert_sum(model, sts.randint(0, vocab, (batch, seq), seed), positional, conventions,
                what=f"m(ids) with {positional} positions, {vocab} row(s), B = {batch}, S = {seq}, "
                     f"max_len = {seq + extra}, d = {dim}")
