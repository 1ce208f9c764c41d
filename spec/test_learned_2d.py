"""Learned 2-D positional embeddings for image patches (long tutorial, "2D Positional Encodings
(Vision Transformers)": approach 2, learned 2-D embeddings, and approach 3, factorized ones).

Patches are numbered in row-major order, as sincos_2d numbers them: patch (i, j)
of a height x width grid is token i * width + j. The parameters are set to seeded
random values before each check, so that a zero or symmetric initialisation
cannot hide a transposed grid.

The ordinary domain is a grid of at least 2 x 2 patches, a width of two or more and a batch of one image or more;
a 1 x 1 grid, a single row or column of patches, a width of one and an empty batch are L2D-EDGE-01's. Each form
is drawn only where the implementation provides it (learned_2d.full, learned_2d.factorized).
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_extra
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_raises_naming, assert_refused, build
from .capabilities import needs, reject_unsupported

F32, F64 = torch.float32, torch.float64
FULL, FACTORIZED = "learned_2d.full", "learned_2d.factorized"


def sides():
    return st.integers(2, 6)


def widths(max_value=8):
    return st.integers(2, max_value)


def _form_feature(factorized):
    return FACTORIZED if factorized else FULL


def _provided(supports, factorized):
    reject_unsupported(supports, factorized, (False, True), _form_feature)


def _randomise(module, seed):
    with torch.no_grad():
        for k, parameter in enumerate(module.parameters()):
            parameter.copy_(sts.randn(tuple(parameter.shape), seed + 1000 * k))
    return module


def _parameter(module, name, shape):
    value = getattr(module, name, None)
    assert isinstance(value, torch.nn.Parameter), f"m.{name} is a {type(value).__name__}, not a Parameter"
    assert tuple(value.shape) == shape, f"m.{name} has shape {tuple(value.shape)}, expected {shape}"
    return value


def _full(learned_2d, height, width, dim, seed):
    module = build(learned_2d, height, width, dim)
    _parameter(module, "weight", (height * width, dim))
    return _randomise(module, seed)


def _factorized(learned_2d, height, width, dim, seed):
    module = build(learned_2d, height, width, dim, factorized=True)
    _parameter(module, "row_weight", (height, dim))
    _parameter(module, "col_weight", (width, dim))
    return _randomise(module, seed)


def _atol(x, terms=1):
    # one or two rounded additions of standard normal draws (|value| <= about 6 each)
    return tolerances.atol(F32, operations=terms + 1,
                           magnitude=(x.abs().max().item() if x.numel() else 0.0) + 6.0 * terms)


def _assert_full(module, x, height, width):
    assert_close(module(x), x.to(F64) + module.weight.detach().to(F64), atol=_atol(x),
                 what=f"m(x) for x of shape {tuple(x.shape)}, a {height} x {width} grid")


def _assert_factorized(module, x, height, width):
    expected = x.to(F64) + oracles_extra.factorized_table(module.row_weight, module.col_weight)
    assert_close(module(x), expected, atol=_atol(x, terms=2),
                 what=f"m(x) for x of shape {tuple(x.shape)}, a factorized {height} x {width} grid")


@needs(FULL)
@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=widths(), seed=sts.seeds())
@example(batch=2, height=2, width=3, dim=4, seed=0)
def test_full_table(learned_2d, batch, height, width, dim, seed):
    """L2D-FULL-01 (must): the full table has one learned row per patch, in row-major order: m(x)[:, i * width + j] = x[:, i * width + j] + weight[i * width + j]."""
    _assert_full(_full(learned_2d, height, width, dim, seed), sts.randn((batch, height * width, dim), seed + 1),
                 height, width)


@needs(FACTORIZED)
@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=widths(), seed=sts.seeds())
@example(batch=2, height=2, width=3, dim=4, seed=0)
@example(batch=1, height=3, width=3, dim=2, seed=0)
def test_factorized_table(learned_2d, batch, height, width, dim, seed):
    """L2D-FACT-01 (must): the factorized table adds the row's and the column's learned vectors, in row-major order: m(x)[:, i * width + j] = x[:, i * width + j] + row_weight[i] + col_weight[j]."""
    _assert_factorized(_factorized(learned_2d, height, width, dim, seed),
                       sts.randn((batch, height * width, dim), seed + 1), height, width)


@needs(FACTORIZED)
@given(height=sides(), width=sides(), dim=widths(), seed=sts.seeds())
@example(height=2, width=3, dim=4, seed=0)
def test_factorized_structure(learned_2d, height, width, dim, seed):
    """L2D-FACT-02 (must): in the factorized form the difference between the encodings of two columns is the same in every row, and likewise for two rows: E(i, j) - E(i, j') = E(0, j) - E(0, j') (a claim the full table need not satisfy)."""
    module = build(learned_2d, height, width, dim, factorized=True)
    _randomise(module, seed)
    x = torch.zeros(1, height * width, dim)
    grid = module(x)[0].detach().to(F64).reshape(height, width, dim)  # E(i, j)
    column_steps = grid - grid[:, :1]  # E(i, j) - E(i, 0), for every row i
    atol = tolerances.atol(F32, operations=4, magnitude=grid.abs().max().item())
    assert_close(column_steps, column_steps[:1].expand_as(column_steps), atol=atol,
                 what="E(i, j) - E(i, 0) against E(0, j) - E(0, 0)")
    row_steps = grid - grid[:1]  # E(i, j) - E(0, j), for every column j
    assert_close(row_steps, row_steps[:, :1].expand_as(row_steps), atol=atol,
                 what="E(i, j) - E(0, j) against E(i, 0) - E(0, 0)")



def _wrong_count(height, width, data):
    """The number of patches to try: ``data`` itself in an explicit example, else drawn from 1 .. height * width + 8
    without height * width."""
    if isinstance(data, int):
        return data
    return data.draw(st.integers(1, height * width + 8).filter(lambda n: n != height * width), label="patches")


def _wrong_count_call(learned_2d, height, width, dim, factorized, count):
    """(what, call): m(x) for x of ``count`` patches, or None where ``count`` is the right number."""
    if count == height * width:
        return None
    module = build(learned_2d, height, width, dim, factorized=factorized)
    x = torch.zeros(2, count, dim)
    return f"{count} patches for a {'factorized' if factorized else 'full'} {height} x {width} grid", lambda: module(x)


@given(height=sides(), width=sides(), dim=widths(4), factorized=st.booleans(), data=st.data())
@example(height=2, width=3, dim=2, factorized=False, data=1)  # one patch: broadcasting would accept it
@example(height=2, width=3, dim=2, factorized=True, data=5)  # one patch short: slicing would accept it
@example(height=2, width=3, dim=2, factorized=False, data=7)  # one patch too many
def test_wrong_patch_count_raises(learned_2d, supports, height, width, dim, factorized, data):
    """L2D-ERR-01 (should): an input whose number of patches is not height * width raises a documented error naming that number (that it is refused at all, never broadcast or sliced, is L2D-REFUSE-01's)."""
    _provided(supports, factorized)
    count = _wrong_count(height, width, data)
    case = _wrong_count_call(learned_2d, height, width, dim, factorized, count)
    if case is not None:
        assert_raises_naming(case[1], count, what=case[0])


@given(height=sides(), width=sides(), dim=widths(4), factorized=st.booleans(), data=st.data())
@example(height=2, width=3, dim=2, factorized=False, data=1)  # one patch: broadcasting would accept it
@example(height=2, width=3, dim=2, factorized=True, data=5)  # one patch short: slicing would accept it
@example(height=2, width=3, dim=2, factorized=False, data=7)  # one patch too many
def test_wrong_patch_count_refused(learned_2d, supports, height, width, dim, factorized, data):
    """L2D-REFUSE-01 (must): an input whose number of patches is not height * width is refused by some exception, never broadcast over the table or added to a slice of it. Must: a broadcast or sliced table silently gives patches the wrong positions."""
    _provided(supports, factorized)
    case = _wrong_count_call(learned_2d, height, width, dim, factorized, _wrong_count(height, width, data))
    if case is not None:
        assert_refused(case[1], what=case[0])


@needs(FACTORIZED)
@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=widths(6), seed=sts.seeds())
@example(batch=2, height=2, width=3, dim=2, seed=0)
def test_factorized_gradient(learned_2d, batch, height, width, dim, seed):
    """L2D-GRAD-01 (must): in the factorized form row_weight[i] receives the sum of the upstream gradients of its row's cells (over the batch too), and col_weight[j] those of its column's cells."""
    module = _factorized(learned_2d, height, width, dim, seed)
    upstream = sts.randn((batch, height * width, dim), seed + 2)
    (module(sts.randn((batch, height * width, dim), seed + 1)) * upstream).sum().backward()
    expected_rows, expected_cols = oracles_extra.factorized_gradients(upstream, height, width)
    # each is a float32 sum of batch * width (or batch * height) upstream values
    magnitude = upstream.abs().max().item() * batch * max(height, width)
    for name, expected, terms in (("row_weight", expected_rows, width), ("col_weight", expected_cols, height)):
        grad = getattr(module, name).grad
        grad = torch.zeros(expected.shape) if grad is None else grad
        assert_close(grad, expected, atol=tolerances.atol(F32, operations=batch * terms, magnitude=magnitude),
                     what=f"{name}.grad for a {height} x {width} grid")


@needs(FULL)
@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=widths(6), seed=sts.seeds())
@example(batch=2, height=2, width=3, dim=2, seed=0)
def test_full_gradient(learned_2d, batch, height, width, dim, seed):
    """L2D-GRAD-02 (must): in the full table weight[i * width + j] receives the batch sum of the upstream gradient of patch (i, j)."""
    module = _full(learned_2d, height, width, dim, seed)
    upstream = sts.randn((batch, height * width, dim), seed + 2)
    (module(sts.randn((batch, height * width, dim), seed + 1)) * upstream).sum().backward()
    grad = module.weight.grad if module.weight.grad is not None else torch.zeros(height * width, dim)
    assert_close(grad, upstream.to(F64).sum(0),
                 atol=tolerances.atol(F32, operations=batch, magnitude=batch * upstream.abs().max().item()),
                 what=f"weight.grad for a {height} x {width} grid")


def _edge_sizes():
    """(batch, height, width, dim) with one degenerate size: a 1 x 1 grid, a single row or column of patches, a
    width of one, an empty batch."""
    batch, side, dim = st.integers(1, 3), st.integers(2, 5), st.integers(2, 6)
    return st.one_of(
        st.tuples(batch, st.just(1), st.just(1), dim),
        st.tuples(batch, st.just(1), side, dim),
        st.tuples(batch, side, st.just(1), dim),
        st.tuples(batch, side, side, st.just(1)),
        st.tuples(st.just(0), side, side, dim),
    )


@given(sizes=_edge_sizes(), factorized=st.booleans(), seed=sts.seeds())
@example(sizes=(2, 1, 1, 3), factorized=False, seed=0)
@example(sizes=(2, 1, 1, 3), factorized=True, seed=0)
@example(sizes=(2, 1, 4, 3), factorized=True, seed=0)
@example(sizes=(2, 4, 1, 3), factorized=True, seed=0)
@example(sizes=(2, 2, 3, 1), factorized=False, seed=0)
@example(sizes=(2, 2, 3, 1), factorized=True, seed=0)
@example(sizes=(0, 2, 3, 3), factorized=False, seed=0)
@example(sizes=(0, 2, 3, 3), factorized=True, seed=0)
def test_degenerate_sizes(learned_2d, supports, sizes, factorized, seed):
    """L2D-EDGE-01 (must): at the degenerate sizes - a 1 x 1 grid, a single row or column of patches, a width of one, an empty batch - each form adds its table in row-major order, m(x) = x + table, of x's shape."""
    _provided(supports, factorized)
    batch, height, width, dim = sizes
    x = sts.randn((batch, height * width, dim), seed + 1)
    if factorized:
        _assert_factorized(_factorized(learned_2d, height, width, dim, seed), x, height, width)
    else:
        _assert_full(_full(learned_2d, height, width, dim, seed), x, height, width)
