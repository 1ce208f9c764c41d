"""The device-placement checker (spec/devices.py): what it names, and the false positives it must not raise."""

import pytest
import torch
from torch import nn

from spec import devices


def _run(call):
    return devices.call_with_default_device_switched(call, "cpu")


def test_bare_factory_is_named_with_function_and_shape():
    x = torch.randn(2, 5, 4)
    out, recorder, exc = _run(lambda: x + torch.arange(5)[None, :, None])
    assert out is None and exc is not None  # a meta tensor cannot meet a CPU one
    assert recorder.found == ["torch.arange -> shape (5,)"]
    assert "torch.arange -> shape (5,)" in recorder.describe()


def test_factory_with_device_is_not_reported():
    x = torch.randn(2, 5, 4)
    out, recorder, exc = _run(lambda: x + torch.arange(5, device=x.device)[None, :, None])
    assert exc is None and not recorder.found
    assert out.device.type == "cpu"


def test_scalars_are_legal_across_devices():
    x = torch.randn(3)
    out, recorder, exc = _run(lambda: x * torch.tensor(2.0))
    assert exc is None and not recorder.found
    assert torch.equal(out, x * 2)


def test_data_dependent_validation_sees_real_values():
    ids = torch.tensor([0, 3, 9])

    def lookup():
        if ids.max() >= 10:  # needs values: the inputs stay real
            raise IndexError("out of range")
        return torch.nn.functional.embedding(ids, torch.ones(10, 2))

    out, recorder, exc = _run(lookup)
    assert exc is None
    # the weight was made without device=: that is reported, the validation is not
    assert recorder.found == ["torch.ones -> shape (10, 2)"]


def test_only_tensors_born_on_the_default_device_are_reported():
    x = torch.randn(4)
    out, recorder, exc = _run(lambda: (torch.zeros(4) + 1).sum() + x)
    assert recorder.found == ["torch.zeros -> shape (4,)"]  # not the add and the sum computed from it


class _PlainAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = torch.ones(3, 2)  # not a buffer
        self.register_buffer("registered", torch.ones(3, 2))


def test_left_behind_names_plain_attributes():
    module = _PlainAttribute().to("meta")
    assert devices.left_behind(module, "meta") == ["attribute table on cpu"]


def test_meta_cannot_run_recognises_meta_limits():
    meta = torch.zeros(3, device="meta")
    with pytest.raises(Exception) as values:
        meta.max().item()
    assert devices.meta_cannot_run(values.value)
    with pytest.raises(Exception) as autocast:
        with torch.autocast(meta.device.type, enabled=False):
            pass
    assert devices.meta_cannot_run(autocast.value)
    assert not devices.meta_cannot_run(RuntimeError("Tensor on device cpu is not on the expected device meta!"))
