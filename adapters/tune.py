"""torchtune: ``RotaryPositionalEmbeddings`` and the T5 encoder's relative position buckets.

    embedspec --impl embedspec.adapters.tune

(The module is ``tune``, not ``torchtune``, so that it never shadows the library.)

Conventions, from torchtune/modules/position_embeddings.py (0.6.1): the cache
holds ``(cos, sin)`` of ``position * base ** -(2i / dim)`` and the forward
reshapes x to ``(..., dim/2, 2)``, pairing features 2i and 2i+1
(``rope.pairing = interleaved``); x is already (B, S, H, D). The cache is built
at construction for ``max_seq_len`` positions; the positions are passed as
``input_pos`` (shape (S,) or (B, S)), as torchtune's attention passes them.

RoPE scaling: torchtune has Llama 3.1's (``Llama3ScaledRoPE``, torchtune/models/llama3_1/
_position_embeddings.py), bound as ``scaling={"rope_type": "llama3", ...}``; its keywords are the
dict's keys renamed (factor -> scale_factor, original_max_position_embeddings -> old_context_len,
low_freq_factor and high_freq_factor as they are), and a key the dict leaves out is left to
torchtune's default (8, 1, 4) except the original length, which the contract sets to max_seq_len.
The other scaling types are not in torchtune (``unsupported``).

The T5 buckets come from torchtune/models/t5/_encoder.py, which computes them
only as the bidirectional ``(max_seq_len, max_seq_len)`` table
``_calc_birectional_rel_pos_to_bucket`` (query rows, key columns, relative
position key - query); the adapter builds the smallest table that holds the
requested relative positions and reads relative position r >= 0 at [0, r] and
r < 0 at [-r, 0].

torchtune 0.6.1 imports only with torchao 0.14 to 0.17 installed.
"""

import torch
from torch import nn

try:
    import torchtune
    from torchtune.models.llama3_1 import Llama3ScaledRoPE
    from torchtune.models.t5._encoder import _calc_birectional_rel_pos_to_bucket
    from torchtune.modules import RotaryPositionalEmbeddings
except ImportError as exc:  # pragma: no cover - exercised where torchtune is absent
    raise ImportError(
        "embedspec.adapters.tune needs torchtune (and torchao): pip install 'embedspec[adapters]' "
        f"(torchtune==0.6.1 with torchao==0.17.0 verified); the import failed with: {exc}"
    ) from exc

conventions = {"rope.pairing": "interleaved"}
unsupported = {
    "relative_position_bucket.unidirectional",  # only T5's encoder (bidirectional) buckets
    "rope.scaling.linear", "rope.scaling.dynamic", "rope.scaling.yarn", "rope.scaling.longrope",  # only Llama 3.1's
}

# the rope_scaling keys of Llama 3.1's scaling and Llama3ScaledRoPE's names for them
LLAMA3_KEYWORDS = {"factor": "scale_factor", "low_freq_factor": "low_freq_factor",
                   "high_freq_factor": "high_freq_factor"}

# The bucket table is quadratic in the largest distance; past this many positions it is not built.
MAX_TABLE_POSITIONS = 4096


class Rope(nn.Module):
    def __init__(self, rope):
        super().__init__()
        self.rope = rope

    def forward(self, x, positions):
        # torchtune's attention passes input_pos through (None in training means 0 .. S-1, the same rows)
        return self.rope(x, input_pos=positions)


def rope(head_dim, *, base=10000.0, max_seq_len=4096, scaling=None):
    if scaling is None:
        return Rope(RotaryPositionalEmbeddings(head_dim, max_seq_len=max_seq_len, base=base))
    if scaling.get("rope_type") != "llama3":
        raise ValueError(f"rope_scaling['rope_type'] {scaling.get('rope_type')!r}: torchtune scales RoPE only as "
                         f"Llama 3.1 does ('llama3')")
    keywords = {name: scaling[key] for key, name in LLAMA3_KEYWORDS.items() if key in scaling}
    original = scaling.get("original_max_position_embeddings", max_seq_len)
    return Rope(Llama3ScaledRoPE(head_dim, max_seq_len=max_seq_len, base=base, old_context_len=original, **keywords))


def relative_position_bucket(relative_position, *, bidirectional=True, num_buckets=32, max_distance=128):
    if not bidirectional:
        raise NotImplementedError("torchtune has the T5 encoder's bidirectional buckets only")
    reach = int(relative_position.abs().max()) + 1 if relative_position.numel() else 1
    if reach > MAX_TABLE_POSITIONS:
        raise NotImplementedError(
            f"torchtune's T5 buckets are a {reach} x {reach} table for relative positions up to {reach - 1}; "
            f"the adapter builds at most {MAX_TABLE_POSITIONS} x {MAX_TABLE_POSITIONS}")
    # T5EncoderRelativePositionBias builds this table at construction, on the device it is built on
    with torch.device(relative_position.device):
        table = _calc_birectional_rel_pos_to_bucket(num_buckets, max_distance, reach)  # [query, key]
    r = relative_position
    return torch.where(r >= 0, table[0, r.clamp(min=0)], table[(-r).clamp(min=0), 0])
