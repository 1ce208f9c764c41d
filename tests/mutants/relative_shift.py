"""Relative-shift mutants: the pad-and-reshape trick gone wrong, memory ignored, precision, errors, gradients."""

import torch

from .catalogue import mutant, variant

SPEC = "spec/test_relative_shift.py"


def check_shape(scores, *, rank=True, lengths=True):
    """The checks every mutant keeps unless it is about them: two dimensions at least, and q_len <= k_len.
    Without the rank check, 1-D scores fail where the shape is unpacked."""
    if rank and scores.dim() < 2:
        raise ValueError(f"scores must have shape (..., q_len, k_len), got shape {tuple(scores.shape)}")
    *_, q_len, k_len = scores.shape
    if lengths and q_len > k_len:
        raise ValueError(f"q_len {q_len} > k_len {k_len}")


def pad_and_reshape(scores, *, keep="tail", pad_dtype=None, via=None, check=True, check_rank=True):
    """Transformer-XL's trick with its knobs: which rows survive, the pad's dtype, a detour dtype, the checks."""
    check_shape(scores, rank=check_rank, lengths=check is True)
    if check == "assert":
        assert scores.shape[-2] <= scores.shape[-1], "more queries than keys"
    *lead, q_len, k_len = scores.shape
    source = scores.to(via) if via is not None else scores
    zero_pad = torch.zeros(*lead, q_len, 1, dtype=pad_dtype or source.dtype, device=scores.device)
    padded = torch.cat([zero_pad, source], dim=-1)
    padded = padded.reshape(*lead, k_len + 1, q_len)
    kept = padded[..., 1:, :] if keep == "tail" else padded[..., :-1, :]
    out = kept.reshape(*lead, q_len, k_len)
    return out.to(scores.dtype) if via is not None else out


@mutant(catches={"RSHIFT-BAND-01", "RSHIFT-MEM-01", "RSHIFT-Q1-01", "RSHIFT-EXACT-01", "RSHIFT-DIST-01",
                 "RSHIFT-GRAD-01", "RSHIFT-EDGE-01"}, spec=SPEC)
def keeps_head_rows():
    """The classic trick off by one: `x_padded[:-1]` instead of `x_padded[1:]` (labml's annotated
    Transformer-XL, labmlai/annotated_deep_learning_paper_implementations#185): the wrong band."""
    return dict(relative_shift=lambda scores: pad_and_reshape(scores, keep="head"))


@mutant(catches={"RSHIFT-MEM-01", "RSHIFT-Q1-01", "RSHIFT-EXACT-01", "RSHIFT-DIST-01", "RSHIFT-GRAD-01",
                 "RSHIFT-EDGE-01"}, spec=SPEC)
def ignores_memory():
    """Scores are shifted as if q_len == k_len, the query at position i rather than memory + i
    (the bias bug fixed in lucidrains/x-transformers#103): wrong as soon as there is memory."""
    def relative_shift(scores):
        check_shape(scores)
        q_len, k_len = scores.shape[-2:]
        i = torch.arange(q_len, device=scores.device)[:, None]
        j = torch.arange(k_len, device=scores.device)[None, :]
        source = (j - i + k_len - 1).clamp(0, k_len - 1)  # distance i - j: the memory is forgotten
        return scores.gather(-1, source.expand(scores.shape))
    return dict(relative_shift=relative_shift)


@mutant(catches={"RSHIFT-BAND-01", "RSHIFT-MEM-01", "RSHIFT-Q1-01", "RSHIFT-EXACT-01", "RSHIFT-DIST-01",
                 "RSHIFT-GRAD-01", "RSHIFT-EDGE-01"}, spec=SPEC)
def copies_through_float16():
    """The shift is done in float16 to halve the memory of the padded copy, then cast back: not bit-exact."""
    return dict(relative_shift=lambda scores: pad_and_reshape(scores, via=torch.float16))


@mutant(catches="RSHIFT-EXACT-01", spec=SPEC)
def pad_in_default_dtype():
    """The zero pad is made with the default dtype (float32): half and bfloat16 scores come back promoted to float32."""
    return dict(relative_shift=lambda scores: pad_and_reshape(scores, pad_dtype=torch.get_default_dtype()))


@mutant(catches={"RSHIFT-ERR-01", "RSHIFT-REFUSE-01"}, spec=SPEC)
def no_length_check():
    """No q_len <= k_len check: with more queries than keys the reshapes still succeed and return garbage."""
    return dict(relative_shift=lambda scores: pad_and_reshape(scores, check=False))


@mutant(catches="RSHIFT-ERR-01", spec=SPEC)
def length_asserted():
    """`assert q_len <= k_len`: an AssertionError, not a documented type, naming neither length. Refused, so only
    the error discipline fails."""
    return dict(relative_shift=lambda scores: pad_and_reshape(scores, check="assert"))


@mutant(catches="RSHIFT-EDGE-01", spec=SPEC)
def stacks_a_loop_over_the_batch():
    """Each (q_len, k_len) grid of the flattened batch is shifted in a Python loop and the results stacked: an empty
    batch hands torch.stack an empty list ("stack expects a non-empty TensorList")."""
    def relative_shift(scores):
        check_shape(scores)
        grids = scores.reshape(-1, *scores.shape[-2:])
        return torch.stack([pad_and_reshape(grid) for grid in grids]).reshape(scores.shape)
    return dict(relative_shift=relative_shift)


@mutant(catches="RSHIFT-BAND-01", spec=SPEC)
def zero_copy_assumes_contiguous():
    """A zero-copy shift with `as_strided` (row i starts q_len - 1 - i elements later in memory), which
    hard-codes the strides of a contiguous tensor: a transposed score tensor, as einsum may return,
    reads the wrong entries."""
    def relative_shift(scores):
        check_shape(scores)
        *lead, q_len, k_len = scores.shape
        strides = (*scores.stride()[:-2], k_len - 1, 1)  # assumes the last two strides are (k_len, 1)
        return scores.as_strided(scores.shape, strides, scores.storage_offset() + q_len - 1)
    return dict(relative_shift=relative_shift)


class _ShiftWithHandWrittenBackward(torch.autograd.Function):
    """A memory-saving shift with its own backward, which applies the forward shift to the
    gradient again instead of its transpose."""

    @staticmethod
    def forward(ctx, scores):
        return pad_and_reshape(scores)

    @staticmethod
    def backward(ctx, grad):
        return pad_and_reshape(grad)


@mutant(catches="RSHIFT-GRAD-01", spec=SPEC)
def backward_not_transposed():
    """A hand-written backward that shifts the gradient the same way as the forward, instead of back."""
    return dict(relative_shift=_ShiftWithHandWrittenBackward.apply)


@variant(spec=SPEC)
def gather_and_mask():
    """Correct: an explicit gather of column j + q_len - 1 - i, with the entries above the band set to -inf
    (they are unspecified, so any value is legal there)."""
    def relative_shift(scores):
        check_shape(scores)
        q_len, k_len = scores.shape[-2:]
        i = torch.arange(q_len, device=scores.device)[:, None]
        j = torch.arange(k_len, device=scores.device)[None, :]
        source = j + q_len - 1 - i
        band = source <= k_len - 1
        shifted = scores.gather(-1, source.clamp(max=k_len - 1).expand(scores.shape))
        return shifted.masked_fill(~band, float("-inf"))
    return dict(relative_shift=relative_shift)


@mutant(catches="RSHIFT-ERR-02", spec=SPEC)
def unpacks_shape_unchecked():
    """`*lead, q_len, k_len = scores.shape` with no check of the rank: 1-D scores fail with "not enough values to
    unpack (expected at least 2, got 1)", which names neither the shape nor the function's requirement."""
    return dict(relative_shift=lambda scores: pad_and_reshape(scores, check_rank=False))
