"""Float64 oracles for the relative shift, the hybrid table, learned 2-D tables and weight tying.

Written from the papers' and the tutorial's definitions, vectorised, and
independent of the reference (nothing here imports it).
"""

import torch

from .oracles import sinusoidal_table

F64 = torch.float64


# Transformer-XL's relative shift (Dai et al., 2019, appendix B).
#
# Scores are computed against a table of relative distances in descending order,
# so column c of a (q_len, k_len) score matrix holds distance k_len - 1 - c. The
# queries are the last q_len of the k_len positions (the memory comes first), so
# query i sits at position i + k_len - q_len and its distance to key j is
# i + k_len - q_len - j. The shift moves that score to column j:
#     out[i, j] = scores[i, k_len - 1 - distance] = scores[i, j + q_len - 1 - i],
# which is a column of the input exactly when the distance is >= 0 (j <= i + k_len - q_len).


def relative_distance(q_len, k_len):
    """(q_len, k_len) int64: the distance from query i (the last q_len positions) to key j."""
    i = torch.arange(q_len)[:, None]
    j = torch.arange(k_len)[None, :]
    return i + (k_len - q_len) - j


def relative_shift_index(q_len, k_len):
    """(band, source), both (q_len, k_len): where the shift is specified, and the input column it reads.

    band[i, j] is True for j <= i + k_len - q_len; source is clamped into range outside the band.
    """
    distance = relative_distance(q_len, k_len)
    band = distance >= 0
    source = (k_len - 1 - distance).clamp(0, k_len - 1)
    return band, source


def relative_shift(scores):
    """The shifted scores (..., q_len, k_len) by explicit indexing; entries outside the band are
    copies of in-range entries and carry no meaning. Any dtype: given the bit patterns of a float
    tensor as integers (``x.view(torch.int16)``), it moves them unchanged."""
    q_len, k_len = scores.shape[-2:]
    _, source = relative_shift_index(q_len, k_len)
    return scores.gather(-1, source.expand(scores.shape))


def relative_shift_gradient(upstream):
    """Gradient of the band of the shift: the upstream value at (i, j) lands on column
    j + q_len - 1 - i of row i; upstream outside the band is ignored. float64."""
    q_len, k_len = upstream.shape[-2:]
    band, source = relative_shift_index(q_len, k_len)
    routed = torch.where(band, upstream.to(F64), torch.zeros((), dtype=F64))
    return torch.zeros(upstream.shape, dtype=F64).scatter_add_(-1, source.expand(upstream.shape), routed)


# Hybrid learned / sinusoidal table (the long tutorial's HybridPositionalEmbedding).


def hybrid_table(weight, seq_len, switch, base=10000.0, layout="interleaved", schedule="paper"):
    """The (seq_len, dim) float64 encoding a hybrid adds to a sequence of seq_len positions.

    Up to max_len = len(weight): the learned rows weight[:seq_len]. Past it, `sequence`
    uses the sinusoidal table for every position; `position` keeps the learned rows for
    positions below max_len and uses the sinusoidal table from max_len on.
    """
    weight = weight.detach().to(F64)
    max_len, dim = weight.shape
    if seq_len <= max_len:
        return weight[:seq_len]
    if switch == "sequence":
        return sinusoidal_table(torch.arange(seq_len), dim, base, layout, schedule)
    if switch == "position":
        tail = sinusoidal_table(torch.arange(max_len, seq_len), dim, base, layout, schedule)
        return torch.cat([weight, tail], dim=0)
    raise ValueError(f"unknown hybrid switch {switch!r}")


def hybrid_learned_positions(max_len, seq_len, switch):
    """The positions whose learned rows a sequence of seq_len positions uses (int64)."""
    if seq_len <= max_len:
        return torch.arange(seq_len)
    return torch.arange(0) if switch == "sequence" else torch.arange(max_len)


# Learned 2-D tables (ViT): patches in row-major order, patch (i, j) at index i * width + j.


def grid_coordinates(height, width):
    """(rows, cols), each (height * width,) int64: the grid row and column of each patch index."""
    index = torch.arange(height * width)
    return index // width, index % width


def factorized_table(row_weight, col_weight):
    """(height * width, dim) float64: row_weight[i] + col_weight[j] at index i * width + j."""
    rows, cols = grid_coordinates(row_weight.shape[0], col_weight.shape[0])
    return row_weight.detach().to(F64)[rows] + col_weight.detach().to(F64)[cols]


def factorized_gradients(upstream, height, width):
    """Gradients of the row and column tables of a factorized grid for upstream (B, H*W, dim):
    row i receives the sum over the batch and its row's cells, column j over its column's."""
    grid = upstream.to(F64).reshape(upstream.shape[0], height, width, upstream.shape[-1])
    return grid.sum(dim=(0, 2)), grid.sum(dim=(0, 1))


# Weight tying (Press & Wolf, 2017; Inan et al., 2017).


def untied_gradient(weight, ids, embed_upstream, hidden, logit_upstream, scale=1.0):
    """The gradient a tied weight must receive: the sum of the gradients of an untied float64
    copy's two uses, the lookup weight[ids] * scale and the logits hidden @ weight.T."""
    lookup_copy = weight.detach().to(F64).requires_grad_(True)
    project_copy = weight.detach().to(F64).requires_grad_(True)
    embedded = lookup_copy[ids] * scale  # (..., dim)
    logits = hidden.to(F64) @ project_copy.T  # (..., num_embeddings)
    loss = (embedded * embed_upstream.to(F64)).sum() + (logits * logit_upstream.to(F64)).sum()
    grad_lookup, grad_project = torch.autograd.grad(loss, (lookup_copy, project_copy))
    return grad_lookup + grad_project
