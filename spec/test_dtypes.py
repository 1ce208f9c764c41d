"""Dtypes, across every family: values in every floating dtype, and wrong dtypes rejected.

The tolerance of each family is stated once, in spec/families.py, from the model in
spec/tolerances.py (k rounded steps of the dtype's epsilon on values of size M;
angles formed in the dtype), and applied here with the epsilon of each dtype.
"""

import torch

from . import tolerances
from .calls import _accepts, assert_raises_naming, assert_refused
from .families import F32, over_families


def _what(family, config, extra=""):
    return f"{family.name} [{config['label']}]" + (f" {extra}" if extra else "")


@over_families
def test_values_in_every_dtype(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-VAL-01 (must): built in float64, float32, float16 or bfloat16 (dtype=, or a cast where the factory takes none) and called on inputs of that dtype, a family returns its result in the dtype the contract gives it - the input's or the weight's - within that dtype's tolerance of the float64 oracle."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        for dtype in family.dtypes:
            floating = dtype.is_floating_point
            torch.manual_seed(0)
            obj = family.make(factory, config, conventions, device=embedspec_device, dtype=dtype if floating else None)
            args = family.inputs(obj, config, device=embedspec_device, dtype=dtype)
            what = _what(family, config, f"in {dtype}")
            out = family.run(obj, args)
            assert isinstance(out, torch.Tensor), f"{what}: returned a {type(out).__name__}"
            ok, wanted = family.dtype_ok(out, obj, args, dtype)
            assert ok, f"{what}: output dtype {out.dtype}, expected {wanted}"
            # a factory without dtype= builds in float32 and is cast: float32 accuracy is the most it owes
            built_in_dtype = family.kind == "function" or _accepts(factory, "dtype")
            owed = dtype if built_in_dtype else tolerances.working_dtype(F32, dtype)
            family.check(out, obj, args, config, conventions, owed if floating else F32, what=what)


def _wrong_dtype_calls(family, implementation, conventions, device, kinds):
    """(kind, what, call, names) for every call of the registry with a wrong dtype of ``kinds``."""
    factory = implementation.factory(family.name)
    calls = []
    for config in family.supported_configs(implementation):
        obj = family.make(factory, config, conventions, device=device)
        args = family.inputs(obj, config, device=device)
        for kind in kinds:
            calls += [(kind, _what(family, config, description), call, names)
                      for description, call, names in family.wrong_dtype_calls(obj, args, config, kind)]
    assert calls, f"{family.name}: the registry lists no call with a wrong dtype for this clause"
    return calls


def _not_truncated(result):
    """An integer tensor where a float was required may be promoted, never computed in integers."""
    if isinstance(result, torch.Tensor) and result.is_floating_point():
        return None
    return f"a result of dtype {getattr(result, 'dtype', type(result).__name__)}: computed in integers, truncated"


@over_families
def test_wrong_dtype_refused(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-REFUSE-01 (must): a floating tensor where the contract requires integers is refused, never truncated to integers or used as a number; an integer tensor where it requires a float is refused or promoted, never computed in integers."""
    for kind, what, call, _ in _wrong_dtype_calls(family, embedspec_implementation, conventions, embedspec_device,
                                                   family.wrong_dtype_kinds):
        assert_refused(call, what=what, handled=_not_truncated if kind == "int" else None)


@over_families
def test_float_where_integer_required(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-ERR-01 (should): a floating tensor where the contract requires integers - token ids, explicit positions, relative positions - raises a documented error naming its dtype, instead of being truncated or used as a number."""
    for _, what, call, names in _wrong_dtype_calls(family, embedspec_implementation, conventions, embedspec_device,
                                                    ("float",)):
        assert_raises_naming(call, names, what=what)


@over_families
def test_integer_where_float_required(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-ERR-02 (should): an integer tensor where the contract requires a float - features to rotate, a table to resample, hidden states to project - raises a documented error naming its dtype, instead of a result truncated to integers or an error from deep inside torch."""
    for _, what, call, names in _wrong_dtype_calls(family, embedspec_implementation, conventions, embedspec_device,
                                                    ("int",)):
        assert_raises_naming(call, names, what=what)
