"""Transformer-XL's relative shift (Dai et al., 2019, appendix B): the pad-and-reshape trick.

The position scores are computed against a relative table for distances
k_len-1 ... 0, so scores[..., i, c] belongs to distance k_len - 1 - c. The queries
are the last q_len positions (the memory comes first), and the shift moves each
score to the key it belongs to:

    out[..., i, j] = scores[..., i, j + q_len - 1 - i]    for j <= i + k_len - q_len

Entries above that band come out as garbage; attention masks them.
"""

import torch


def relative_shift(scores):  # scores: (..., q_len, k_len)
    if scores.dim() < 2:
        raise ValueError(f"scores must have shape (..., q_len, k_len), got shape {tuple(scores.shape)}")
    *lead, q_len, k_len = scores.shape
    if q_len > k_len:
        raise ValueError(f"relative_shift needs q_len <= k_len, got q_len {q_len} > k_len {k_len}")
    zero_pad = scores.new_zeros(*lead, q_len, 1)  # (..., q_len, 1)
    padded = torch.cat([zero_pad, scores], dim=-1)  # (..., q_len, k_len + 1)
    padded = padded.reshape(*lead, k_len + 1, q_len)  # the same numbers, read in rows of q_len
    return padded[..., 1:, :].reshape(*lead, q_len, k_len)  # drop the first row: row i moves left by q_len - 1 - i
