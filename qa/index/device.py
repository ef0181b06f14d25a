"""Which torch device the models run on: `QA_DEVICE` = auto | cpu | cuda | cuda:N | mps.

`auto` takes a CUDA GPU when torch sees one, then Apple's MPS, then the CPU. Asking for a device this
machine does not have is a `DeviceError` whose message is one sentence a person can act on (the CLI and
the server show it as is), never a traceback from deep inside torch.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from qa.index.errors import DeviceError

__all__ = ["DEVICE_CHOICES", "DEVICE_PATTERN", "DeviceError", "resolve_device"]

DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?|mps"
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def cpu_only_torch() -> bool:
    """True when the installed torch is a CPU-only build off macOS, so `auto` can only mean the CPU:
    answered from the package's version ("2.13.0+cpu") without importing torch (~2 s)."""
    try:
        return "+cpu" in metadata.version("torch") and sys.platform != "darwin"
    except metadata.PackageNotFoundError:
        return False


def resolve_device(name: str = "auto") -> str:
    """The torch device string to run on for `name` ("auto" picks CUDA, then MPS, then the CPU)."""
    name = (name or "auto").strip().lower()
    if not re.fullmatch(DEVICE_PATTERN, name):
        raise DeviceError(f"QA_DEVICE must be one of {DEVICE_CHOICES}, not {name!r}.")
    if name == "cpu" or (name == "auto" and cpu_only_torch()):
        return "cpu"
    import torch

    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda_count else "mps" if mps else "cpu"
    if name == "mps":
        if not mps:
            raise DeviceError(
                "QA_DEVICE=mps asks for Apple's Metal GPU, but torch finds none on this machine: "
                "set QA_DEVICE=auto or cpu."
            )
        return "mps"
    if cuda_count == 0:
        cuda = torch.version.cuda
        build = "a CPU-only torch build" if cuda is None else f"torch built for CUDA {cuda}"
        raise DeviceError(
            f"QA_DEVICE={name} asks for a CUDA GPU, but torch ({torch.__version__}, {build}) finds none on "
            "this machine: set QA_DEVICE=auto or cpu, or on a GPU host install a CUDA torch with "
            "`make cuda-torch`."
        )
    if ":" in name and int(name.split(":")[1]) >= cuda_count:
        raise DeviceError(
            f"QA_DEVICE={name} names a CUDA GPU this machine does not have (it has {cuda_count}, "
            f"cuda:0 to cuda:{cuda_count - 1})."
        )
    return name
