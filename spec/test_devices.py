"""Device placement, across every family: stray tensors, moves, casts, saved state, and precision after a cast.

Every property here runs once per family of the registry (spec/families.py) and once
per device of the axis: the CPU, and the accelerator where there is one
(``-m accelerator``, ``--embedspec-device``). On a CPU-only machine the moves go to
the meta device, which stands for "another device" without needing one.
"""

import copy
import io

import torch
from torch import nn

from . import devices, tolerances
from .calls import _accepts
from .families import (BF16, F16, F32, F64, Excluded, assert_precise, cast_diagnosis, excluded_at_runtime,
                       over_families, precision_runs)

CASTS = (
    ("m.to(torch.bfloat16)", BF16, lambda m: m.to(torch.bfloat16)),
    ("m.half()", F16, lambda m: m.half()),
    ("m.double()", F64, lambda m: m.double()),
    ("m.to(torch.float64).float()", F32, lambda m: m.to(torch.float64).float()),
)


def _what(family, config, extra=""):
    return f"{family.name} [{config['label']}]" + (f" {extra}" if extra else "")


def _module(family, factory, config, conventions, **kwargs):
    obj = family.make(factory, config, conventions, **kwargs)
    if not isinstance(obj, nn.Module):
        excluded_at_runtime("a plain callable, not a module: there is nothing to move, cast or save")
    return obj


def _built_again(family, factory, config, conventions, original, *, what, **kwargs):
    """A second object like ``original``, built afresh and given its state (``load_state_dict``): never a copy of
    it, since a module may hold what cannot be copied (a lock, a process-group handle) and a copy would fail in the
    harness, not in the implementation. A plain callable or a table is its own twin."""
    if not isinstance(original, nn.Module):
        return original
    twin = family.make(factory, config, conventions, **kwargs)
    try:
        twin.load_state_dict(original.state_dict())
    except Exception as exc:
        raise AssertionError(
            f"{what}: to compare it with a second module, the specification built one afresh and loaded the "
            f"first one's state_dict into it, which raised {type(exc).__name__}: {exc} (the specification never "
            f"deep-copies a module: a module may hold what cannot be copied)") from exc
    return twin


def _moved(args, device):
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


@over_families
def test_no_stray_tensors(family, embedspec_implementation, conventions, embedspec_device):
    """DEV-STRAY-01 (must): every tensor a call makes is made on its inputs' device: with the default device switched away (to meta) and real inputs, the call still runs where its inputs are and gives the same result, and a tensor made without device= is named with its function and shape."""
    factory = embedspec_implementation.factory(family.name)
    device = embedspec_device
    if family.kind == "table" and not _accepts(factory, "device"):
        excluded_at_runtime("the factory takes no device= keyword and no input tensor: the default device is its "
                            "only device")
    for config in family.supported_configs(embedspec_implementation):
        obj = family.make(factory, config, conventions, device=device)
        args = family.inputs(obj, config, device=device)
        what = _what(family, config, f"on {device}, default device meta")
        # the twin is untouched by the first call's caches
        twin = _built_again(family, factory, config, conventions, obj, what=what, device=device)
        expected = family.run(twin, args)
        out, recorder, exc = devices.call_with_default_device_switched(lambda: family.run(obj, args), device)
        if recorder.found:
            raise AssertionError(f"{what}: {recorder.describe()}"
                                 + (f"; the call then raised {type(exc).__name__}: {exc}" if exc else ""))
        if exc is not None:
            raise AssertionError(f"{what}: the call raised {type(exc).__name__}: {exc}") from exc
        assert isinstance(out, torch.Tensor), f"{what}: returned a {type(out).__name__}"
        assert out.device.type == torch.device(device).type, (
            f"{what}: the result is on {out.device}, the inputs on {device}")
        family.same(out, expected, args, config, conventions, what=f"{what}, against the same call without the switch")


@over_families
def test_moves_with_module(family, embedspec_implementation, conventions, embedspec_device):
    """DEV-MOVE-01 (must): .to(device) moves every parameter, buffer and tensor a module computes with: moved, it runs on the new device (meta on a CPU-only machine), and moved to an accelerator it gives the values of the same module built there."""
    factory = embedspec_implementation.factory(family.name)
    target = "meta" if embedspec_device == "cpu" else embedspec_device
    for config in family.supported_configs(embedspec_implementation):
        torch.manual_seed(0)
        module = _module(family, factory, config, conventions)
        what = _what(family, config, f"built on the CPU, moved with .to({target!r})")
        try:
            moved = module.to(target)
        except Exception as exc:
            raise AssertionError(f"{what}: the move raised {type(exc).__name__}: {exc}") from exc
        stale = devices.left_behind(moved, target)
        registered = devices.registered_elsewhere(moved, target)
        assert not registered, f"{what}: left behind: {', '.join(registered)}"
        args = family.inputs(moved, config, device=target)
        try:
            out = family.run(moved, args)
        except Exception as exc:
            if target == "meta" and devices.meta_cannot_run(exc):
                # the call needs what meta has not (values for validation of ids, autocast): judge by what the module holds
                assert not stale, (
                    f"{what}: tensors held outside its parameters and buffers did not move: {', '.join(stale)}")
                continue
            raise AssertionError(f"{what}: the call raised {type(exc).__name__}: {exc}"
                                 + (f"; left behind: {', '.join(stale)}" if stale else "")) from exc
        assert out.device.type == torch.device(target).type, (
            f"{what}: the result is on {out.device}" + (f"; left behind: {', '.join(stale)}" if stale else ""))
        if target == "meta":
            continue
        built = _built_again(family, factory, config, conventions, moved, what=what, device=target)
        expected = family.run(built, args)
        atol = tolerances.across_devices_atol(family.atol(family.expected(built, args, config, conventions), args, F32,
                                                          config, conventions))
        family.same(out, expected, args, config, conventions, atol=atol,
                    what=f"{what}, against the same module built on {target}")


@over_families
def test_built_on_requested_device(family, embedspec_implementation, conventions, embedspec_device):
    """DEV-BUILD-01 (must): a factory given device= builds there, not on the default device: every parameter and buffer of the module it returns, or the table it computes, is on the requested device (meta, on a CPU-only machine)."""
    factory = embedspec_implementation.factory(family.name)
    if family.kind == "function":
        excluded_at_runtime("a function of input tensors builds nothing: it runs where its inputs are (DEV-STRAY-01)")
    if not _accepts(factory, "device"):
        excluded_at_runtime("the factory takes no device= keyword: its result is moved with .to(), which DEV-MOVE-01 "
                            "checks")
    target = "meta" if embedspec_device == "cpu" else embedspec_device
    for config in family.supported_configs(embedspec_implementation):
        built = family.make(factory, config, conventions, device=target)
        what = _what(family, config, f"built with device={target!r}, the default device being the CPU")
        if isinstance(built, nn.Module):
            elsewhere = devices.registered_elsewhere(built, target)
            assert not elsewhere, f"{what}: {', '.join(elsewhere)}"
        elif family.kind == "table":
            out = family.run(built, ())
            assert out.device.type == torch.device(target).type, f"{what}: the table is on {out.device}"
        else:
            excluded_at_runtime("a plain callable, not a module: it holds no tensors to place")


@over_families
def test_casts_with_module(family, embedspec_implementation, conventions, embedspec_device):
    """DEV-CAST-01 (must): .to(dtype), .half(), .double() cast every parameter and everything the module computes with: for inputs in the new dtype the output is in that dtype and matches the float64 oracle within that dtype's tolerance."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        for how, dtype, cast in CASTS:
            torch.manual_seed(0)
            module = _module(family, factory, config, conventions, device=embedspec_device)
            what = _what(family, config, f"after {how}")
            try:
                module = cast(module)
            except Exception as exc:
                raise AssertionError(f"{what}: the cast raised {type(exc).__name__}: {exc}") from exc
            stale = [f"{name} ({p.dtype})" for name, p in module.named_parameters()
                     if p.is_floating_point() and p.dtype != dtype]
            assert not stale, f"{what}: parameters not cast: {', '.join(stale)}"
            args = family.inputs(module, config, device=embedspec_device, dtype=dtype)
            out = family.run(module, args)
            assert out.dtype == dtype, f"{what}: output dtype {out.dtype} for inputs and module in {dtype}"
            # built in float32 and cast: what was computed at construction is owed to float32 accuracy at best
            family.check(out, module, args, config, conventions, tolerances.working_dtype(F32, dtype), what=what)


@over_families
def test_state_dict_round_trip(family, embedspec_implementation, conventions, embedspec_device):
    """DEV-STATE-01 (must): what a user saves they can load: a module's state_dict, saved with torch.save and loaded into a freshly built module, gives identical outputs."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        torch.manual_seed(1)
        saved = _module(family, factory, config, conventions, device=embedspec_device)
        buffer = io.BytesIO()
        torch.save(saved.state_dict(), buffer)
        buffer.seek(0)
        torch.manual_seed(2)  # a fresh module starts from other random values
        loaded = _module(family, factory, config, conventions, device=embedspec_device)
        what = _what(family, config, "loaded from a saved state_dict")
        try:
            loaded.load_state_dict(torch.load(buffer, weights_only=True))
        except Exception as exc:
            raise AssertionError(f"{what}: loading raised {type(exc).__name__}: {exc}") from exc
        args = family.inputs(saved, config, device=embedspec_device)
        family.same(family.run(loaded, args), family.run(saved, args), args, config, conventions,
                    what=f"{what}, against the module saved")


@over_families
def test_accurate_at_large_positions_after_cast(family, embedspec_implementation, conventions, embedspec_device):
    """DEV-PREC-01 (must): a positional encoding cast to bfloat16 or float16 with its model stays within the low precision's tolerance of the float64 oracle at positions in the tens of thousands, within the cache it built at construction and past a short one (where it extends it), in one call and as a decoder calls it: its angles keep float32 accuracy, and the first position where they do not is named."""
    factory = embedspec_implementation.factory(family.name)
    for dtype, how in ((BF16, "to(torch.bfloat16)"), (F16, "half()")):
        try:
            runs = precision_runs(family, factory, conventions, device=embedspec_device, dtype=dtype,
                                  supports=embedspec_implementation.supports)
        except Excluded as reason:
            excluded_at_runtime(str(reason))
        for run, obj, args, positions, config, call in runs:
            out = call()
            if out is None:
                continue  # refused past the cache
            what = f"{family.name} after .{how}, {run}"
            assert out.dtype == dtype, f"{what}: output dtype {out.dtype}"
            expected = family.expected(obj, args, config, conventions)
            assert_precise(out, expected, family.precision_bound(expected, args, positions, dtype, conventions),
                           positions, family.position_axis, what=what, cause=cast_diagnosis(obj))


@over_families
def test_cpu_and_accelerator_agree(family, embedspec_implementation, conventions, embedspec_accelerator):
    """DEV-ACC-01 (must): the same object with the same inputs gives the same result on the CPU and on the accelerator, within the dtype's tolerance (twice each side's), in float32 and bfloat16."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        for dtype in (F32, BF16) if family.dtypes[0].is_floating_point else family.dtypes:
            torch.manual_seed(0)
            floating = dtype if dtype.is_floating_point else None
            on_cpu = family.make(factory, config, conventions, dtype=floating)
            what = _what(family, config, f"in {dtype}")
            if isinstance(on_cpu, nn.Module):
                on_accelerator = _built_again(family, factory, config, conventions, on_cpu, what=what,
                                              dtype=floating).to(embedspec_accelerator)
            elif family.kind == "table":
                on_accelerator = copy.copy(on_cpu)
                on_accelerator.device = embedspec_accelerator
            else:
                on_accelerator = on_cpu
            args = family.inputs(on_cpu, config, dtype=dtype)
            out_cpu = family.run(on_cpu, args)
            out_accelerator = family.run(on_accelerator, _moved(args, embedspec_accelerator))
            assert out_accelerator.device.type == torch.device(embedspec_accelerator).type, (
                f"{what}: the result is on {out_accelerator.device}")
            atol = tolerances.across_devices_atol(
                family.atol(family.expected(on_cpu, args, config, conventions), args, dtype, config, conventions))
            family.same(out_accelerator, out_cpu, args, config, conventions, atol=atol,
                        what=f"{what}: {embedspec_accelerator} against the CPU")
