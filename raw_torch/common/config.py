"""The run settings both sides take, each with its default and its help once, and what makes them valid.

One `RunConfig` drives `raw_torch.<workload>.run` and `with_lightning.<workload>.run`, so the only
variable between the two is the training framework. The command line is built from these fields
(`cli.build_parser`): a setting, its default and its help are written here and nowhere else.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from raw_torch.common.errors import UsageError
from raw_torch.common.world import world

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")  # Lightning's names, used on both sides
DEVICES = ("auto", "cpu", "cuda")
SOLVERS = ("adam", "lstsq")
DATASETS = ("mnist", "fashion-mnist", "mnist-5k", "synthetic")
WORKLOADS = ("minimal", "autoencoder")
SANITY_VAL_STEPS = 2  # Lightning: Trainer(num_sanity_val_steps=2), the default
MAX_SEED = 2**32 - 1  # numpy's legacy seeding (and Lightning's seed_everything) accept 0 .. 2**32 - 1

# Per-workload defaults: the note's minimal example and Lightning's front-page autoencoder.
DEFAULTS = {
    "minimal": {"epochs": 100, "batch_size": 4, "lr": 0.1},
    "autoencoder": {"epochs": 2, "batch_size": 32, "lr": 1e-3},
}


def setting(default, help: str, only: str | None = None, **flag):
    """A RunConfig field and its command-line flag: `only` names the one workload that has it; `flag` holds
    argparse extras (choices, metavar) and, for a boolean, `off=` the flag that switches it off or `on=` the one
    that switches it on."""
    return field(default=default, metadata={"help": help, "only": only, **flag})


def batch_limit(text: str) -> int | float:
    """The type of --limit-*-batches, by Lightning's rule: a whole number is a count of batches, a number with
    a point a share of them in [0.0, 1.0]; `1` is one batch, `1.0` all of them. A share above 1 that is a whole
    number (`5.0`) is a count, as Lightning's `_determine_batch_limits` makes it."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number of batches nor a share like 0.5") from None
    if 0.0 <= value <= 1.0:
        return value
    if value > 1 and value.is_integer():
        return int(value)
    raise argparse.ArgumentTypeError(f"{text!r}: a share must be in [0.0, 1.0]; a count, a whole number")


@dataclass(frozen=True)
class RunConfig:
    workload: str = field(metadata={"flag": False})  # chosen by the command, not a flag
    epochs: int = setting(None, "training epochs", metavar="N")  # None here: the per-workload DEFAULTS
    batch_size: int = setting(None, "batch size", metavar="N")
    lr: float = setting(None, "Adam learning rate", metavar="LR")
    seed: int = setting(0, f"seeds python, numpy and torch, 0 to {MAX_SEED}", metavar="N")
    device: str = setting("auto", "auto picks cuda when present", choices=DEVICES)
    precision: str = setting(
        "32-true", "16-mixed: autocast fp16 + GradScaler, on CPU too; bf16-mixed: autocast bf16", choices=PRECISIONS
    )
    limit_train_batches: int | float | None = setting(
        None,
        "train on N batches per epoch, or on a share F of them (0.5: half, 1.0: all; Lightning's rule)",
        metavar="N|F",
        type=batch_limit,
    )
    out: str | None = setting(None, "run folder, new or empty (default: a new runs/<impl>-<workload>-N)", metavar="DIR")
    weight_decay: float = setting(0.0, "Adam weight decay", metavar="WD")
    log_every_n_steps: int = setting(50, "TensorBoard train_loss interval, in steps", metavar="N")
    checkpoint_every: int = setting(1, "epochs between checkpoints, 0 = none", metavar="N")
    checkpoint_every_n_steps: int = setting(
        0, "also checkpoint every N optimizer steps, mid-epoch, into DIR/checkpoints/steps; 0 = off", metavar="N"
    )
    resume: str | None = setting(  # Lightning: fit(ckpt_path=...)
        None,
        "continue the run that wrote CKPT (a file of this command; pass the same flags, --epochs may grow); "
        "the continued run writes to --out, a new folder",
        metavar="CKPT",
    )
    progress_bar: bool = setting(True, "hide the progress bars", off="--no-progress-bar")
    logger: bool = setting(True, "write no TensorBoard events", off="--no-logger")
    sanity_check: bool = setting(True, "skip the sanity check (2 validation batches first)", off="--no-sanity-check")
    model_summary: bool = setting(
        True, "no model summary table (Lightning's; the raw side prints none)", off="--no-model-summary"
    )
    limit_val_batches: int | float | None = setting(
        None, "validate on N batches, or on a share F of them (0 = no validation)", metavar="N|F", type=batch_limit
    )
    # minimal example only
    solver: str = setting("adam", "adam (gradient steps) or lstsq (closed form)", "minimal", choices=SOLVERS)
    finetune_epochs: int = setting(
        0,
        "then a fresh Adam for N more epochs, into DIR/finetune (the note used 500; 0 = no finetune)",
        "minimal",
        metavar="N",
    )
    finetune_lr: float = setting(1e-4, "learning rate of the finetune phase", "minimal", metavar="LR")
    # autoencoder only
    dataset: str = setting("mnist", "which images (mnist downloads when online)", "autoencoder", choices=DATASETS)
    hidden: int = setting(64, "hidden width of encoder and decoder", "autoencoder", metavar="N")
    data_dir: str = setting("data", "where torchvision datasets are stored", "autoencoder", metavar="DIR")
    num_workers: int = setting(
        0, "DataLoader worker processes (0: load in the main process)", "autoencoder", metavar="N"
    )
    # both workloads
    data_on_device: bool = setting(
        False,
        "hold the data on the device and gather each batch there by index: the same batches in the same order, "
        "at a GPU's pace (the plain path indexes, collates and copies every batch on the CPU)",
        on="--data-on-device",
    )

    @classmethod
    def for_workload(cls, workload: str, **overrides) -> RunConfig:
        return cls(workload=workload, **{**DEFAULTS[workload], **overrides})

    def replace(self, **changes) -> RunConfig:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """Plain types only, so it can sit inside a checkpoint loaded with weights_only=True."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def default_of(name: str, workload: str):
    """A setting's default for one workload: the per-workload DEFAULTS, else the field's own."""
    if name in DEFAULTS[workload]:
        return DEFAULTS[workload][name]
    return {f.name: f.default for f in fields(RunConfig)}[name]


def dataset_name(cfg: RunConfig) -> str:
    """What a result records as its data: the minimal example's 400 points, or the autoencoder's dataset."""
    return "minimal-400" if cfg.workload == "minimal" else cfg.dataset


@dataclass(frozen=True)
class Phase:
    """One `fit`: the minimal example trains in up to two (the note's Adam, then a finetune with a fresh
    Adam into DIR/finetune); the autoencoder in one. Both sides walk the same list."""

    cfg: RunConfig
    index: int  # 0, or 1 for the finetune phase
    lr: float
    epochs: int
    run_dir: Path


def phases(cfg: RunConfig, start: int = 0) -> list[Phase]:
    """The phases of a run, from `start` (a resumed finetune checkpoint starts at phase 1)."""
    plan = [Phase(cfg, 0, cfg.lr, cfg.epochs, Path(cfg.out))]
    if cfg.workload == "minimal" and cfg.solver == "adam" and cfg.finetune_epochs:
        plan.append(Phase(cfg, 1, cfg.finetune_lr, cfg.finetune_epochs, Path(cfg.out) / "finetune"))
    return plan[start:]


def resolve_device(name: str) -> torch.device:
    """`--device auto` picks CUDA when present, like Lightning's `accelerator="auto"`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available on this machine (use --device cpu)")
    return torch.device(name)


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


# (setting, smallest allowed value): at least 1, or zero or positive
AT_LEAST = {
    "epochs": 1,
    "batch_size": 1,
    "log_every_n_steps": 1,
    "checkpoint_every": 0,
    "checkpoint_every_n_steps": 0,
    "finetune_epochs": 0,
    "hidden": 1,
    "num_workers": 0,
}


def validate(cfg: RunConfig) -> RunConfig:
    """Reject what cannot run, before anything is written."""
    for name, least in AT_LEAST.items():
        value = getattr(cfg, name)
        if value is not None and value < least:
            bound = "at least 1" if least == 1 else "zero or positive"
            raise UsageError(f"{_flag(name)} must be {bound}, got {value}")
    for name in ("limit_train_batches", "limit_val_batches"):
        value, least = getattr(cfg, name), 1 if name == "limit_train_batches" else 0
        if isinstance(value, int) and value < least:
            raise UsageError(f"{_flag(name)} must be {'at least 1' if least else 'zero or positive'}, got {value}")
        if isinstance(value, float) and not (least == 0 or value > 0):
            raise UsageError(f"{_flag(name)} {value}: a share of no batch trains nothing; give more than 0.0")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED} (numpy's range), got {cfg.seed}")
    for name in ("lr", "finetune_lr"):
        if not (getattr(cfg, name) > 0 and math.isfinite(getattr(cfg, name))):
            raise UsageError(f"{_flag(name)} must be a positive finite number, got {getattr(cfg, name)}")
    if not (cfg.weight_decay >= 0 and math.isfinite(cfg.weight_decay)):
        raise UsageError(f"--weight-decay must be zero or a positive finite number, got {cfg.weight_decay}")
    if cfg.solver == "lstsq" and cfg.limit_val_batches == 0:
        raise UsageError("--solver lstsq solves at validation start, as in the note: it needs validation")
    if cfg.solver == "lstsq" and cfg.checkpoint_every_n_steps:
        raise UsageError("--checkpoint-every-n-steps: --solver lstsq takes no steps; it checkpoints per epoch")
    for name, allowed in (("precision", PRECISIONS), ("device", DEVICES)):
        if getattr(cfg, name) not in allowed:
            raise UsageError(f"{_flag(name)} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}")
    resolve_device(cfg.device)
    check_world(cfg)
    if cfg.data_on_device and cfg.num_workers:
        raise UsageError(
            f"--data-on-device: the data is on the device, it takes --num-workers 0, got {cfg.num_workers}"
        )
    if cfg.workload == "autoencoder" and Path(cfg.data_dir).exists() and not Path(cfg.data_dir).is_dir():
        raise UsageError(f"--data-dir {cfg.data_dir}: is a file, not a folder")
    if cfg.out is not None:
        check_out(Path(cfg.out))
    if cfg.resume is not None:
        check_readable_file("--resume", Path(cfg.resume))
    return cfg


def check_readable_file(flag: str, path: Path) -> None:
    """A file that exists and can be read: one line naming what it is instead."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder, not a checkpoint file")
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such file")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot be read ({e.strerror})") from None


def check_out(out: Path) -> None:
    """--out must be a new or empty folder that can be created: an earlier run is never overwritten."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder; give a new or empty folder")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out}: already exists and is not empty; nothing is overwritten, pick a new folder")
    check_creatable("--out", out)


def check_new_file(flag: str, path: Path) -> None:
    """A file the command will create at the end: it must not exist, and its folder must be writable."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give the name of a new file")
    if path.exists():
        raise UsageError(f"{flag} {path}: already exists; nothing is overwritten, pick a new name")
    check_creatable(flag, path)


def check_creatable(flag: str, path: Path) -> None:
    """`path` can be created (or replaced): its nearest existing ancestor is a folder this process may write in."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: cannot be created, {parent} is a file")
    try:  # the real test (permissions, read-only mounts, root): create and remove a folder beside it
        shutil.rmtree(tempfile.mkdtemp(dir=parent, prefix=".paired-probe-"))
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot be created in {parent} ({e.strerror})") from None


def check_world(cfg: RunConfig) -> None:
    """Under torchrun (WORLD_SIZE set): what the distributed paths do not cover yet, refused in one line."""
    if not world().distributed:
        return
    if cfg.solver == "lstsq":
        raise UsageError("--solver lstsq under torchrun: the closed-form solve takes no gradient step for DDP to "
                         "average; run it as one process")  # fmt: skip
    if cfg.data_on_device:
        raise UsageError("--data-on-device under torchrun is not supported yet")
