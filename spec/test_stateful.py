"""Call sequences, across every module family: random sequences of calls, each checked against the oracle.

Modules that cache (tables grown on demand, cos/sin caches, position counters) are
where a value computed for one call is served to the next. A Hypothesis state
machine drives each module through calls of varying length (below, at and past its
cache), position offset and input dtype, interleaved with casts (``.to(dtype)``,
``.half()``, ...), moves (``.to(device)``) and ``train()``/``eval()`` switches, and
checks every result against the float64 oracle of that call alone. On a failure,
Hypothesis shrinks to the shortest sequence of calls that shows it and prints it.

Past the cache: where a family's calls take positions (RoPE), one call in two starts
past the cache, up to thousands of positions past it (``Family.sequence_reach``), so
that a cache regrown after a cast to bfloat16 or float16 is met at positions where
low-precision angles are off by radians; a call there may be refused where the
contract allows it (ROPE-BEYOND-01 judges the refusal).
"""

import torch
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test
from torch import nn

from . import tolerances
from .families import BF16, F16, F32, F64, FLOAT_DTYPES, over_families

# Bound when this module is imported, under the plugin's profile, ten steps at most each, and
# at least 50 programs (dev's 20 rarely reach two calls of one shape in two dtypes: Hypothesis
# tries the shortest programs first); ci's 100 and thorough's 1000 stay as they are.
STATEFUL = settings(settings(), stateful_step_count=10, max_examples=max(settings().max_examples, 50))

CAST_METHODS = {F64: "double", F32: "float", F16: "half", BF16: "bfloat16"}


def call_sequence_machine(family, factory, conventions, devices, configs):
    """A state machine for one family: a fresh module per run, then random rules."""

    class CallSequence(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.obj = None
            self.last_call = None

        @initialize(config=st.sampled_from(configs))
        def build(self, config):
            torch.manual_seed(0)
            self.config = config
            self.obj = family.make(factory, config, conventions)
            self.module_dtype, self.device = F32, "cpu"

        def is_module(self):
            return isinstance(self.obj, nn.Module)

        @rule(data=st.data(), dtype=st.sampled_from(FLOAT_DTYPES), seed=st.integers(0, 3), training=st.booleans())
        def call(self, data, dtype, seed, training):
            longest, largest_offset = family.sequence_limits(self.config, conventions)
            reach = family.sequence_reach(self.config, conventions)
            length = data.draw(st.integers(1, longest), label="length")
            past = reach > 0 and data.draw(st.booleans(), label="past the cache")
            offsets = (st.integers(largest_offset + 1, largest_offset + reach) if past
                       else st.integers(0, max(0, largest_offset - length + 1)))
            offset = data.draw(offsets, label="offset")
            self.check_call(length, offset, dtype, seed, training, past)

        def called_before(self):
            return self.last_call is not None

        # A cache keyed on the shape alone serves one call's values, or its dtype, to the next call of that
        # shape: the same call again in another dtype is the sequence that shows it.
        @precondition(called_before)
        @rule(dtype=st.sampled_from(FLOAT_DTYPES))
        def call_again_in_another_dtype(self, dtype):
            length, offset, seed, training, past = self.last_call
            self.check_call(length, offset, dtype, seed, training, past)

        def check_call(self, length, offset, dtype, seed, training, past=False):
            self.last_call = (length, offset, seed, training, past)
            if self.is_module():
                self.obj.train(training)  # a train()/eval() switch before the call, or the same mode again
            dtype = family.input_dtype(self.obj, dtype)
            args = family.sequence_inputs(self.obj, self.config, conventions, length=length, offset=offset,
                                          dtype=dtype, seed=seed, device=self.device)
            try:
                out = family.run(self.obj, args)
            except Exception:
                if past:
                    return  # refused past the cache
                raise
            mode = ("train" if training else "eval") if self.is_module() else "call"
            what = (f"{family.name} [{self.config['label']}] {mode} call of length {length} from offset {offset} "
                    f"in {dtype}")
            ok, wanted = family.dtype_ok(out, self.obj, args, dtype)
            assert ok, f"{what}: output dtype {out.dtype}, expected {wanted}"
            assert out.device.type == torch.device(self.device).type, (
                f"{what}: result on {out.device}, module on {self.device}")
            # built in float32: float32 accuracy at best, and the least precise of the module's and the input's dtype
            owed = tolerances.working_dtype(F32, self.module_dtype, dtype)
            family.check(out, self.obj, args, self.config, conventions, owed, what=what)

        @precondition(is_module)
        @rule(dtype=st.sampled_from(FLOAT_DTYPES), method=st.booleans())
        def cast(self, dtype, method):
            self.obj = getattr(self.obj, CAST_METHODS[dtype])() if method else self.obj.to(dtype)
            self.module_dtype = tolerances.working_dtype(dtype, self.module_dtype)  # precision lost stays lost

        if len(devices) > 1:  # on a CPU-only machine there is nowhere to move to

            @precondition(is_module)
            @rule(device=st.sampled_from(devices))
            def move(self, device):
                self.obj = self.obj.to(device)
                self.device = device

    CallSequence.__name__ = f"CallSequence_{family.name}"
    return CallSequence


@over_families
def test_call_sequences(family, embedspec_implementation, conventions, embedspec_device):
    """SEQ-CALLS-01 (must): through any sequence of calls - lengths below, at and past a cache, position offsets within it and thousands of positions past it, input dtypes - interleaved with casts, moves and train()/eval() switches, every result equals the float64 oracle of that call alone: no value computed for one call is served to another."""
    factory = embedspec_implementation.factory(family.name)
    devices = ["cpu"] if embedspec_device == "cpu" else ["cpu", embedspec_device]
    configs = family.supported_configs(embedspec_implementation)
    run_state_machine_as_test(call_sequence_machine(family, factory, conventions, devices, configs), settings=STATEFUL)
