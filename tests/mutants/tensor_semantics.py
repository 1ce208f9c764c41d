"""Broken torch semantics, applied as patches while the tensor-semantics properties run."""

import torch
import torch.nn.functional as F

from .catalogue import mutant

SPEC = "spec/test_tensor_semantics.py"
_expand, _view, _reshape, _matmul, _embedding = (torch.Tensor.expand, torch.Tensor.view, torch.Tensor.reshape,
                                                 torch.Tensor.__matmul__, F.embedding)


def _expand_rolled(dim):
    def expand(self, *sizes):
        return _expand(self, *sizes).roll(1, dim)
    return expand


def _reshape_transposed(self, *shape):
    if not self.is_contiguous() and self.dim() == 2:
        return self.t().contiguous().view(*shape)  # reads the memory in the source's order
    return _reshape(self, *shape)


def _matmul_first_token(self, other):
    out = _matmul(self, other)
    return out[..., :1, :].expand_as(out) if self.dim() >= 3 else out


def _linear_in_by_out(self, x):
    return _matmul(x, self.weight.reshape(self.in_features, self.out_features)) + self.bias


@mutant(catches="TEN-BCAST-01", spec=SPEC, torch_patches=[(torch.Tensor, "expand", _expand_rolled(-2))])
def expand_misplaces_rows():
    """An expand that misplaces the position rows: batch broadcasting no longer equals expand."""
    return {}


@mutant(catches="TEN-BCAST-02", spec=SPEC, torch_patches=[(torch.Tensor, "expand", _expand_rolled(0))])
def expand_misplaces_steps():
    """An expand that shifts sequence steps in the seq-first layout."""
    return {}


@mutant(catches="TEN-LOOKUP-01", spec=SPEC,
        torch_patches=[(F, "embedding", lambda ids, weight, *a, **k: _embedding((ids + 1) % weight.shape[0], weight))])
def embedding_off_by_one():
    """An embedding lookup that returns the row after the id."""
    return {}


@mutant(catches="TEN-VIEW-01", spec=SPEC,
        torch_patches=[(torch.Tensor, "view", lambda self, *shape: _view(self, *shape).clone())])
def view_copies():
    """A view that copies: writes through it are lost."""
    return {}


@mutant(catches="TEN-VIEW-02", spec=SPEC, torch_patches=[(torch.Tensor, "reshape", _reshape_transposed)])
def reshape_of_transpose_reads_memory_order():
    """A reshape of a transpose that reinterprets the memory instead of copying in row-major order."""
    return {}


@mutant(catches="TEN-MATMUL-01", spec=SPEC, torch_patches=[(torch.Tensor, "__matmul__", _matmul_first_token)])
def matmul_projects_first_token_only():
    """A batched x @ W that projects the first token and repeats it."""
    return {}


@mutant(catches="TEN-LINEAR-01", spec=SPEC, torch_patches=[(torch.nn.Linear, "forward", _linear_in_by_out)])
def linear_weight_read_as_in_by_out():
    """A Linear whose forward reads its (out, in) weight as if it were (in, out)."""
    return {}
