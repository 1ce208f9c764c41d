"""One adapter, a different defect in each family (run serially, one run shows them all).

- ``token_embedding`` puts a NaN in the second element of its output whenever it
  looks up three ids or more: TOK-LOOKUP-01 fails, showing the first differing
  index (``actual nan``), and the clauses that rely on the lookup are reported
  "blocked by TOK-LOOKUP-01".
- ``sinusoidal_encoding`` raises on every construction: each of its properties
  FAILS, naming the exact factory call (but SIN-REFUSE-01, which a refusal
  satisfies); all but SIN-VAL-01, SIN-ODD-01 and the edge clauses are blocked by
  SIN-VAL-01.
- ``sinusoidal_module`` has the wrong signature (no ``max_len``): its properties
  cannot be run and are ERRORs naming the factory and the call it was given.
- ``learned_positional`` is off by 0.5 whenever the input has 24 elements or
  more: a failure on tensors of dozens of numbers, none of which may be dumped
  into the message (LPOS-ADD-01's explicit example has 32).
"""

import torch

from embedspec.reference import learned_positional as _learned_positional
from embedspec.reference import sinusoidal_module as _sinusoidal_module
from embedspec.reference import token_embedding as _token_embedding


class _NanLookup(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.weight = inner.weight

    def forward(self, ids):
        out = self.inner(ids)
        if ids.numel() >= 3 and out.numel() >= 2:
            out = out.clone()
            out.view(-1)[1] = float("nan")
        return out


def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None):
    return _NanLookup(_token_embedding(num_embeddings, embedding_dim, padding_idx=padding_idx))


def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
    raise RuntimeError("this build has no sinusoidal kernel")


def sinusoidal_module(dim):
    return _sinusoidal_module(dim, 512)


class _OffByHalf(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.weight = inner.weight

    def forward(self, x, positions=None):
        out = self.inner(x, positions)
        return out + 0.5 if x.numel() >= 24 else out


def learned_positional(max_len, dim):
    return _OffByHalf(_learned_positional(max_len, dim))
