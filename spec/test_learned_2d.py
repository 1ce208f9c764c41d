"""Learned 2-D positional embeddings for image patches (long tutorial, "2D Positional Encodings
(Vision Transformers)": approach 2, learned 2-D embeddings, and approach 3, factorized ones).

Patches are numbered in row-major order, as sincos_2d numbers them: patch (i, j)
of a height x width grid is token i * width + j. The parameters are set to seeded
random values before each check, so that a zero or symmetric initialisation
cannot hide a transposed grid.
"""

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from . import oracles_extra
from . import strategies as sts
from . import tolerances
from .calls import assert_close, assert_raises_naming, build

F32, F64 = torch.float32, torch.float64


def sides():
    return st.integers(1, 6)


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
    return tolerances.atol(F32, operations=terms + 1, magnitude=x.abs().max().item() + 6.0 * terms)


@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=st.integers(1, 8), seed=sts.seeds())
@example(batch=2, height=2, width=3, dim=4, seed=0)
@example(batch=1, height=1, width=1, dim=1, seed=0)
def test_full_table(learned_2d, batch, height, width, dim, seed):
    """L2D-FULL-01 (must): the full table has one learned row per patch, in row-major order: m(x)[:, i * width + j] = x[:, i * width + j] + weight[i * width + j]."""
    module = _full(learned_2d, height, width, dim, seed)
    x = sts.randn((batch, height * width, dim), seed + 1)
    assert_close(module(x), x.to(F64) + module.weight.detach().to(F64), atol=_atol(x),
                 what=f"m(x) for a {height} x {width} grid")


@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=st.integers(1, 8), seed=sts.seeds())
@example(batch=2, height=2, width=3, dim=4, seed=0)
@example(batch=1, height=3, width=3, dim=2, seed=0)
def test_factorized_table(learned_2d, batch, height, width, dim, seed):
    """L2D-FACT-01 (must): the factorized table adds the row's and the column's learned vectors, in row-major order: m(x)[:, i * width + j] = x[:, i * width + j] + row_weight[i] + col_weight[j]."""
    module = _factorized(learned_2d, height, width, dim, seed)
    x = sts.randn((batch, height * width, dim), seed + 1)
    expected = x.to(F64) + oracles_extra.factorized_table(module.row_weight, module.col_weight)
    assert_close(module(x), expected, atol=_atol(x, terms=2), what=f"m(x) for a factorized {height} x {width} grid")


@given(height=st.integers(2, 6), width=st.integers(2, 6), dim=st.integers(1, 8), seed=sts.seeds())
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



@given(height=sides(), width=sides(), dim=st.integers(1, 4), factorized=st.booleans(), data=st.data())
@example(height=2, width=3, dim=2, factorized=False, data=1)  # one patch: broadcasting would accept it
@example(height=2, width=3, dim=2, factorized=True, data=5)  # one patch short: slicing would accept it
@example(height=2, width=3, dim=2, factorized=False, data=7)  # one patch too many
def test_wrong_patch_count_raises(learned_2d, height, width, dim, factorized, data):
    """L2D-ERR-01 (should): an input whose number of patches is not height * width raises a documented error naming that number, never a broadcast or a slice of the table."""
    expected = height * width
    if isinstance(data, int):
        count = data
    else:
        count = data.draw(st.integers(1, expected + 8).filter(lambda n: n != expected), label="patches")
    if count == expected:
        return
    module = build(learned_2d, height, width, dim, factorized=factorized)
    x = torch.zeros(2, count, dim)
    kind = "factorized" if factorized else "full"
    assert_raises_naming(lambda: module(x), count, what=f"{count} patches for a {kind} {height} x {width} grid")


@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=st.integers(1, 6), seed=sts.seeds())
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


@given(batch=sts.batch_sizes(3), height=sides(), width=sides(), dim=st.integers(1, 6), seed=sts.seeds())
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
