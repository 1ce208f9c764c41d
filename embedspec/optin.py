"""The device axis and the opt-in properties: options, markers, parametrisation.

- ``--embedspec-device=NAME`` names the accelerator of the device axis (``cuda``,
  ``cuda:1``, ``mps``); by default the first of CUDA and MPS that is present. A
  property that asks for ``embedspec_device`` runs once on the CPU and once on the
  accelerator; one that asks for ``embedspec_accelerator`` runs on the accelerator
  only. Accelerator cases carry the marker ``accelerator`` (``-m accelerator``
  selects them) and are skipped with the reason "no CUDA device" (or "no MPS
  device") where there is none. ``--embedspec-device=cpu`` removes the axis.
- Properties marked ``compile`` (``torch.compile``, slow) are deselected unless
  ``--embedspec-compile`` is given; ``--embedspec-compile-backend`` names the
  backend (default inductor).
"""

import pytest

ACCELERATOR_MARKER = "accelerator"
COMPILE_MARKER = "compile"

# Defaults of the options, read when the options are declared.
COMPILE_BY_DEFAULT = False
COMPILE_BACKEND = "inductor"


def pytest_addoption(parser):
    group = parser.getgroup("embedspec")
    group.addoption(
        "--embedspec-device",
        dest="embedspec_device",
        default=None,
        metavar="NAME",
        help="accelerator of the device axis: cuda, cuda:N or mps (default: CUDA, then MPS, when present; "
        "cpu: no accelerator axis)",
    )
    group.addoption(
        "--embedspec-compile",
        dest="embedspec_compile",
        action="store_true",
        default=COMPILE_BY_DEFAULT,
        help="also run the torch.compile properties (marker 'compile'; slow, off by default)",
    )
    group.addoption(
        "--embedspec-compile-backend",
        dest="embedspec_compile_backend",
        default=COMPILE_BACKEND,
        metavar="NAME",
        help=f"torch.compile backend of the compile properties (default: {COMPILE_BACKEND}; aot_eager is fast)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{ACCELERATOR_MARKER}: the case runs on the accelerator of the device axis (--embedspec-device)"
    )
    config.addinivalue_line("markers", f"{COMPILE_MARKER}: a torch.compile property, run only with --embedspec-compile")


def _available(device):
    import torch

    kind = device.split(":")[0]
    if kind == "cuda":
        index = int(device.split(":")[1]) if ":" in device else 0
        return torch.cuda.is_available() and index < torch.cuda.device_count()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return False


def accelerator(config):
    """The accelerator of the device axis, or None when the axis is switched off."""
    chosen = config.getoption("embedspec_device", default=None)
    if chosen:
        return None if chosen == "cpu" else chosen
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cuda"  # listed, and skipped with its reason


def _accelerator_param(config):
    device = accelerator(config)
    if device is None:
        return None
    marks = [getattr(pytest.mark, ACCELERATOR_MARKER)]
    if not _available(device):
        marks.append(pytest.mark.skip(reason=f"no {device.split(':')[0].upper()} device"))
    return pytest.param(device, marks=marks, id=device)


@pytest.hookimpl(trylast=True)  # after the properties' own parametrisation: ids read family-device
def pytest_generate_tests(metafunc):
    names = metafunc.fixturenames
    if "embedspec_device" in names:
        params = [pytest.param("cpu", id="cpu")]
        extra = _accelerator_param(metafunc.config)
        metafunc.parametrize("embedspec_device", params + ([extra] if extra else []))
    if "embedspec_accelerator" in names:
        extra = _accelerator_param(metafunc.config)
        if extra is None:
            extra = pytest.param(None, marks=pytest.mark.skip(reason="no accelerator axis (--embedspec-device=cpu)"),
                                 id="no-accelerator")
        metafunc.parametrize("embedspec_accelerator", [extra])


def pytest_collection_modifyitems(config, items):
    if config.getoption("embedspec_compile", default=False):
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker(COMPILE_MARKER) else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
