"""The executable specification: one module of Hypothesis properties per family."""
