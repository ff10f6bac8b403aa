"""The result record both sides return, and how it is written (`metrics.json`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn


def params_sha256(model: nn.Module) -> str:
    """sha256 of the raw bytes of every parameter, in `named_parameters()` order."""
    h = hashlib.sha256()
    for _, p in model.named_parameters():
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def atomic_write(path: Path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block finishes.

    An error, Ctrl-C or SIGTERM (see config.main_guard) inside the block removes the temporary file, so
    a reader only ever sees the old file or the complete new one. Every file the suite writes for
    keeps (checkpoints, metrics.json, benchmark JSON, REPORT.md, plots) goes through here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600; a kept file gets the mode open() would give it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_json_atomic(path: Path, obj) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")


@dataclass
class RunRecord:
    impl: str  # "raw" or "lightning"
    workload: str  # "minimal" or "autoencoder"
    device: str
    precision: str
    dataset: str
    seed: int
    train_loss: list[float]  # one per optimizer step, in order (float32 values, exact in JSON)
    val_loss: list[float]  # one per epoch, sanity check excluded
    test_loss: float
    params_sha256: str
    skipped_steps: int = 0  # optimizer steps GradScaler skipped (16-mixed); 0 otherwise
    model: nn.Module | None = field(default=None, repr=False)  # the trained shared model (not serialized)

    def to_json(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "model"}
        return d

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / "metrics.json"
        write_json_atomic(path, self.to_json())
        return path

    def summary(self) -> str:
        last = f"{self.train_loss[-1]:.6g}" if self.train_loss else "none (no gradient step)"
        val = f"{self.val_loss[-1]:.6g}" if self.val_loss else "none"
        return (
            f"[{self.impl}] {self.workload} on {self.device} ({self.precision}, {self.dataset}, seed {self.seed}): "
            f"{len(self.train_loss)} steps, last train_loss {last}, last val_loss {val}, "
            f"test_loss {self.test_loss:.6g}, params sha256 {self.params_sha256[:12]}"
            + (f", {self.skipped_steps} steps skipped by GradScaler" if self.precision == "16-mixed" else "")
        )
