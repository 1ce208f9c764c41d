"""The hook a user's conftest.py or an installed plugin implements to choose the implementation."""

import pytest


@pytest.hookspec(firstresult=True)
def pytest_embedspec_implementation(config):
    """Return the implementation to specify: an object, or a ``dotted.module[:attr]`` string.

    The first non-None result wins; ``--impl`` and ``EMBEDSPEC_IMPL`` take precedence.
    """
