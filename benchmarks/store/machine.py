"""Which machine a run was measured on: the results/ folder name and the versions saved with every run."""

from __future__ import annotations

import os
import platform
import re
import sys

import torch


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(device: str = "cpu") -> str:
    """The results/ folder of this machine: cpu-<model>-<cores>core, or cuda-<gpu model>."""
    if device == "cuda":
        name = "cuda-" + torch.cuda.get_device_name(0)
    else:
        name = f"cpu-{cpu_model()}-{os.cpu_count()}core"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def machine_id() -> str:
    """pytest-benchmark's id of this interpreter (the folder the saved runs of this machine are in)."""
    impl = platform.python_implementation()
    major, minor = platform.python_version_tuple()[:2]
    return f"{platform.system()}-{impl}-{major}.{minor}-{64 if sys.maxsize > 2**32 else 32}bit"


def versions() -> dict:
    import pytorch_lightning

    info = {
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
