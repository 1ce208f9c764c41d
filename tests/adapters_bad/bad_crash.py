"""A token embedding that hangs or kills the interpreter on bad ids.

- an id >= num_embeddings: the lookup hangs in Python (TOK-ERR-01): the
  per-example time limit fails the property and the run goes on;
- a negative id: it hangs where no signal reaches Python (SIGALRM blocked, as in
  native code that never returns; TOK-ERR-02): the watchdog's second stage ends
  the process, and under -n the worker's death is that test's failure;
- floating-point ids: a segfault (TOK-ERR-03): under -n the worker's death is
  that test's failure and the run completes.
"""

import ctypes
import signal
import time

import torch

from embedspec.reference import token_embedding as _token_embedding


class _Lookup(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.weight = inner.weight

    def forward(self, ids):
        if ids.is_floating_point():
            ctypes.string_at(0)  # reads address 0: SIGSEGV
        if ids.numel() and int(ids.min()) < 0:
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
            time.sleep(3600)
        if ids.numel() and int(ids.max()) >= self.weight.shape[0]:
            while True:
                time.sleep(0.01)
        return self.inner(ids)


def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None):
    return _Lookup(_token_embedding(num_embeddings, embedding_dim, padding_idx=padding_idx))
