"""A token embedding whose float-id lookup raises KeyboardInterrupt, as Ctrl-C would mid-run."""

from embedspec.reference import token_embedding as _token_embedding


class _Lookup:
    def __init__(self, inner):
        self.inner = inner
        self.weight = inner.weight

    def __call__(self, ids):
        if ids.is_floating_point():
            raise KeyboardInterrupt
        return self.inner(ids)


def token_embedding(num_embeddings, embedding_dim, *, padding_idx=None):
    return _Lookup(_token_embedding(num_embeddings, embedding_dim, padding_idx=padding_idx))
