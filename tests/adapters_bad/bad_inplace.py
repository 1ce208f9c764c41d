"""A RoPE with two in-place bugs, each shown by other inputs of one property (ROPE-INPLACE-01).

- with two heads or more, the rotation is written into the caller's x (``x.copy_(out)``);
- with one head and two tokens or more, the last position is reset to 0 in the caller's positions, as a cache
  index kept in the positions tensor would be.

Both fail the same helper (``assert_equal``) at two different lines of the property: the report must show both
counterexamples, not only the smaller one.
"""

from embedspec.reference import rope as _rope


def rope(head_dim, *, base=10000.0, max_seq_len=4096):
    inner = _rope(head_dim, base=base, max_seq_len=max_seq_len)

    def apply(x, positions):
        out = inner(x, positions)
        if x.shape[2] >= 2:
            x.copy_(out)
        elif x.shape[1] >= 2:
            positions[..., -1] = 0
        return out

    return apply
