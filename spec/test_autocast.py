"""Autocast, across the families that form angles: positional encodings inside ``torch.autocast``.

Mixed-precision training and inference run a model's forward under ``torch.autocast``:
matmuls, linear layers and convolutions compute in bfloat16 (or float16), elementwise
arithmetic in its inputs' dtype. A positional encoding whose angles come out of one of
those ops (``inv_freq @ positions``, an einsum) silently gets bfloat16 angles:
transformers' Llama rotary embedding did until PR #29285, a radian off per position past
a few hundred. Nothing in the module's dtype shows it: the module is float32, and so are
its inputs before the first linear layer.

Each property runs DEV-PREC-01's cases (spec/families.py, ``precision_runs``: positions
in the tens of thousands, within the cache the module built and past a short one, in one
call and as a decoder calls it), with the module in float32 and built outside the
autocast region (where models are built), the call inside it: CPU bfloat16 always, and
CUDA float16 and bfloat16 where the device axis has a CUDA device. The floating inputs
come in float32, and in the autocast dtype too, as activations that left a linear layer
under autocast do.

Two clauses, because a user loses two different things: AUTOCAST-ANGLE-01, the values
(angles owed in float32, ``tolerances.autocast_working_dtype``), and AUTOCAST-DTYPE-01,
the result's dtype (the contract's, as without autocast: autocast chooses what the
layer's own ops compute in, not what the layer returns; a float32 layer that returns
bfloat16 for float32 inputs changes the dtype of everything after it).
"""

import torch

from . import tolerances
from .families import BF16, F16, F32, Excluded, assert_precise, excluded_at_runtime, over_families, precision_runs


def autocasts(device):
    """(device type, dtype) of the autocast regions tried on ``device``."""
    kind = torch.device(device).type
    if kind == "cpu":
        return (("cpu", BF16),)
    if kind == "cuda":
        return (("cuda", F16), ("cuda", BF16))
    return ()


def autocast_runs(family, implementation, conventions, device):
    """(what, obj, args, positions, config, out, input dtype) for every autocast region, input dtype and precision
    run of the family; refusals past a cache left out (the family's beyond clause judges them)."""
    factory = implementation.factory(family.name)
    regions = autocasts(device)
    if not regions:
        excluded_at_runtime(f"no autocast region is tried on {device}")
    for device_type, autocast_dtype in regions:
        for input_dtype in (F32, autocast_dtype) if family.float_args else (F32,):
            try:
                runs = precision_runs(family, factory, conventions, device=device, dtype=F32,
                                      input_dtype=input_dtype, supports=implementation.supports)
            except Excluded as reason:
                excluded_at_runtime(str(reason))
            for run, obj, args, positions, config, call in runs:
                with torch.autocast(device_type, dtype=autocast_dtype):
                    out = call()
                if out is not None:
                    what = (f"{family.name} under torch.autocast({device_type!r}, dtype={autocast_dtype}), "
                            f"inputs in {input_dtype}, {run}")
                    yield what, obj, args, positions, config, out, input_dtype


@over_families
def test_angles_under_autocast(family, embedspec_implementation, conventions, embedspec_device):
    """AUTOCAST-ANGLE-01 (must): under torch.autocast (CPU bfloat16; CUDA float16 and bfloat16), with float32 inputs or inputs in the autocast dtype, a float32 positional encoding still forms its angles in float32: at positions in the tens of thousands its result is within float32 angle rounding, plus the rounding of the least precise of its inputs' and result's dtypes, of the float64 oracle."""
    for what, obj, args, positions, config, out, input_dtype in autocast_runs(
            family, embedspec_implementation, conventions, embedspec_device):
        working = tolerances.autocast_working_dtype(input_dtype, out.dtype)
        expected = family.expected(obj, args, config, conventions)
        bound = family.precision_bound(expected, args, positions, working, conventions)
        try:
            assert_precise(out, expected, bound, positions, family.position_axis, what=what)
        except AssertionError:
            cause = _cause(family, obj, args, expected, bound, positions)
            assert_precise(out, expected, bound, positions, family.position_axis, what=what, cause=cause)


def _cause(family, obj, args, expected, bound, positions):
    """Why a result under autocast is off: autocast, or a value difference that the call shows without it too."""
    try:
        assert_precise(family.run(obj, args), expected, bound, positions, family.position_axis, what="")
    except AssertionError:
        return ("the same call without autocast is off too: a value difference (the family's value clauses say "
                "which), not precision lost to autocast")
    return "the angles are not formed in float32 under autocast (the same call without it is accurate)"


@over_families
def test_dtype_under_autocast(family, embedspec_implementation, conventions, embedspec_device):
    """AUTOCAST-DTYPE-01 (must): under torch.autocast a float32 positional encoding returns the dtype the contract gives it without autocast (RoPE: x's; a table: float32; x + table: x's or their promotion; the embedding: its token weight's), for float32 inputs and inputs in the autocast dtype."""
    for what, obj, args, positions, config, out, input_dtype in autocast_runs(
            family, embedspec_implementation, conventions, embedspec_device):
        ok, wanted = family.dtype_ok(out, obj, args, input_dtype)
        assert ok, f"{what}: output dtype {out.dtype}, expected {wanted}"
