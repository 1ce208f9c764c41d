"""Weight tying: the output projection reuses the token embedding's weight (Press & Wolf, 2017;
Inan et al., 2017; long tutorial, "Weight Tying with Output Layer").

m.embed(ids) looks rows of E up (scaled per token_embedding.scale) and
m.project(h) = h @ E^T gives logits over the vocabulary; E is one Parameter,
whatever is done to the module. The weight is set to seeded random values in place
before value checks, so the tie itself is never replaced by the spec.

The ordinary domain is a vocabulary of two rows or more, a width of two or more and ids and hidden states with
one or two non-empty leading sides; one row, a width of one, a single token and no tokens are TIED-EDGE-01's.
"""

import copy

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles, oracles_extra
from . import strategies as sts
from . import tolerances
from .calls import assert_close, build
from .diagnose import assert_close_by_convention

F32, F64 = torch.float32, torch.float64
SCALE = ("token_embedding.scale",)


def sizes():
    return st.integers(2, 12)


def _module(tied_embedding, vocab, dim, seed=None):
    module = build(tied_embedding, vocab, dim)
    weight = module.embed.weight
    assert isinstance(weight, torch.nn.Parameter), f"m.embed.weight is a {type(weight).__name__}, not a Parameter"
    assert tuple(weight.shape) == (vocab, dim), (
        f"m.embed.weight has shape {tuple(weight.shape)}, expected {(vocab, dim)}"
    )
    if seed is not None:
        with torch.no_grad():
            weight.copy_(sts.randn((vocab, dim), seed))  # in place: whatever shares this Parameter sees it
    return module


def _assert_tied(module, what):
    embed, project = module.embed.weight, module.project.weight
    assert isinstance(embed, torch.nn.Parameter), f"{what}: m.embed.weight is a {type(embed).__name__}"
    if project is not embed:
        shares = project.untyped_storage().data_ptr() == embed.untyped_storage().data_ptr() if (
            embed.device.type != "meta") else False
        raise AssertionError(
            f"{what}: m.project.weight is not m.embed.weight but another {type(project).__name__}"
            f"{' sharing its storage' if shares else ''} "
            f"(shape {tuple(project.shape)}, {project.dtype}, {project.device})"
        )
    listed = sum(p is embed for p in module.parameters())
    assert listed == 1, f"{what}: the tied weight is listed {listed} times in m.parameters()"


@given(vocab=sizes(), dim=sizes())
@example(vocab=5, dim=5)
def test_one_parameter(tied_embedding, vocab, dim):
    """TIED-SAME-01 (must): the projection's weight is the embedding's weight, one Parameter object (m.project.weight is m.embed.weight) listed once in m.parameters(): not a copy, and not a second Parameter over the same storage."""
    _assert_tied(_module(tied_embedding, vocab, dim), what="at construction")


@given(vocab=sizes(), dim=sizes(), cast=st.sampled_from(["to(float64)", "half()", "to(bfloat16)"]))
@example(vocab=4, dim=3, cast="half()")
def test_tie_survives_casts(tied_embedding, vocab, dim, cast):
    """TIED-CAST-01 (must): the tie survives casting the module with .to(dtype) and .half(): afterwards one Parameter of the new dtype is still used by both sides."""
    module = _module(tied_embedding, vocab, dim)
    dtype = {"to(float64)": F64, "half()": torch.float16, "to(bfloat16)": torch.bfloat16}[cast]
    moved = module.half() if cast == "half()" else module.to(dtype)
    _assert_tied(moved, what=f"after m.{cast}")
    assert moved.embed.weight.dtype == dtype, f"after m.{cast}: the tied weight is {moved.embed.weight.dtype}"


def _other_devices():
    """The meta device always (a move to it has to make new Parameter objects), and an accelerator if present."""
    devices = ["meta"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


@given(vocab=sizes(), dim=sizes(), device=st.sampled_from(_other_devices()))
@example(vocab=4, dim=3, device="meta")
def test_tie_survives_device_moves(tied_embedding, vocab, dim, device):
    """TIED-DEVICE-01 (must): the tie survives moving the module to another device (.to(device); the meta device on CPU-only machines, as deferred initialisation does), where torch makes a new Parameter per module."""
    module = _module(tied_embedding, vocab, dim)
    moved = module.to(device)
    _assert_tied(moved, what=f"after m.to({device!r})")
    assert moved.embed.weight.device.type == device, (
        f"after m.to({device!r}): the weight is on {moved.embed.weight.device}"
    )


@given(vocab=sizes(), dim=sizes(), seed=sts.seeds())
def test_tie_survives_deepcopy(tied_embedding, vocab, dim, seed):
    """TIED-COPY-01 (must): copy.deepcopy of the module is tied in itself, to its own new Parameter with the same values."""
    module = _module(tied_embedding, vocab, dim, seed)
    clone = copy.deepcopy(module)
    _assert_tied(clone, what="in copy.deepcopy(m)")
    assert clone.embed.weight is not module.embed.weight, "copy.deepcopy(m) shares its weight with m"
    assert_close(clone.embed.weight, module.embed.weight.detach().to(F64), atol=0.0, what="the copy's weight")


@given(vocab=sizes(), dim=sizes(), seed=sts.seeds())
@example(vocab=5, dim=5, seed=0)
def test_tie_survives_state_dict_round_trip(tied_embedding, vocab, dim, seed):
    """TIED-LOAD-01 (must): a fresh module that loads m.state_dict() is still tied, its one Parameter holding m's values."""
    module = _module(tied_embedding, vocab, dim, seed)
    fresh = _module(tied_embedding, vocab, dim)
    fresh.load_state_dict(module.state_dict())
    _assert_tied(fresh, what="after fresh.load_state_dict(m.state_dict())")
    assert_close(fresh.embed.weight, module.embed.weight.detach().to(F64), atol=0.0, what="the loaded weight")
    assert_close(fresh.project.weight, module.embed.weight.detach().to(F64), atol=0.0,
                 what="the loaded projection weight")


def _logit_atol(hidden, weight):
    # each logit is a float32 dot product of dim terms: error <= dim * eps * sum_k |h_k| |E_vk|
    if hidden.numel() == 0:
        return 0.0
    magnitude = (hidden.abs().to(F64).reshape(-1, hidden.shape[-1]) @ weight.abs().to(F64).T).max().item()
    return tolerances.atol(F32, operations=hidden.shape[-1], magnitude=magnitude)


def _assert_logits(module, hidden):
    weight = module.embed.weight.detach()
    assert_close(module.project(hidden), hidden.to(F64) @ weight.to(F64).T, atol=_logit_atol(hidden, weight),
                 what=f"m.project(h) for h of shape {tuple(hidden.shape)}")


def _assert_embeds(module, ids, conventions):
    weight = module.embed.weight.detach().to(F64)
    dim = weight.shape[1]
    largest = oracles.token_scale(dim, "sqrt_dim") * weight.abs().max().item()  # the larger scale bounds rounding
    assert_close_by_convention(
        module.embed(ids), lambda declared: weight[ids] * oracles.token_scale(dim, declared["token_embedding.scale"]),
        conventions, SCALE, atol=tolerances.atol(F32, magnitude=largest),
        what=f"m.embed(ids) against E[ids] * scale for ids of shape {tuple(ids.shape)}")


@given(vocab=sizes(), dim=sizes(), lead=sts.ordinary_shapes(max_dims=2, max_side=4), seed=sts.seeds())
@example(vocab=5, dim=5, lead=(2, 3), seed=0)  # square: an untransposed weight has the right shape
def test_logits(tied_embedding, vocab, dim, lead, seed):
    """TIED-LOGITS-01 (must): m.project(h) returns the logits h @ E^T of shape (..., num_embeddings) for hidden states h of shape (..., dim), with E the embedding's weight."""
    _assert_logits(_module(tied_embedding, vocab, dim, seed), sts.randn((*lead, dim), seed + 1))


@given(vocab_ids=sts.ids_with_vocab(min_vocab=2, shape_strategy=sts.ordinary_shapes()), dim=sizes(), seed=sts.seeds())
@example(vocab_ids=(4, torch.tensor([[3, 0, 3]])), dim=4, seed=0)
def test_embedding_side(tied_embedding, conventions, vocab_ids, dim, seed):
    """TIED-EMBED-01 (must): m.embed(ids) is a token embedding: it returns E[ids], times sqrt(dim) under token_embedding.scale = sqrt_dim."""
    vocab, ids = vocab_ids
    _assert_embeds(_module(tied_embedding, vocab, dim, seed), ids, conventions)


@given(vocab=sizes(), dim=sizes(), batch=sts.batch_sizes(3), seq=sts.seq_lens(max_value=6), seed=sts.seeds())
@example(vocab=5, dim=5, batch=2, seq=3, seed=0)  # square
@example(vocab=3, dim=4, batch=2, seq=6, seed=0)  # repeated ids
def test_gradients_accumulate(tied_embedding, conventions, vocab, dim, batch, seq, seed):
    """TIED-GRAD-01 (must): gradients from both uses accumulate into the one parameter: its gradient equals the sum of the gradients of an untied float64 copy's lookup and projection."""
    module = _module(tied_embedding, vocab, dim, seed)
    ids = sts.randint(0, vocab, (batch, seq), seed + 1)
    hidden = sts.randn((batch, seq, dim), seed + 2)
    embed_upstream = sts.randn((batch, seq, dim), seed + 3)
    logit_upstream = sts.randn((batch, seq, vocab), seed + 4)
    loss = (module.embed(ids) * embed_upstream).sum() + (module.project(hidden) * logit_upstream).sum()
    loss.backward()
    weight = module.embed.weight
    grad = weight.grad if weight.grad is not None else torch.zeros(vocab, dim)

    def expected(declared):
        scale = oracles.token_scale(dim, declared["token_embedding.scale"])
        return oracles_extra.untied_gradient(weight, ids, embed_upstream, hidden, logit_upstream, scale)

    # float32 sums over the batch * seq positions of products of standard normal draws (the larger scale bounds them)
    terms = batch * seq
    magnitude = terms * (oracles.token_scale(dim, "sqrt_dim") * embed_upstream.abs().max().item()
                         + hidden.abs().max().item() * logit_upstream.abs().max().item())
    assert_close_by_convention(grad, expected, conventions, SCALE,
                               atol=tolerances.atol(F32, operations=terms, magnitude=magnitude),
                               what="the tied weight's gradient against the untied float64 copy's two gradients")


def _edge_sizes():
    """(vocab, dim, ids shape, hidden leading shape) with one degenerate size: one row, a width of one, a single
    token (0-d ids, one hidden vector of shape (dim,)), or no tokens (empty ids and hidden states)."""
    sides, ordinary = st.integers(2, 6), sts.ordinary_shapes(max_dims=2)
    return st.one_of(
        st.tuples(st.just(1), sides, ordinary, ordinary),
        st.tuples(sides, st.just(1), ordinary, ordinary),
        st.tuples(sides, sides, st.just(()), st.just(())),
        st.tuples(sides, sides, sts.empty_shapes(max_dims=2), sts.empty_shapes(max_dims=2)),
    )


@given(sizes=_edge_sizes(), seed=sts.seeds())
@example(sizes=(1, 4, (2, 3), (2, 3)), seed=0)
@example(sizes=(5, 1, (2, 3), (2, 3)), seed=0)
@example(sizes=(3, 3, (), ()), seed=0)  # square: an untransposed weight has the right shape
@example(sizes=(4, 3, (0,), (2, 0)), seed=0)
def test_degenerate_sizes(tied_embedding, conventions, sizes, seed):
    """TIED-EDGE-01 (must): at the degenerate sizes - one row, a width of one, a single token (0-d ids, one hidden vector of shape (dim,)), no tokens (empty ids and hidden states) - m.embed(ids) is E[ids] * scale of shape (..., dim) and m.project(h) is h @ E^T of shape (..., num_embeddings)."""
    vocab, dim, ids_shape, lead = sizes
    module = _module(tied_embedding, vocab, dim, seed)
    _assert_embeds(module, sts.randint(0, vocab, ids_shape, seed + 1), conventions)
    _assert_logits(module, sts.randn((*lead, dim), seed + 2))
