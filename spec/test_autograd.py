"""Autograd, across every family: gradcheck, where gradients go, and no graph where none is needed."""

import torch
from torch import nn
from torch.autograd.gradcheck import GradcheckError

from . import strategies as sts
from . import tolerances
from .families import F64, excluded_at_runtime, over_families


def _what(family, config, extra=""):
    return f"{family.name} [{config['label']}]" + (f" {extra}" if extra else "")


def _with(args, indices, tensors):
    args = list(args)
    for index, tensor in zip(indices, tensors):
        args[index] = tensor
    return tuple(args)


@over_families
def test_gradcheck(family, embedspec_implementation, conventions, embedspec_device):
    """GRAD-CHECK-01 (must): in float64 the analytical gradient matches finite differences (torch.autograd.gradcheck) with respect to every floating input and every learned table."""
    if embedspec_device.startswith("mps"):
        excluded_at_runtime("MPS has no float64")
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        torch.manual_seed(0)
        obj = family.make(factory, config, conventions, device=embedspec_device, dtype=F64)
        args = family.gradcheck_inputs(family.inputs(obj, config, device=embedspec_device, dtype=F64), config)
        inputs = [args[i].detach().clone().requires_grad_(True) for i in family.float_args if i < len(args)]
        indices = [i for i in family.float_args if i < len(args)]
        learned = [tensor for _, tensor, _, _ in family.learned(obj, config, conventions)]
        for tensor in learned:
            assert tensor.dtype == F64, (
                f"{_what(family, config)}: a learned table is {tensor.dtype} in a float64 module")
            tensor.requires_grad_(True)

        def function(*tensors):
            # the learned tables are passed as themselves: gradcheck perturbs them in place
            out = family.run(obj, _with(args, indices, tensors[:len(indices)]))
            return family.differentiable(out, args, config, conventions)

        what = _what(family, config, "in float64")
        try:
            torch.autograd.gradcheck(function, (*inputs, *learned), fast_mode=True, **tolerances.GRADCHECK)
        except GradcheckError as exc:
            raise AssertionError(f"{what}: {exc}") from None


@over_families
def test_gradient_reaches_exactly_the_learned_tables(family, embedspec_implementation, conventions, embedspec_device):
    """GRAD-FLOW-01 (must): a backward pass gives gradient to exactly the tables the contract calls learned and to every floating input: a fixed table (a sinusoidal table, a buffer) receives none, and the padding row exactly zero."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        torch.manual_seed(0)
        obj = family.make(factory, config, conventions, device=embedspec_device)
        args = family.inputs(obj, config, device=embedspec_device)
        indices = [i for i in family.float_args if i < len(args)]
        args = tuple(a.detach().clone().requires_grad_(True) if i in indices else a for i, a in enumerate(args))
        what = _what(family, config)
        out = family.differentiable(family.run(obj, args), args, config, conventions)
        assert out.requires_grad, f"{what}: the result carries no graph"
        (out * sts.randn(tuple(out.shape), 1, out.dtype).to(out.device)).sum().backward()
        for index in indices:
            assert args[index].grad is not None, f"{what}: input {index} received no gradient (detached?)"
        learned = family.learned(obj, config, conventions)
        owned = {id(tensor) for _, tensor, _, _ in learned}
        if isinstance(obj, nn.Module):
            for name, parameter in obj.named_parameters():
                if id(parameter) not in owned and parameter.grad is not None and bool(parameter.grad.ne(0).any()):
                    raise AssertionError(f"{what}: parameter {name} of shape {tuple(parameter.shape)} received a "
                                         f"gradient, but the contract has no learned table there (a fixed table "
                                         f"stored as an nn.Parameter?)")
            trained = [name for name, buffer in obj.named_buffers() if buffer.requires_grad]
            assert not trained, f"{what}: buffers {trained} require grad"
        for name, tensor, zero_rows, receives in learned:
            grad = tensor.grad
            if receives:
                assert grad is not None and bool(grad.ne(0).any()), f"{what}: the learned {name} received no gradient"
            else:
                assert grad is None or not bool(grad.ne(0).any()), f"{what}: {name} received a gradient it does not use"
            for row in zero_rows:
                assert grad is None or not bool(grad[row].ne(0).any()), (
                    f"{what}: padding row {row} of {name} received gradient {grad[row].tolist()}")


@over_families
def test_no_graph_where_none_is_needed(family, embedspec_implementation, conventions, embedspec_device):
    """GRAD-NOGRAPH-01 (must): with no input requiring grad and the learned tables frozen (requires_grad=False), the result carries no autograd graph: requires_grad is False and grad_fn is None, for fixed tables and functions as for modules."""
    factory = embedspec_implementation.factory(family.name)
    for config in family.supported_configs(embedspec_implementation):
        obj = family.make(factory, config, conventions, device=embedspec_device)
        for _, tensor, _, _ in family.learned(obj, config, conventions):
            tensor.requires_grad_(False)
        args = family.inputs(obj, config, device=embedspec_device)
        out = family.run(obj, args)
        what = _what(family, config, "with nothing requiring grad")
        holders = []
        if isinstance(obj, nn.Module):
            holders = [name for name, p in obj.named_parameters() if p.requires_grad]
        assert not out.requires_grad and out.grad_fn is None, (
            f"{what}: the result requires grad (grad_fn {type(out.grad_fn).__name__})"
            + (f"; parameters still requiring grad: {holders}" if holders else ""))
