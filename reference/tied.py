"""Weight tying: the output projection reuses the token embedding's weight (Press & Wolf, 2017;
the long tutorial's "Weight Tying with Output Layer").

    m.embed(ids)  = E[ids]            (V, d) table, looked up
    m.project(h)  = h @ E.T           logits over the vocabulary
"""

from torch import nn

from .token_embedding import TokenEmbedding


class Projection(nn.Linear):
    def forward(self, h):  # h: (..., d) -> logits (..., V)
        if not h.is_floating_point():
            raise TypeError(f"hidden states must be a floating tensor, got dtype {h.dtype}")
        return super().forward(h)


class TiedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, *, device=None, dtype=None):
        super().__init__()
        self.embed = TokenEmbedding(num_embeddings, embedding_dim, device=device, dtype=dtype)  # weight (V, d)
        self.project = Projection(embedding_dim, num_embeddings, bias=False, device=device, dtype=dtype)  # (V, d)
        self.tie_weights()

    def tie_weights(self):
        self.project.weight = self.embed.weight  # one Parameter, used twice

    def _apply(self, fn, *args, **kwargs):
        # A move that has to make new Parameter objects (to the meta device, say) makes one per
        # module and unties them; tie them again afterwards, as transformers' tie_weights() does.
        super()._apply(fn, *args, **kwargs)
        self.tie_weights()
        return self


def tied_embedding(num_embeddings, embedding_dim, *, device=None, dtype=None):
    return TiedEmbedding(num_embeddings, embedding_dim, device=device, dtype=dtype)
