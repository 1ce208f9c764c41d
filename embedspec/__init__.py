"""embedspec: an executable specification for token embeddings and positional encodings.

The distribution maps the repository's top-level folders under this namespace:
``embedspec.spec`` (the properties), ``embedspec.reference`` (the reference
implementation) and ``embedspec.adapters`` (ready adapters for libraries).
"""

__version__ = "0.1.0"
