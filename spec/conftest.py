"""Fixtures of the specification: one per family (the implementation's factory) and the conventions.

A property asks for a family by naming it as an argument; the plugin skips the
property with the reason "not provided" when the implementation lacks that family.
"""

import pytest

from embedspec.contract import FAMILIES


def _family_fixture(family):
    @pytest.fixture(scope="session", name=family)
    def fixture(embedspec_implementation):
        return embedspec_implementation.factory(family)

    fixture.__doc__ = f"The implementation's ``{family}`` factory."
    return fixture


for _family in FAMILIES:
    globals()[f"fixture_{_family}"] = _family_fixture(_family)


@pytest.fixture(scope="session")
def conventions(embedspec_implementation):
    """The implementation's conventions, every key present (undeclared keys at their defaults)."""
    return embedspec_implementation.conventions


@pytest.fixture(scope="session")
def supports(embedspec_implementation):
    """``supports(feature)``: whether the implementation has an optional feature of the contract (it has every
    feature it does not name in ``unsupported``)."""
    return embedspec_implementation.supports
