"""Each Lightning release in a folder of its own: `pip install --no-deps --target FOLDER pytorch-lightning==X` (the
wheel holds `pytorch_lightning` and `lightning_fabric`), plus what that release needs that this venv's newer
packages dropped (an older setuptools for the releases that import pkg_resources). The folder goes first on
PYTHONPATH for the processes that measure the release; torch, lightning-utilities, torchmetrics, tensorboard and
the rest stay the venv's. The venv is never installed into: `snapshot` (pip's list of it) is taken before and
compared after, and a difference is an error.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

RELEASES = ("2.0.9", "2.1.4", "2.2.5", "2.3.3", "2.4.0", "2.5.6", "2.6.6")  # the last of each minor release
NOTE_RELEASE = "1.9.5"  # the generation the user's note was written for
SMOKE_RELEASES = ("2.0.9", "2.6.6")
# Releases up to 2.3 call pkg_resources.declare_namespace when lightning_fabric is imported; setuptools 70
# removed pkg_resources, so those get an older setuptools in their folder (found in the installed file, not listed)
NEEDS_PKG_RESOURCES = "pkg_resources"
OLD_SETUPTOOLS = "setuptools<70"


def pip() -> list[str]:
    """The pip to run: this interpreter's, or PAIRED_PIP (a command line; the tests' stand-in)."""
    return shlex.split(os.environ["PAIRED_PIP"]) if os.environ.get("PAIRED_PIP") else [sys.executable, "-m", "pip"]


def snapshot() -> list[tuple[str, str]]:
    """(name, version) of every distribution in this venv, as pip lists them."""
    out = subprocess.run([*pip(), "list", "--format=json"], capture_output=True, text=True, check=True).stdout
    return sorted((d["name"].lower(), d["version"]) for d in json.loads(out))


def install(release: str, work: Path) -> tuple[Path, list[str]]:
    """The release's folder under `work`, made by pip, and what it needed there beyond the release itself."""
    target = work / f"pytorch-lightning-{release}"
    _pip_install(target, f"pytorch-lightning=={release}")
    extras = []
    fabric = target / "lightning_fabric" / "__init__.py"
    if fabric.is_file() and NEEDS_PKG_RESOURCES in fabric.read_text():
        extras.append(OLD_SETUPTOOLS)
        _pip_install(target, OLD_SETUPTOOLS)
    return target, extras


def _pip_install(target: Path, requirement: str) -> None:
    cmd = [*pip(), "install", "--quiet", "--no-deps", "--no-warn-conflicts", "--disable-pip-version-check",
           "--target", str(target), requirement]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("WARNING")][-1:]
        raise RuntimeError(f"pip could not install {requirement}: {' '.join(tail) or done.returncode}")


def environment(target: Path) -> dict[str, str]:
    """The environment of a process that measures the release in `target`."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])])}
