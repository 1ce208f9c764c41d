"""Diagnoses that point the right way (issue 14, item 6): each failure says what was observed, not a cause that
was not established; a value counts as named only where it cannot be a coincidence; the harness's own operations
never fail in the implementation's name."""

import threading
import types
from pathlib import Path

import pytest
import torch

import embedspec.reference as reference
from embedspec.loading import load_implementation
from embedspec.reference.rope import RotaryEmbedding, rotate_half
from embedspec.report import _message, without_tensor_dumps
from embedspec.spec import test_rope as rope_spec
from embedspec.spec.calls import names_value
from embedspec.spec.families import REGISTRY, cast_diagnosis
from tests.inline import run_inline
from tests.mutants.cross_cutting import CastRope

SPEC = Path(__file__).resolve().parent.parent / "spec"

# --- ROPE-ODD-01: "expected 2, got 1" does not name head_dim 1 ------------------------------------------------


def test_a_single_digit_is_named_only_beside_its_name():
    assert not names_value("not enough values to unpack (expected 2, got 1)", 1, called=("dim",))
    assert names_value("head_dim must be even, got 1", 1, called=("dim",))
    assert names_value("odd embedding dimension: 3", 3, called=("dim",))
    assert names_value("num_heads=0 is not positive", 0, called=("head",))
    assert not names_value("index 0 is out of bounds for dimension 0 with size 0", 0, called=("head",))
    assert names_value("63 is odd", 63, called=("dim",))  # two digits: not there by coincidence
    assert names_value("got -1", -1, called=("dim",))
    assert not names_value("got 19", 9, called=("dim",)) and not names_value("dim 9.5", 9, called=("dim",))


def _rope_raising(message):
    def rope(head_dim, *, base=10000.0, max_seq_len=4096):
        if head_dim % 2:
            raise ValueError(message)
        return reference.rope(head_dim, base=base, max_seq_len=max_seq_len)

    return load_implementation(types.SimpleNamespace(rope=rope)).factory("rope")


def test_rope_odd_01_does_not_take_a_coincidental_number():
    """ROPE-ODD-01 accepted the unpacking error of a head_dim-1 tensor as naming head_dim 1."""
    body = rope_spec.test_odd_head_dim_rejected.hypothesis.inner_test
    with pytest.raises(AssertionError, match=r"does not name '1' beside 'dim'"):
        body(rope=_rope_raising("not enough values to unpack (expected 2, got 1)"), head_dim=1, seq=1)
    body(rope=_rope_raising("head_dim must be even, got 1"), head_dim=1, seq=1)


# --- DEV-PREC-01: what the module holds after the cast, not an unestablished cause -------------------------------


def _precision_failure(rope_class):
    """DEV-PREC-01's message for a rope module of ``rope_class``."""
    from embedspec.spec.test_devices import test_accurate_at_large_positions_after_cast

    def rope(head_dim, *, base=10000.0, max_seq_len=4096, rotary_dim=None, device=None):
        return rope_class(head_dim, base=base, max_seq_len=max_seq_len, rotary_dim=rotary_dim, device=device)

    implementation = load_implementation(types.SimpleNamespace(rope=rope))
    with pytest.raises(AssertionError) as failed:
        test_accurate_at_large_positions_after_cast(REGISTRY["rope"], implementation, implementation.conventions,
                                                    "cpu")
    return str(failed.value)


def test_dev_prec_01_names_the_buffer_the_cast_rounded():
    """The frequencies are a buffer cast with the model: the angles p * w are formed in float32 from bfloat16
    frequencies. The message said "the angles are not formed in float32"; it names the buffer."""
    message = _precision_failure(CastRope)
    assert "after the cast the module holds buffer inv_freq" in message and "torch.bfloat16" in message, message
    assert "the angles are not formed in float32" not in message


class _AnglesInInputDtype(RotaryEmbedding):
    """Frequencies kept in float32 through the cast (the reference's guard), angles formed in x's dtype."""

    def forward(self, x, positions):
        angles = positions.to(x.dtype)[..., None] * self.inv_freq.to(x.dtype)
        angles = torch.cat([angles, angles], dim=-1).unsqueeze(-2)
        return x * angles.cos() + rotate_half(x) * angles.sin()


def test_dev_prec_01_says_when_nothing_was_cast():
    message = _precision_failure(_AnglesInInputDtype)
    assert "the module holds no tensor in a half precision after the cast" in message, message


def test_cast_diagnosis_lists_half_precision_buffers_only():
    module = torch.nn.Module()
    module.register_buffer("inv_freq", torch.ones(4, dtype=torch.bfloat16))
    module.register_buffer("kept", torch.ones(4))
    module.weight = torch.nn.Parameter(torch.ones(2, dtype=torch.float16))  # a cast owes a parameter's rounding
    assert "buffer inv_freq (4,) torch.bfloat16" in cast_diagnosis(module)
    assert "kept" not in cast_diagnosis(module) and "weight" not in cast_diagnosis(module)


# --- DEV-MOVE-01 and DEV-STRAY-01: the harness never deep-copies a module ------------------------------------


def test_a_module_that_cannot_be_copied_is_moved_and_checked(monkeypatch, tmp_path):
    """A module holding a process-group handle (here a lock) cannot be deep-copied: DEV-MOVE-01 reported "the move
    raised TypeError: cannot pickle" when it was the harness's copy that failed. Built afresh instead, the module's
    move and its stray tensors are judged on their own: both pass for a correct module."""
    run = run_inline([str(SPEC / "test_devices.py"), "-k", "DEV-MOVE-01 or DEV-STRAY-01 or DEV-STATE-01",
                      "--impl=tests.test_harness_messages:WITH_A_LOCK", "--hypothesis-seed=0"], monkeypatch, tmp_path)
    assert run.passed_any, run.code
    assert not run.failed, run.failure_lines(run.failed)


def _with_a_lock(head_dim, *, base=10000.0, max_seq_len=4096, device=None):
    module = reference.rope(head_dim, base=base, max_seq_len=max_seq_len, device=device)
    module.process_group = threading.Lock()  # as torch.distributed's handles: neither copied nor pickled
    return module


WITH_A_LOCK = types.SimpleNamespace(rope=_with_a_lock)


# --- a function family's errors, and tensors in messages ----------------------------------------------------


def test_a_function_family_error_is_not_a_factory_call():
    """A relative shift failure said "raised by the factory call" for a function family, and printed its tensor."""
    def relative_shift(scores):
        raise ValueError("cannot view a zero-size batch")

    shift = load_implementation(types.SimpleNamespace(relative_shift=relative_shift)).factory("relative_shift")
    with pytest.raises(ValueError) as raised:
        shift(torch.zeros(0, 3, 5))
    assert raised.value.__notes__ == [
        "raised by the call SimpleNamespace.relative_shift(<tensor of shape (0, 3, 5), torch.float32>)"]


def test_messages_carry_no_tensor_dump():
    """DEV-CAST-01 printed a tensor an implementation's error held; a report's message counts its numbers."""
    table = torch.arange(40.0).reshape(8, 5)
    message = _message(RuntimeError(f"cannot cast the table {table} to torch.float16"))
    assert message == "RuntimeError: cannot cast the table tensor(<40 numbers>) to torch.float16"
    assert without_tensor_dumps("tensor([1, 2]), tensor(3.)") == "tensor([1, 2]), tensor(3.)"
