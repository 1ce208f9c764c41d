"""Optional features of the contract (``unsupported``): a property or a configuration that needs one runs only
where the implementation has it, and is otherwise skipped as "not provided: <feature>", never failed."""

import pytest
from hypothesis import reject


def needs(*features):
    """Mark a whole property as needing ``features`` (the plugin skips it where one is unsupported)."""
    return pytest.mark.embedspec_needs(*features)


def supported(supports, options, feature_of):
    """The ``options`` whose feature (``feature_of(option)``, None for none) the implementation supports; skips
    the property as not provided when none is left."""
    kept = [option for option in options if feature_of(option) is None or supports(feature_of(option))]
    if not kept:
        missing = sorted({feature_of(option) for option in options})
        pytest.skip(f"not provided: {', '.join(missing)}")
    return kept


def reject_unsupported(supports, option, options, feature_of):
    """Discard a drawn ``option`` (one of ``options``) whose feature the implementation lacks, so that Hypothesis
    draws another; skips the property as not provided when no option is left."""
    if option not in supported(supports, options, feature_of):
        reject()
