"""Checkpoints by hand (Lightning: `ModelCheckpoint`), and training-order listing for both sides."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

CHECKPOINT_SUFFIX = ".ckpt"


def checkpoint_name(epoch: int, global_step: int) -> str:
    """The same file name Lightning's ModelCheckpoint(filename="{epoch}-{step}") writes."""
    return f"epoch={epoch}-step={global_step}{CHECKPOINT_SUFFIX}"


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename: a killed run never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict:
    """Load without executing code: weights_only=True accepts tensors and plain containers only."""
    return torch.load(path, map_location="cpu", weights_only=True)


def in_training_order(folder: Path) -> list[tuple[int, int, Path]]:
    """Every checkpoint in `folder` as (epoch, global_step, path), sorted by when training wrote it.

    `os.listdir` returns files in no guaranteed order, and string order puts "epoch=10" before
    "epoch=2": the order comes from the (epoch, global_step) stored inside each file, which both
    sides write under these same keys.
    """
    found = []
    for path in Path(folder).iterdir():
        if path.suffix == CHECKPOINT_SUFFIX and path.is_file():
            ckpt = load_checkpoint(path)
            found.append((int(ckpt["epoch"]), int(ckpt["global_step"]), path))
    return sorted(found, key=lambda t: (t[0], t[1]))
