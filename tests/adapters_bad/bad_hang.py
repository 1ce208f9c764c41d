"""A sinusoidal table that never finishes: every construction loops in Python.

Every property of the family would hang: the first one to time out (``--embedspec-timeout``) blocks the family's
remaining properties, which fail at once as blocked by it, so a hanging family costs one time limit, not one per
property.
"""

import time


def sinusoidal_encoding(num_positions, dim, *, base=10000.0):
    while True:
        time.sleep(0.01)
