"""Checkpoint files for both sides: names, atomic saving, safe loading, the --resume checks, training order.

Every checkpoint either side reads goes through `load_checkpoint` first: `weights_only=True` (tensors
and plain containers, no code), and a one-line `CheckpointError` naming the file for anything else.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import torch

from raw_torch.common.config import RunConfig
from raw_torch.common.errors import UsageError
from raw_torch.common.files import atomic_write
from raw_torch.common.world import world

CHECKPOINT_SUFFIX = ".ckpt"
# What must agree between the files of one folder: every setting that changes the weights (the files of one
# run, whose test losses are one curve), and so the model's shape and the test set it is evaluated on.
SAME_RUN = (
    "seed",
    "solver",
    "dataset",
    "hidden",
    "batch_size",
    "precision",
    "lr",
    "weight_decay",
    "epochs",
    "limit_train_batches",
    "finetune_epochs",
    "finetune_lr",
)
# The flags that shape a run's trajectory: a resumed run must use the checkpoint's values. All of SAME_RUN but
# the seed (a resumed run takes its RNG from the checkpoint) and the epoch counts (a resumed run may train longer).
SAME_ON_RESUME = tuple(n for n in SAME_RUN if n not in ("seed", "epochs", "finetune_epochs"))


def as_typed(name: str, value):
    """A setting as its flag would be typed: a batch limit left at its default (None) is `1.0`, all batches."""
    return 1.0 if name.startswith("limit_") and value is None else value


def same(a, b, name: str = "") -> bool:
    """Equal and of one type: `--limit-train-batches 1` (one batch) is not `1.0` (all of them), though 1 == 1.0;
    the default (all batches) is `1.0`."""
    a, b = as_typed(name, a), as_typed(name, b)
    return type(a) is type(b) and a == b


def flag_words(name: str, value) -> str:
    return f"--{name.replace('_', '-')} {as_typed(name, value)}"


class CheckpointError(UsageError):
    """A checkpoint that cannot or must not be used: one line naming the file and the reason, exit 2."""


def checkpoint_name(epoch: int, global_step: int) -> str:
    """The same file name Lightning's ModelCheckpoint(filename="{epoch}-{step}") writes."""
    return f"epoch={epoch}-step={global_step}{CHECKPOINT_SUFFIX}"


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename: a killed run never leaves a half-written checkpoint."""
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines() or [type(e).__name__])[0]


def _kind_of(path: Path) -> str | None:
    """None for what torch.save writes (a zip archive, or a pickle in the legacy format); else what it looks like."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        return "a compressed file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file of another kind"
    return "a text file"


def load_checkpoint(path: Path) -> dict:
    """Load without executing code: weights_only=True accepts tensors and plain containers only.

    A file whose pickle names any other callable (`os.system`, a class's `__reduce__`) is refused
    before that callable is looked up, let alone called. Every refusal is one line naming the file and
    the real cause: missing, a folder, empty, not what torch.save writes, truncated, code inside, not ours.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    kind = _kind_of(path)
    if kind is not None:
        raise CheckpointError(f"{path}: {kind}, not a checkpoint (torch.save writes a zip archive)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        text = str(e)
        found = re.search(r"GLOBAL (\S+)", text)  # the weights-only unpickler met a callable to import
        if found:
            raise CheckpointError(
                f"{path}: refused, loading it would run code ({found.group(1)}); nothing from it was executed"
            ) from None
        unpickler = re.search(r"WeightsUnpickler error: (.+)", text)
        reason = unpickler.group(1).strip() if unpickler else _first_line(e)
        reason = textwrap.shorten(reason, 120, placeholder=" ...")  # whole words only
        raise CheckpointError(f"{path}: truncated or corrupt, cannot be read ({reason})") from None
    if not isinstance(ckpt, dict) or "run_config" not in ckpt or "epoch" not in ckpt:
        raise CheckpointError(f"{path}: not a checkpoint of this suite (no run_config/epoch inside)")
    return ckpt


SIDES = {"raw": ("model", "raw_torch"), "lightning": ("state_dict", "with_lightning")}


def check_side(path: Path, ckpt: dict, impl: str, command: str) -> None:
    """Refuse a checkpoint the other side wrote (raw keeps "model", Lightning "state_dict"), naming the command
    that reads it: `command` is the module name, "<workload>" for training or "evaluate"."""
    if SIDES[impl][0] not in ckpt:
        other = SIDES["lightning" if impl == "raw" else "raw"][1]
        verb = "evaluate" if command == "evaluate" else "resume"
        raise CheckpointError(
            f"{path}: written by the other side ({other}); {verb} it with python -m {other}.{command}"
        )


def load_for_resume(cfg: RunConfig, impl: str) -> dict | None:
    """The checkpoint named by --resume, checked against the run it is asked to continue; None without --resume.

    Refused (one line, exit 2): another workload, the other side's layout, other trajectory flags, or nothing
    left to train. A checkpoint without RNG state (e.g. from plain Lightning) is resumed with a warning.
    """
    if cfg.resume is None:
        return None
    path = Path(cfg.resume)
    ckpt = load_checkpoint(path)
    saved = RunConfig.from_dict(ckpt["run_config"])
    if saved.workload != cfg.workload:
        raise CheckpointError(
            f"{path}: a checkpoint of the {saved.workload} workload, this command trains {cfg.workload}"
        )
    check_side(path, ckpt, impl, cfg.workload)
    differ = [
        f"{flag_words(n, getattr(saved, n))} (checkpoint) vs {as_typed(n, getattr(cfg, n))} (this run)"
        for n in SAME_ON_RESUME
        if not same(getattr(saved, n), getattr(cfg, n), n)
    ]
    if differ:
        raise CheckpointError(f"{path}: trained with other settings: {'; '.join(differ)}")
    saved_world, this_world = ckpt.get("world_size", 1), world().world_size
    if saved_world != this_world:
        how = "as one process" if saved_world == 1 else f"under torchrun with {saved_world} processes in all"
        raise CheckpointError(
            f"{path}: written by a job of {saved_world} process(es), this one has {this_world}; resume it {how}"
        )
    if this_world > 1 and ckpt.get("mid_epoch"):
        raise CheckpointError(f"{path}: a mid-epoch checkpoint; under torchrun, resume from an epoch checkpoint")
    phase = ckpt.get("phase", 0)
    phase_epochs, flag = (cfg.epochs, "--epochs") if phase == 0 else (cfg.finetune_epochs, "--finetune-epochs")
    if not ckpt.get("mid_epoch") and ckpt["epoch"] + 1 >= phase_epochs:
        raise CheckpointError(
            f"{path}: {ckpt['epoch'] + 1} epochs already done; {flag} {phase_epochs} leaves nothing to train"
        )
    if "rng" not in ckpt:
        if ckpt.get("mid_epoch"):
            raise CheckpointError(f"{path}: a mid-epoch checkpoint without RNG state cannot be resumed")
        print(
            f"warning: {path} holds no RNG state: the resumed run will shuffle differently from an uninterrupted one",
            file=sys.stderr,
        )
    return ckpt


def in_training_order(folder: Path, impl: str | None = None) -> list[tuple[int, int, Path]]:
    """Every checkpoint in `folder` as (epoch, global_step, path), sorted by when training wrote it.

    `os.listdir` returns files in no guaranteed order, and string order puts "epoch=10" before
    "epoch=2": the order comes from the (epoch, global_step) stored inside each file, which both
    sides write under these same keys. With `impl`, each file must be that side's (`check_side`).
    """
    found = []
    for path in Path(folder).iterdir():
        if path.suffix == CHECKPOINT_SUFFIX and path.is_file():
            ckpt = load_checkpoint(path)
            if impl is not None:
                check_side(path, ckpt, impl, "evaluate")
            found.append((int(ckpt["epoch"]), int(ckpt["global_step"]), path, ckpt["run_config"]))
    found.sort(key=lambda t: (t[0], t[1]))
    for _, _, path, run_config in found[1:]:  # one run's files: the same settings as the first
        first, saved = found[0][3], run_config
        if first.get("workload") != saved.get("workload"):
            differ = [f"a checkpoint of the {saved.get('workload')} workload, not {first.get('workload')}"]
        else:
            differ = [
                f"{flag_words(n, saved.get(n))} vs {as_typed(n, first.get(n))}"
                for n in SAME_RUN
                if not same(saved.get(n), first.get(n), n)
            ]
        if differ:
            raise CheckpointError(
                f"{path}: from another run than {found[0][2].name} ({'; '.join(differ)}); "
                "evaluate one run's checkpoints at a time"
            )
    return [(epoch, step, path) for epoch, step, path, _ in found]


def checkpoints_or_fail(folder: Path, impl: str) -> list[tuple[int, int, Path]]:
    """`in_training_order` for the evaluate commands: a folder of one side's checkpoints, at least one, or one line."""
    folder = Path(folder)
    if folder.is_file():
        raise UsageError(f"{folder}: is a file; give a run's checkpoints/ folder")
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    found = in_training_order(folder, impl)
    if not found:
        where = " (its checkpoints/ folder holds them)" if (folder / "checkpoints").is_dir() else ""
        raise UsageError(f"{folder}: no .ckpt files{where}")
    return found
