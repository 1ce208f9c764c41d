"""Purity, across every family: inputs untouched, repeatable calls, no hidden state, batch independence."""

import copy

import torch
from torch import nn

from .calls import assert_equal
from .families import F32, over_families


def _what(family, config, extra=""):
    return f"{family.name} [{config['label']}]" + (f" {extra}" if extra else "")


def _shares_storage(tensor, others):
    pointer = tensor.untyped_storage().data_ptr()
    return any(isinstance(o, torch.Tensor) and o.untyped_storage().data_ptr() == pointer for o in others)


@over_families
def test_inputs_untouched(family, embedspec_implementation, conventions, embedspec_device):
    """PURE-INPUT-01 (must): no input tensor is modified: after the call every input equals the copy taken before it, and its version counter has not moved (no in-place operation on it)."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        obj = family.make(factory, config, conventions, device=embedspec_device)
        args = family.inputs(obj, config, device=embedspec_device)
        tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        copies = {i: (a.clone(), a._version) for i, a in tensors}
        family.run(obj, args)
        for i, tensor in tensors:
            before, version = copies[i]
            what = _what(family, config, f"input {i} of shape {tuple(tensor.shape)}")
            assert tensor._version == version, (
                f"{what}: modified in place (version counter {version} -> {tensor._version})")
            assert_equal(tensor, before.to(torch.float64) if before.is_floating_point() else before.double(), what=what)


@over_families
def test_repeatable(family, embedspec_implementation, conventions, embedspec_device):
    """PURE-REPEAT-01 (must): in eval mode, calling twice with the same inputs gives bit-identical results, whatever the random state in between."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        obj = family.make(factory, config, conventions, device=embedspec_device)
        args = family.inputs(obj, config, device=embedspec_device)
        torch.manual_seed(1)
        first = family.run(obj, args).detach().clone()
        torch.manual_seed(2)
        second = family.run(obj, args)
        family.same(second, first, args, config, conventions,
                    what=_what(family, config, "second call against the first"))


@over_families
def test_no_hidden_state(family, embedspec_implementation, conventions, embedspec_device):
    """PURE-STATE-01 (must): a call's result depends on its arguments alone: a call of another length in between (a cache may grow) and in-place changes to an earlier result leave the result of a repeated call unchanged."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        obj = family.make(factory, config, conventions, device=embedspec_device)
        args = family.inputs(obj, config, device=embedspec_device)
        inputs = [a for a in args if isinstance(a, torch.Tensor)]
        parameters = ({name: p.detach().clone() for name, p in obj.named_parameters()}
                      if isinstance(obj, nn.Module) else {})
        first = family.run(obj, args)
        kept = first.detach().clone()
        if not _shares_storage(first, inputs):  # a view of an input is the caller's to keep intact
            try:
                with torch.no_grad():
                    first.detach().add_(1)  # a user scaling or editing the result in place
            except RuntimeError:
                pass  # a broadcast (expanded) result cannot be edited in place, by a user either
        if family.kind == "module":
            length, offset = family.sequence_limits(config, conventions)
            other = family.sequence_inputs(obj, config, conventions, length=length, offset=offset, dtype=F32, seed=7,
                                           device=embedspec_device)
            family.run(obj, other)  # the longest legal call: a cache grows to it
        else:
            family.run(obj, copy.copy(args))
        again = family.run(obj, args)
        what = _what(family, config, "called again after other calls")
        family.same(again, kept, args, config, conventions, what=what)
        for name, before in parameters.items():
            assert_equal(dict(obj.named_parameters())[name], before.to(torch.float64),
                         what=_what(family, config, f"parameter {name} after calls"))


@over_families
def test_batch_independent(family, embedspec_implementation, conventions, embedspec_device):
    """PURE-BATCH-01 (must): the result does not depend on the batch it sits in: row b of a batched call equals the call on row b alone."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        obj = family.make(factory, config, conventions, device=embedspec_device)
        args = family.inputs(obj, config, device=embedspec_device)
        together = family.run(obj, args)
        atol = family.atol(family.expected(obj, args, config, conventions), args, F32, config, conventions)
        for row in range(together.shape[0]):
            alone_args = family.batch_item(args, row)
            alone = family.run(obj, alone_args)
            family.same(together[row:row + 1], alone, alone_args, config, conventions, atol=atol,
                        what=_what(family, config, f"row {row} of the batch against the row alone"))
