"""Surviving AST mutants of the reference that are equivalent to it, each with its one-line argument.

Keys are the mutant ids printed by scripts/mutate.py (module:function: original -> mutated).
A mutant belongs here only when no test of the contract could tell it from the
reference: the change is unobservable (it alters nothing a caller can see), or it
alters only what the contract leaves free (initial values of learned tables, the
wording of an error message that still names the value). Every other survivor
is a gap in the specification and gets a sharper property instead.
"""

_INIT = ("the contract leaves the initial values of a learned table free (only its shape, its being a trained "
         "parameter and how it is used are specified)")
_CLASS_DEFAULT = ("a default of the class that the factory never uses: the factory always passes this argument "
                  "explicitly, and the contract reaches the class only through the factory")

EQUIVALENT = {
    # sinusoidal.py
    "sinusoidal.py:sinusoidal_encoding: 0 -> 1":
        "`dim <= 1` instead of `dim <= 0`: the only integer it adds, dim = 1, is odd and is rejected by the "
        "`dim % 2 != 0` test with the same error",
    "sinusoidal.py:sinusoidal_encoding: dim <= 0 -> dim < 0":
        "lets dim = 0 through (an empty (N, 0) table instead of an error): the contract rejects odd dims only and "
        "leaves dim = 0 free",
    "sinusoidal.py:sinusoidal_encoding: 0 -> -1":
        "`dim <= -1`: lets dim = 0 through, which the contract leaves free (see `dim < 0`)",
    "sinusoidal.py:sinusoidal_encoding: torch.arange(num_positions, dtype=torch.float64, device=device) -> "
    "torch.arange(num_positions, device=device)":
        "positions made in the default float32: integers below 2^24 are exact in float32, and their product with "
        "the float64 frequencies is promoted to float64, so the table is bit-identical",
    "sinusoidal.py:sinusoidal_encoding: torch.float64 -> torch.float32":
        "the same as above: float32 positions are exact below 2^24 and promoted to float64 by the product",
    "sinusoidal.py:sinusoidal_encoding: torch.zeros -> torch.ones":
        "the buffer's initial values are all overwritten by the sine and cosine column assignments",
    # learned_positional.py
    "learned_positional.py:LearnedPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, std=0.02)": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, mean=0.0)": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.0 -> 1.0": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.0 -> -1.0": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.02 -> 1.02": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.__init__: 0.02 -> 0.002": _INIT,
    "learned_positional.py:LearnedPositionalEmbedding.forward: check_ids(positions, self.max_len, what='position') -> "
    "check_ids(positions, self.max_len)":
        "the error for a bad position then says 'token id 9' instead of 'position 9': still a documented type "
        "naming the offending value, which is all the contract asks of a message",
    # transformer_embedding.py
    "transformer_embedding.py:TransformerEmbedding.__init__: 0.0 -> 1.0": _CLASS_DEFAULT,
    "transformer_embedding.py:TransformerEmbedding.__init__: 0.0 -> -1.0": _CLASS_DEFAULT,
    # hybrid.py (the same two patterns)
    "hybrid.py:HybridPositionalEmbedding.__init__: 10000.0 -> 10001.0": _CLASS_DEFAULT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 10000.0 -> 1000.0": _CLASS_DEFAULT,
    "hybrid.py:HybridPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, std=0.02)": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: nn.init.normal_(self.weight, mean=0.0, std=0.02) -> "
    "nn.init.normal_(self.weight, mean=0.0)": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.0 -> 1.0": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.0 -> -1.0": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.02 -> 1.02": _INIT,
    "hybrid.py:HybridPositionalEmbedding.__init__: 0.02 -> 0.002": _INIT,
}
