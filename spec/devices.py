"""Device placement, checked on any machine, a CPU-only one included.

Two instruments:

- `StrayTensors`, a TorchFunctionMode entered inside ``torch.device("meta")``: the
  inputs stay on their device with real values, the default device is switched to
  meta, so every factory call made without ``device=`` (a bare ``torch.arange(S)``,
  a mask or a cache built on the default device) lands on meta and is recorded with
  its function and shape. It avoids the false positives a user would never forgive:
  0-dim results are remade on the inputs' device (a Python scalar wrapped in a tensor
  is legal across devices), data-dependent validation (``if ids.max() >= n``) sees
  real values because the inputs are real, and only tensors *born* on meta are
  reported, not the results computed from them, nor what torch's own kernels do.
- `move_and_call`, which moves a module with ``.to(device)`` and calls it with inputs
  on that device. On a CPU-only machine the device is meta: a tensor the move left
  behind (a table kept as a plain attribute) shows as an error naming the device, or
  as an output that is not on meta. Where the call itself needs values (validation
  calls ``.item()``, which meta cannot answer, or enters autocast, which meta has not), the run is inconclusive and the
  tensors held outside the module's parameters and buffers are inspected instead.
"""

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

STRAY = "meta"

# Messages of errors that only say what the meta device cannot do: answer a question about values, or enter
# torch.autocast("meta") (even disabled: there is no autocast dtype for meta), as code that turns autocast off
# around its angles does on the inputs' device.
_META_CANNOT = ("cannot be called on meta tensors", "copy out of meta tensor", "data-independent",
                "data-dependent", "no data", "unsupported scalarType")


def _name(func):
    name = getattr(func, "__name__", None) or repr(func)
    owner = getattr(func, "__objclass__", None)
    return f"Tensor.{name}" if owner is torch.Tensor or owner is torch._C.TensorBase else f"torch.{name}"


def _tensors(value):
    return [leaf for leaf in tree_leaves(value) if isinstance(leaf, torch.Tensor)]


class StrayTensors(TorchFunctionMode):
    """Records every tensor of one or more dimensions born on the stray (default) device."""

    def __init__(self, expected, stray=STRAY):
        super().__init__()
        self.expected, self.stray = torch.device(expected), torch.device(stray)
        self.found = []

    def _on_stray(self, tensor):
        return tensor.device.type == self.stray.type

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        born_here = not any(self._on_stray(t) for t in _tensors((args, kwargs)))
        if not born_here:
            return result  # computed from a stray tensor already recorded (or from the caller's own)
        if isinstance(result, torch.Tensor) and self._on_stray(result) and result.dim() == 0:
            try:  # a scalar: legal across devices; make it where it would be usable
                return func(*args, **{**kwargs, "device": self.expected})
            except Exception:
                return result
        for tensor in _tensors(result):
            if self._on_stray(tensor) and tensor.dim() > 0:
                self.found.append(f"{_name(func)} -> shape {tuple(tensor.shape)}")
        return result

    def describe(self):
        shown = "; ".join(self.found[:5]) + ("; ..." if len(self.found) > 5 else "")
        return (f"{len(self.found)} tensor(s) made on the default device instead of the inputs' "
                f"{self.expected} (no device= given): {shown}")


def call_with_default_device_switched(call, expected):
    """Run ``call()`` with the default device switched to meta; return (result or None, recorder, exception)."""
    recorder = StrayTensors(expected)
    try:
        with torch.device(STRAY), recorder:
            return call(), recorder, None
    except Exception as exc:  # reported by the caller, after the strays that probably caused it
        return None, recorder, exc


def held_tensors(module, prefix=""):
    """(name, tensor) of every tensor a module and its submodules hold outside parameters and buffers."""
    found = []
    for path, sub in module.named_modules(prefix=prefix):
        for key, value in vars(sub).items():
            if key.startswith("_") and key in ("_parameters", "_buffers", "_modules"):
                continue
            for tensor in _tensors(value) if isinstance(value, (list, tuple, dict, torch.Tensor)) else []:
                if not isinstance(tensor, torch.nn.Parameter):
                    found.append((f"{path}.{key}" if path else key, tensor))
    return found


def registered_elsewhere(module, device):
    """Names of the parameters and buffers of ``module`` that are not on ``device``."""
    device = torch.device(device)
    return [f"{kind} {name} on {t.device}"
            for kind, named in (("parameter", module.named_parameters()), ("buffer", module.named_buffers()))
            for name, t in named if t.device.type != device.type]


def left_behind(module, device):
    """Names of parameters, buffers and other held tensors not on ``device`` after a move."""
    device = torch.device(device)
    return registered_elsewhere(module, device) + [
        f"attribute {name} on {t.device}" for name, t in held_tensors(module) if t.device.type != device.type]


def meta_cannot_run(exc):
    """Whether an error only says that the meta device cannot run the call: a question about values, or autocast."""
    message = str(exc)
    return any(fragment in message for fragment in _META_CANNOT)


def mentions_device(exc):
    message = str(exc).lower()
    return "device" in message
