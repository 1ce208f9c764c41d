"""T5's relative position buckets (Raffel et al., 2020; Mesh TensorFlow's _relative_position_bucket).

relative_position = memory_position - query_position. Small distances get a
bucket each; larger ones share buckets whose size grows logarithmically up to
max_distance, past which everything falls in the last bucket. Bidirectionally,
half of the buckets are for keys after the query (relative_position > 0).
"""

import math

import torch


def relative_position_bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
    if relative_position.is_floating_point() or relative_position.dtype == torch.bool:
        raise TypeError(f"relative_position must be an integer tensor, got dtype {relative_position.dtype}")
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(relative_position.dtype) * num_buckets  # keys after the query
        n = relative_position.abs()
    else:
        n = (-relative_position).clamp(min=0)  # keys after the query all share bucket 0
    # n is now a distance in [0, inf)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    if max_distance <= max_exact:  # no room for log buckets: every larger distance is at or past max_distance
        return buckets + torch.where(is_small, n, torch.full_like(n, num_buckets - 1))
    # the log bucket, computed in float32 as T5 does
    log_ratio = torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
    if_large = max_exact + (log_ratio * (num_buckets - max_exact)).to(relative_position.dtype)
    if_large = if_large.clamp(max=num_buckets - 1)
    return buckets + torch.where(is_small, n, if_large)
