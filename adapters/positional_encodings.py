"""positional-encodings (tatp22): ``PositionalEncoding1D``, ``PositionalEncoding2D`` and ``Summer``.

    embedspec --impl embedspec.adapters.positional_encodings

Conventions, from positional_encodings/torch_encodings.py (6.0.3): ``get_emb``
stacks (sin, cos) per frequency and flattens them (``sinusoidal.layout =
interleaved``), with frequencies ``10000 ** -(2i / channels)`` (the paper's;
the base is fixed). ``PositionalEncoding2D`` gives each spatial axis
``ceil(channels / 4) * 2`` features, the first axis (the grid's rows, ``x``)
first (``sincos_2d.order = hw``). The modules return the encoding only;
``Summer(penc)`` is the library's module that adds it to the input, and it
has no maximum length (``sinusoidal.beyond_max_len = extend``).
"""

import torch

try:
    import positional_encodings
    from positional_encodings.torch_encodings import PositionalEncoding1D, PositionalEncoding2D, Summer
except ImportError as exc:  # pragma: no cover - exercised where positional-encodings is absent
    raise ImportError(
        "embedspec.adapters.positional_encodings needs positional-encodings: pip install 'embedspec[adapters]' "
        f"(positional-encodings==6.0.3 verified); the import failed with: {exc}"
    ) from exc

conventions = {
    "sinusoidal.layout": "interleaved",
    "sinusoidal.frequencies": "paper",
    "sinusoidal.beyond_max_len": "extend",
    "sincos_2d.order": "hw",
}
unsupported = {"sinusoidal.base", "sincos_2d.base"}  # the library hard-codes the wavelength 10000


def _fixed_base(base):
    if float(base) != 10000.0:
        raise NotImplementedError(f"positional-encodings hard-codes the base 10000; it cannot build base={base}")


def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
    _fixed_base(base)
    # the module encodes a (batch, x, ch) tensor; its values do not matter, only its shape
    return PositionalEncoding1D(dim)(torch.zeros(1, num_positions, dim))[0]


def sinusoidal_module(dim, max_len, *, base=10000.0):
    _fixed_base(base)
    return Summer(PositionalEncoding1D(dim))


def sincos_2d(height, width, dim, *, base=10000.0):
    _fixed_base(base)
    # (batch, x, y, ch) with x the rows: row-major flattening gives row i * width + j
    return PositionalEncoding2D(dim)(torch.zeros(1, height, width, dim))[0].reshape(height * width, dim)
