"""Learned 2-D mutants: grid order, swapped axis tables, patch-count checks, gradients."""

import torch
from torch import nn

from .catalogue import mutant, variant

SPEC = "spec/test_learned_2d.py"


class Learned2D(nn.Module):
    """A learned 2-D table whose forward takes its bugs as options."""

    def __init__(self, height, width, dim, *, factorized=False, order="row_major", swap_axes=False, check="raise",
                 detach=False, row_grad="sum", cat_halves=False, per_image=False):
        super().__init__()
        self.height, self.width, self.factorized, self.order = height, width, factorized, order
        self.swap_axes, self.check, self.detach, self.cat_halves = swap_axes, check, detach, cat_halves
        self.per_image = per_image
        if factorized:
            # nn.Embedding tables, as in the tutorial's approach 3; scale_grad_by_freq divides a row's
            # gradient by how often its index occurs, a real nn.Embedding option with a correct forward
            self.row_embedding = nn.Embedding(height, dim, scale_grad_by_freq=(row_grad == "by_freq"))
            self.col_embedding = nn.Embedding(width, dim)
        else:
            self.weight = nn.Parameter(torch.randn(height * width, dim) * 0.02)

    @property
    def row_weight(self):
        return self.row_embedding.weight

    @property
    def col_weight(self):
        return self.col_embedding.weight

    def table(self):
        if self.order == "row_major":
            index = torch.arange(self.height * self.width)
            rows, cols = index // self.width, index % self.width
        else:  # column-major: patch index t = j * height + i
            index = torch.arange(self.height * self.width)
            rows, cols = index % self.height, index // self.height
        if not self.factorized:
            weight = self.weight.detach() if self.detach else self.weight
            return weight[rows * self.width + cols]
        if self.swap_axes:  # the row table looked up with column indices and vice versa
            return self.row_embedding(cols) + self.col_embedding(rows)
        return self.row_embedding(rows) + self.col_embedding(cols)

    def forward(self, x):
        count = x.size(1)
        if count != self.height * self.width:
            if self.check == "raise":
                raise ValueError(f"got {count} patches, expected {self.height * self.width}")
            if self.check == "assert":  # timm's _assert(N == self.num_patches, ...)
                assert count == self.height * self.width, f"got {count} patches"
            if self.check == "slice":  # copied from a 1-D learned table: table[:S]
                return x + self.table()[:count]
        if self.per_image:  # image by image, stacked: torch.stack of no images raises
            return torch.stack([image + self.table() for image in x])
        return x + self.table()


def learned(**options):
    def learned_2d(height, width, dim, *, factorized=False):
        return Learned2D(height, width, dim, factorized=factorized, **options)
    return learned_2d


@mutant(catches={"L2D-FULL-01", "L2D-FACT-01", "L2D-FACT-02", "L2D-GRAD-01", "L2D-GRAD-02", "L2D-EDGE-01"}, spec=SPEC)
def grid_column_major():
    """Patches enumerated column by column (the grid transposed), e.g. after flattening a (dim, W, H) feature map."""
    return dict(learned_2d=learned(order="column_major"))


@mutant(catches={"L2D-FACT-01", "L2D-FACT-02", "L2D-GRAD-01", "L2D-EDGE-01"}, spec=SPEC)
def axis_tables_swapped():
    """The row table is looked up with column indices and the column table with row indices
    (`pos_h_emb(cols) + pos_w_emb(rows)`): right only when both are indexed within range by luck."""
    return dict(learned_2d=learned(swap_axes=True))


@mutant(catches={"L2D-ERR-01", "L2D-REFUSE-01"}, spec=SPEC)
def no_patch_count_check():
    """No check of the number of patches: one patch broadcasts silently, others fail inside torch's addition."""
    return dict(learned_2d=learned(check="none"))


@mutant(catches={"L2D-ERR-01", "L2D-REFUSE-01"}, spec=SPEC)
def slices_table_like_1d():
    """The table is sliced to the input's length, as a 1-D learned table is: too few patches pass silently."""
    return dict(learned_2d=learned(check="slice"))


@mutant(catches="L2D-GRAD-01", spec=SPEC)
def row_gradient_scaled_by_frequency():
    """The row table is an nn.Embedding with scale_grad_by_freq=True: row i's gradient is divided by the
    number of cells in its row, while the forward is right."""
    return dict(learned_2d=learned(row_grad="by_freq"))


@mutant(catches="L2D-GRAD-02", spec=SPEC)
def full_table_detached():
    """The full table is added detached (`self.weight.detach()`), so it never trains."""
    return dict(learned_2d=learned(detach=True))


@mutant(catches="L2D-ERR-01", spec=SPEC)
def patch_count_asserted():
    """The patch count is checked with an assert statement (timm's `_assert(N == self.num_patches)`): refused, but
    with an AssertionError (gone under python -O), not a documented error."""
    return dict(learned_2d=learned(check="assert"))


@mutant(catches="L2D-EDGE-01", spec=SPEC)
def stacks_images_one_by_one():
    """The table is added image by image and the results stacked: torch.stack of an empty batch's no images raises;
    every other size is right."""
    return dict(learned_2d=learned(per_image=True))


def _one_form(provided):
    """A correct learned 2-D table from a library that has only the ``provided`` form (True: factorized)."""
    def learned_2d(height, width, dim, *, factorized=False):
        if factorized != provided:
            raise ValueError(f"only the {'factorized' if provided else 'full'} form (factorized={factorized})")
        return Learned2D(height, width, dim, factorized=factorized)
    return learned_2d


@variant(spec=SPEC, unsupported={"learned_2d.full"})
def factorized_only_declared():
    """Correct, with only the factorized form, and the full one declared unsupported."""
    return dict(learned_2d=_one_form(True))


@variant(spec=SPEC, unsupported={"learned_2d.factorized"})
def full_only_declared():
    """Correct, with only the full form, and the factorized one declared unsupported."""
    return dict(learned_2d=_one_form(False))


@variant(spec=SPEC)
def embedding_lookup():
    """Correct: both forms as nn.Embedding lookups of explicit row and column indices."""
    return dict(learned_2d=learned())
