"""Token embedding plus positional information, then one dropout (the long tutorial's layer)."""

from torch import nn

from .learned_positional import LearnedPositionalEmbedding
from .sinusoidal import SinusoidalPositionalEncoding
from .token_embedding import TokenEmbedding


class TransformerEmbedding(nn.Module):
    def __init__(self, vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0,
                 device=None, dtype=None):
        super().__init__()
        self.token_embedding = TokenEmbedding(vocab_size, dim, padding_idx=padding_idx, device=device, dtype=dtype)
        if positional == "learned":
            self.positional = LearnedPositionalEmbedding(max_len, dim, device=device, dtype=dtype)
        elif positional == "sinusoidal":
            self.positional = SinusoidalPositionalEncoding(dim, max_len, device=device, dtype=dtype)
        else:
            raise ValueError(f"positional must be 'learned' or 'sinusoidal', got {positional!r}")
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids):  # ids: (B, S) -> (B, S, dim)
        return self.dropout(self.positional(self.token_embedding(ids)))  # dropout once, after the sum


def transformer_embedding(vocab_size, dim, max_len, *, positional="learned", padding_idx=None, dropout=0.0,
                          device=None, dtype=None):
    return TransformerEmbedding(vocab_size, dim, max_len, positional=positional, padding_idx=padding_idx,
                                dropout=dropout, device=device, dtype=dtype)
