"""ALiBi, attention with linear biases (Press et al., 2021).

No positional encoding is added to the tokens; each head h adds -m_h * |i - j| to
the attention score of query i and key j, with head-specific slopes m_h.
"""

import math

import torch


def _slopes(n):
    """The paper's reference code: a geometric sequence for a power of two n."""
    def power_of_two(n):  # 2^(-8/n), 2^(-16/n), ..., 2^(-8)
        start = 2 ** (-8 / n)
        return [start ** (k + 1) for k in range(n)]

    if math.log2(n).is_integer():
        return power_of_two(n)
    closest = 2 ** math.floor(math.log2(n))
    # the slopes of the nearest lower power of two, then every other slope of the next one
    return power_of_two(closest) + _slopes(2 * closest)[0::2][: n - closest]


def alibi_slopes(num_heads, *, device=None, dtype=None):
    if num_heads <= 0:
        raise ValueError(f"num_heads must be positive, got {num_heads}")
    return torch.tensor(_slopes(num_heads), device=device, dtype=dtype)  # (num_heads,)


def alibi_bias(num_heads, q_len, k_len, *, device=None, dtype=None):
    """(num_heads, q_len, k_len): -m_h * |i - j|.

    With q_len < k_len the queries are the last q_len positions (incremental
    decoding): query row r sits at position k_len - q_len + r.
    """
    if q_len > k_len:
        raise ValueError(f"q_len {q_len} exceeds k_len {k_len}")
    slopes = alibi_slopes(num_heads, device=device, dtype=dtype)  # (H,)
    query = torch.arange(k_len - q_len, k_len, device=device)  # (q_len,)
    key = torch.arange(k_len, device=device)  # (k_len,)
    distance = (query[:, None] - key[None, :]).abs()  # (q_len, k_len)
    return -slopes[:, None, None] * distance  # (H, q_len, k_len)
