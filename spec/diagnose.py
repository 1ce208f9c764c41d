"""Diagnosis by convention: when a value clause fails, say which legal convention the output matches instead.

Correct implementations differ legitimately in the declared conventions (pairing, layout, frequencies, order,
scales); an adapter that forgets to declare one fails the value clauses with a bare numeric difference. The
alternatives are tried only after a failure, so a passing property costs nothing more.
"""

import itertools

from embedspec.contract import CONVENTIONS

from .calls import assert_close, first_difference


def matching_conventions(actual, oracle, conventions, keys, atol):
    """The other legal values of ``keys`` under which ``oracle(conventions)`` matches ``actual`` within ``atol``, as
    a dict of the keys that change, or None when no combination matches."""
    declared = tuple(conventions[key] for key in keys)
    for values in itertools.product(*(CONVENTIONS[key] for key in keys)):
        if values == declared:
            continue
        try:
            expected = oracle({**conventions, **dict(zip(keys, values))})
        except ValueError:  # a convention with no value at this size (the endpoint schedule below dim 4)
            continue
        if tuple(expected.shape) == tuple(actual.shape) and first_difference(actual, expected, atol) is None:
            return {key: value for key, value, old in zip(keys, values, declared) if value != old}
    return None


def assert_close_by_convention(actual, oracle, conventions, keys, *, atol, what="result"):
    """``assert_close(actual, oracle(conventions))``; on failure the message also names the legal convention of
    ``keys`` that the output matches, if any: "the output matches `rope.pairing = interleaved`: declare it"."""
    try:
        assert_close(actual, oracle(conventions), atol=atol, what=what)
    except AssertionError as failure:
        raise_naming_convention(failure, actual, oracle, conventions, keys, atol)


def raise_naming_convention(failure, actual, oracle, conventions, keys, atol):
    """Re-raise the value ``failure``, naming the legal convention of ``keys`` that ``actual`` matches within ``atol``
    (unchanged when none does), for properties with a closeness check of their own."""
    match = matching_conventions(actual, oracle, conventions, keys, atol)
    if match is None:
        raise failure
    declare = ", ".join(f"`{key} = {value}`" for key, value in match.items())
    raise AssertionError(f"{failure}; the output matches {declare}: declare it in `conventions`") from None
