"""The run settings both sides take, each with its default and its help once, and what makes them valid.

One `RunConfig` drives `raw_torch.<workload>.run` and `with_lightning.<workload>.run`, so the only
variable between the two is the training framework. The command line is built from these fields
(`cli.build_parser`): a setting, its default and its help are written here and nowhere else.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from raw_torch.common.errors import UsageError

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")  # Lightning's names, used on both sides
DEVICES = ("auto", "cpu", "cuda")
SOLVERS = ("adam", "lstsq")
DATASETS = ("mnist", "fashion-mnist", "mnist-5k", "synthetic")
WORKLOADS = ("minimal", "autoencoder")
SANITY_VAL_STEPS = 2  # Lightning: Trainer(num_sanity_val_steps=2), the default

# Per-workload defaults: the note's minimal example and Lightning's front-page autoencoder.
DEFAULTS = {
    "minimal": {"epochs": 100, "batch_size": 4, "lr": 0.1},
    "autoencoder": {"epochs": 2, "batch_size": 32, "lr": 1e-3},
}


def setting(default, help: str, only: str | None = None, **flag):
    """A RunConfig field and its command-line flag: `only` names the one workload that has it; `flag` holds
    argparse extras (choices, metavar) and, for a boolean, `off=` the flag that switches it off."""
    return field(default=default, metadata={"help": help, "only": only, **flag})


@dataclass(frozen=True)
class RunConfig:
    workload: str = field(metadata={"flag": False})  # chosen by the command, not a flag
    epochs: int = setting(None, "training epochs")  # None here: the per-workload DEFAULTS
    batch_size: int = setting(None, "batch size")
    lr: float = setting(None, "Adam learning rate")
    seed: int = setting(0, "seeds python, numpy and torch")
    device: str = setting("auto", "auto, cpu or cuda")
    precision: str = setting("32-true", "32-true, 16-mixed (autocast fp16 + GradScaler, on CPU too) or bf16-mixed")
    limit_train_batches: int | None = setting(None, "train on at most N batches per epoch", metavar="N")
    out: str | None = setting(None, "run folder (must be new or empty; default runs/<impl>-<workload>-N)")
    weight_decay: float = setting(0.0, "Adam weight decay")
    log_every_n_steps: int = setting(50, "TensorBoard train_loss interval, in steps")
    checkpoint_every: int = setting(1, "epochs between checkpoints, 0 = none")
    checkpoint_every_n_steps: int = setting(
        0, "also checkpoint every N optimizer steps, mid-epoch, into DIR/checkpoints/steps; 0 = off", metavar="N"
    )
    resume: str | None = setting(  # Lightning: fit(ckpt_path=...)
        None,
        "continue the run that wrote CKPT (a file of this command; pass the same flags, --epochs may grow); "
        "the continued run writes to --out, a new folder",
        metavar="CKPT",
    )
    progress_bar: bool = setting(True, "hide the tqdm bar", off="--no-progress-bar")
    logger: bool = setting(True, "write no TensorBoard events", off="--no-logger")
    sanity_check: bool = setting(True, "skip the sanity check (2 validation batches first)", off="--no-sanity-check")
    model_summary: bool = setting(True, "Lightning's summary table (raw: none)", off="--no-model-summary")
    limit_val_batches: int | None = setting(None, "validate on at most N batches (0 = none)", metavar="N")
    # minimal example only
    solver: str = setting("adam", "adam (gradient steps) or lstsq (closed form)", "minimal", choices=SOLVERS)
    finetune_epochs: int = setting(0, "then a fresh Adam for N epochs (the note: 500)", "minimal", metavar="N")
    finetune_lr: float = setting(1e-4, "learning rate of the finetune phase", "minimal")
    # autoencoder only
    dataset: str = setting("mnist", "which images (mnist downloads when online)", "autoencoder", choices=DATASETS)
    hidden: int = setting(64, "hidden width of encoder and decoder", "autoencoder")
    data_dir: str = setting("data", "where torchvision datasets are stored", "autoencoder")
    num_workers: int = setting(0, "DataLoader workers", "autoencoder")

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
    "limit_train_batches": 1,
    "limit_val_batches": 0,
    "log_every_n_steps": 1,
    "checkpoint_every": 0,
    "checkpoint_every_n_steps": 0,
    "finetune_epochs": 0,
    "hidden": 1,
}


def validate(cfg: RunConfig) -> RunConfig:
    """Reject what cannot run, before anything is written."""
    for name, least in AT_LEAST.items():
        value = getattr(cfg, name)
        if value is not None and value < least:
            bound = "at least 1" if least == 1 else "zero or positive"
            raise UsageError(f"{_flag(name)} must be {bound}, got {value}")
    if not cfg.lr > 0:
        raise UsageError(f"--lr must be positive, got {cfg.lr}")
    if cfg.weight_decay < 0:
        raise UsageError(f"--weight-decay must be zero or positive, got {cfg.weight_decay}")
    if cfg.solver == "lstsq" and cfg.limit_val_batches == 0:
        raise UsageError("--solver lstsq solves at validation start, as in the note: it needs validation")
    if cfg.solver == "lstsq" and cfg.checkpoint_every_n_steps:
        raise UsageError("--checkpoint-every-n-steps: --solver lstsq takes no steps; it checkpoints per epoch")
    for name, allowed in (("precision", PRECISIONS), ("device", DEVICES)):
        if getattr(cfg, name) not in allowed:
            raise UsageError(f"{_flag(name)} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}")
    resolve_device(cfg.device)
    if cfg.out is not None:
        check_out(Path(cfg.out))
    if cfg.resume is not None and not Path(cfg.resume).is_file():
        raise UsageError(f"--resume {cfg.resume}: no such file")
    return cfg


def check_out(out: Path) -> None:
    """--out must be a new or empty folder that can be created: an earlier run is never overwritten."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out}: already exists and is not empty; nothing is overwritten, pick a new folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: cannot be created, {parent} is a file")
    try:  # the real test (permissions, read-only mounts, root): create and remove a folder beside it
        shutil.rmtree(tempfile.mkdtemp(dir=parent, prefix=".paired-probe-"))
    except OSError as e:
        raise UsageError(f"--out {out}: cannot be created in {parent} ({e.strerror})") from None
