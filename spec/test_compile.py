"""Compilation, across every family (opt-in: ``--embedspec-compile``; marker ``compile``).

``torch.compile(fullgraph=True)`` turns every graph break into an error that names
its reason, which is reported as the failure. The call compiled is the family's
whole call (``m(x)``, ``m.project(m.embed(ids) + h)``, ``f(scores)``, the factory of
a table), so a module is traced through its submodules.
"""

import pytest
import torch

from . import tolerances
from .families import F32, Excluded, TableCall, excluded_at_runtime, over_families

pytestmark = pytest.mark.compile

LENGTHS = (2, 3, 4, 5, 6)


def _compiled_call(family, obj, args, **options):
    """A compiled function of no arguments computing family.run(obj, args), and its eager twin."""
    if isinstance(obj, TableCall):
        sizes, kwargs = obj.resolved()
        factory = obj.factory
        compiled = torch.compile(lambda: factory(*sizes, **kwargs), fullgraph=True, **options)
        return compiled
    compiled = torch.compile(lambda *a: family.run(obj, a), fullgraph=True, **options)
    return lambda: compiled(*args)


def _backend(config):
    return config.getoption("embedspec_compile_backend", default=None) or "inductor"


def _graph_break(what, exc):
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return AssertionError(f"{what}: torch.compile(fullgraph=True) failed ({type(exc).__name__}): {first}")


class _CountingBackend:
    """A backend that counts the graphs dynamo hands it and runs them eagerly."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph, example_inputs):
        self.graphs += 1
        return graph.forward


@over_families
def test_compiled_agrees_with_eager(family, embedspec_implementation, conventions, embedspec_device, pytestconfig):
    """COMPILE-EAGER-01 (must): torch.compile(fullgraph=True) of the family's call compiles without a graph break and agrees with eager within twice the float32 tolerance."""
    factory = embedspec_implementation.factory(family.name)
    config = family.supported_configs(embedspec_implementation)[0]
    torch._dynamo.reset()
    obj = family.make(factory, config, conventions, device=embedspec_device)
    args = family.inputs(obj, config, device=embedspec_device)
    eager = family.run(obj, args)
    what = f"{family.name} [{config['label']}]"
    try:
        compiled = _compiled_call(family, obj, args, backend=_backend(pytestconfig))()
    except Exception as exc:
        raise _graph_break(what, exc) from exc
    atol = tolerances.compiled_atol(family.atol(family.expected(obj, args, config, conventions), args, F32, config,
                                                conventions))
    family.same(compiled, eager, args, config, conventions, atol=atol, what=f"{what}: compiled against eager")


@over_families
def test_dynamic_length_compiles_once(family, embedspec_implementation, conventions, embedspec_device):
    """COMPILE-DYN-01 (should): a dynamic sequence length does not recompile for every length: calls at five lengths compile at most two graphs (one static, one dynamic), each without a graph break."""
    factory = embedspec_implementation.factory(family.name)
    config = family.supported_configs(embedspec_implementation)[0]
    torch._dynamo.reset()
    obj = family.make(factory, config, conventions, device=embedspec_device)
    counter = _CountingBackend()
    what = f"{family.name} [{config['label']}]"
    compiled = None
    for length in LENGTHS:
        try:
            target, args = family.at_length(obj, config, conventions, length, embedspec_device)
        except Excluded as reason:
            excluded_at_runtime(str(reason))
        try:
            if isinstance(target, TableCall):
                sizes, kwargs = target.resolved()
                if compiled is None:
                    compiled = torch.compile(lambda *s: target.factory(*s, **kwargs), fullgraph=True, backend=counter)
                compiled(*sizes)
            else:
                if compiled is None:
                    compiled = torch.compile(lambda *a: family.run(target, a), fullgraph=True, backend=counter)
                compiled(*args)
        except Exception as exc:
            raise _graph_break(f"{what} at length {length}", exc) from exc
    assert counter.graphs <= 2, f"{what}: {counter.graphs} graphs compiled for the lengths {LENGTHS}: one per length"
