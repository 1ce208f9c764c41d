"""Shared Hypothesis strategies: small, telling shapes first, tensors from seeds.

Tensors are generated from a drawn seed with torch's own generator rather than
element by element: drawing thousands of floats through Hypothesis is the
slowest part of tensor property tests, and a seed shrinks to 0 just as well.
"""

import torch
from hypothesis import strategies as st

F64 = torch.float64


def seeds():
    return st.integers(0, 2**31 - 1)


def even_dims(min_value=2, max_value=32):
    """Even feature sizes, shrinking towards the smallest."""
    return st.integers(min_value // 2, max_value // 2).map(lambda half: 2 * half)


def odd_dims(max_value=33):
    return st.integers(0, (max_value - 1) // 2).map(lambda k: 2 * k + 1)


def batch_sizes(max_value=4):
    return st.integers(1, max_value)


def seq_lens(min_value=1, max_value=16):
    return st.integers(min_value, max_value)


def shapes(max_dims=3, max_side=4):
    """Any shape, including 0-d () and shapes with a zero-length side."""
    return st.lists(st.integers(0, max_side), max_size=max_dims).map(tuple)


def ordinary_shapes(max_dims=3, max_side=4):
    """Shapes of one to ``max_dims`` sides, none of them zero: the ordinary domain (0-d and empty inputs belong to
    the edge clauses)."""
    return st.lists(st.integers(1, max_side), min_size=1, max_size=max_dims).map(tuple)


def empty_shapes(max_dims=3, max_side=4):
    """Shapes of one to ``max_dims`` sides with a zero-length side somewhere: an empty input."""
    return st.tuples(st.lists(st.integers(1, max_side), max_size=max_dims - 1), st.integers(0, max_dims - 1)).map(
        lambda sides_at: tuple(sides_at[0][: sides_at[1]]) + (0,) + tuple(sides_at[0][sides_at[1]:]))


def bases():
    """RoPE and sinusoidal bases in use: the paper's 10000, Llama 3's 500000, and small ones."""
    return st.sampled_from([10000.0, 100.0, 500000.0, 1000.0])


def generator(seed):
    return torch.Generator().manual_seed(seed)


def randn(shape, seed, dtype=torch.float32):
    """A standard normal tensor of ``shape`` from ``seed`` (float64 draw, then cast)."""
    return torch.randn(shape, generator=generator(seed), dtype=F64).to(dtype)


def randint(low, high, shape, seed):
    return torch.randint(low, high, shape, generator=generator(seed))


@st.composite
def ids_with_vocab(draw, max_vocab=12, shape=None, *, min_vocab=1, shape_strategy=None):
    """(vocab, ids): int64 ids of ``shape``, or of a shape drawn from ``shape_strategy`` (default: any shape, 0-d
    and empty included)."""
    vocab = draw(st.integers(min_vocab, max_vocab))
    shape = draw(shapes() if shape_strategy is None else shape_strategy) if shape is None else shape
    ids = randint(0, vocab, shape, draw(seeds()))
    return vocab, ids


@st.composite
def padding_indices(draw, vocab):
    """A padding index: often the first or last row, where off-by-one bugs live."""
    return draw(st.one_of(st.sampled_from([0, vocab - 1]), st.integers(0, vocab - 1)))
