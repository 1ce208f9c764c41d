"""Dtypes, across every family: values in every floating dtype, and wrong dtypes rejected.

The tolerance of each family is stated once, in spec/families.py, from the model in
spec/tolerances.py (k rounded steps of the dtype's epsilon on values of size M;
angles formed in the dtype), and applied here with the epsilon of each dtype.
"""

import torch

from . import tolerances
from .calls import _accepts, assert_raises_naming
from .families import F32, over_families


def _what(family, config, extra=""):
    return f"{family.name} [{config['label']}]" + (f" {extra}" if extra else "")


@over_families
def test_values_in_every_dtype(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-VAL-01: built in float64, float32, float16 or bfloat16 (dtype=, or a cast where the factory takes none) and called on inputs of that dtype, a family returns its result in the dtype the contract gives it - the input's or the weight's - within that dtype's tolerance of the float64 oracle."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.configs:
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


def _wrong_dtype(family, factory, conventions, device, kind):
    ran = 0
    for config in family.configs:
        obj = family.make(factory, config, conventions, device=device)
        args = family.inputs(obj, config, device=device)
        for description, call, names in family.wrong_dtype_calls(obj, args, config, kind):
            assert_raises_naming(call, names, what=_what(family, config, description))
            ran += 1
    assert ran, f"{family.name}: the registry lists no call with a wrong dtype for this clause"


@over_families
def test_float_where_integer_required(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-ERR-01: a floating tensor where the contract requires integers - token ids, explicit positions, relative positions - raises a documented error naming its dtype, instead of being truncated or used as a number."""
    _wrong_dtype(family, embedspec_implementation.factory(family.name), conventions, embedspec_device, "float")


@over_families
def test_integer_where_float_required(family, embedspec_implementation, conventions, embedspec_device):
    """DTYPE-ERR-02: an integer tensor where the contract requires a float - features to rotate, a table to resample, hidden states to project - raises a documented error naming its dtype, instead of a result truncated to integers or an error from deep inside torch."""
    _wrong_dtype(family, embedspec_implementation.factory(family.name), conventions, embedspec_device, "int")
