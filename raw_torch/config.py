"""The run configuration both sides take, and the command line that builds it.

One `RunConfig` drives `raw_torch.<workload>.run` and `with_lightning.<workload>.run`, so the only
variable between the two is the training framework. Plain dataclass and argparse: no lightning here.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")  # Lightning's names, used on both sides
DEVICES = ("auto", "cpu", "cuda")
SOLVERS = ("adam", "lstsq")
DATASETS = ("mnist", "fashion-mnist", "mnist-5k", "synthetic")

# Per-workload defaults: the note's minimal example and Lightning's front-page autoencoder.
DEFAULTS = {
    "minimal": {"epochs": 100, "batch_size": 4, "lr": 0.1},
    "autoencoder": {"epochs": 2, "batch_size": 32, "lr": 1e-3},
}


class UsageError(ValueError):
    """A bad flag or an impossible request: reported as one line, exit code 2."""


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or inf: reported as one line naming the step, exit code 1."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM turned into an exception, like SIGINT's KeyboardInterrupt, so `finally` blocks run and no
    half-written file is left behind (the default SIGTERM action kills the process where it stands)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class RunConfig:
    workload: str
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    device: str = "auto"
    precision: str = "32-true"
    limit_train_batches: int | None = None
    out: str | None = None
    weight_decay: float = 0.0
    log_every_n_steps: int = 50  # Lightning's default
    checkpoint_every: int = 1  # epochs between checkpoints; 0 = none
    checkpoint_every_n_steps: int = 0  # also mid-epoch, into checkpoints/steps; 0 = none
    resume: str | None = None  # a checkpoint to continue from (Lightning: fit(ckpt_path=...))
    progress_bar: bool = True
    logger: bool = True  # TensorBoard
    sanity_check: bool = True  # 2 validation batches before training
    model_summary: bool = True  # Lightning only: the raw side prints none
    limit_val_batches: int | None = None
    # minimal example only
    solver: str = "adam"
    finetune_epochs: int = 0
    finetune_lr: float = 1e-4
    # autoencoder only
    dataset: str = "mnist"
    hidden: int = 64
    data_dir: str = "data"
    num_workers: int = 0

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


def resolve_device(name: str) -> torch.device:
    """`--device auto` picks CUDA when present, like Lightning's `accelerator="auto"`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available on this machine (use --device cpu)")
    return torch.device(name)


def validate(cfg: RunConfig) -> RunConfig:
    """Reject what cannot run, before anything is written."""
    for name in ("epochs", "batch_size"):
        if getattr(cfg, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if not cfg.lr > 0:
        raise UsageError(f"--lr must be positive, got {cfg.lr}")
    if cfg.weight_decay < 0:
        raise UsageError(f"--weight-decay must be zero or positive, got {cfg.weight_decay}")
    if cfg.limit_train_batches is not None and cfg.limit_train_batches < 1:
        raise UsageError(f"--limit-train-batches must be at least 1, got {cfg.limit_train_batches}")
    if cfg.limit_val_batches is not None and cfg.limit_val_batches < 0:
        raise UsageError(f"--limit-val-batches must be zero or positive, got {cfg.limit_val_batches}")
    if cfg.solver == "lstsq" and cfg.limit_val_batches == 0:
        raise UsageError("--solver lstsq solves at validation start, as in the note: it needs validation")
    if cfg.log_every_n_steps < 1:
        raise UsageError(f"--log-every-n-steps must be at least 1, got {cfg.log_every_n_steps}")
    if cfg.checkpoint_every < 0:
        raise UsageError(f"--checkpoint-every must be zero or positive, got {cfg.checkpoint_every}")
    if cfg.checkpoint_every_n_steps < 0:
        raise UsageError(f"--checkpoint-every-n-steps must be zero or positive, got {cfg.checkpoint_every_n_steps}")
    if cfg.solver == "lstsq" and cfg.checkpoint_every_n_steps:
        raise UsageError("--checkpoint-every-n-steps: --solver lstsq takes no steps; it checkpoints per epoch")
    if cfg.finetune_epochs < 0:
        raise UsageError(f"--finetune-epochs must be zero or positive, got {cfg.finetune_epochs}")
    if cfg.hidden < 1:
        raise UsageError(f"--hidden must be at least 1, got {cfg.hidden}")
    if cfg.precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if cfg.device not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2: no usage dump, no traceback
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(workload: str, impl: str) -> argparse.ArgumentParser:
    d = DEFAULTS[workload]
    side = "plain PyTorch, hand-written loop" if impl == "raw" else "PyTorch Lightning, LightningModule + Trainer"
    p = _Parser(
        prog=f"python -m {'raw_torch' if impl == 'raw' else 'with_lightning'}.{workload}",
        description=f"Train the {workload} workload ({side}). The twin command on the other side takes the same "
        "flags and writes the same metrics.json schema.",
        epilog="With --out DIR: DIR/metrics.json holds impl, workload, device, precision, dataset, seed, train_loss "
        "(one float per optimizer step), val_loss (one per epoch, sanity check excluded), test_loss and "
        "params_sha256 (sha256 of the model's parameter bytes in named_parameters() order); TensorBoard events go "
        "to DIR/tensorboard and checkpoints to DIR/checkpoints (DIR/finetune/... for the finetune phase).",
    )
    p.add_argument("--epochs", type=int, default=d["epochs"], help=f"training epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help=f"default {d['batch_size']}")
    p.add_argument("--lr", type=float, default=d["lr"], help=f"Adam learning rate (default {d['lr']})")
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seeds python, numpy and torch (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument(
        "--precision",
        default="32-true",
        help="32-true, 16-mixed (autocast fp16 + GradScaler, on CPU too) or bf16-mixed (default 32-true)",
    )
    p.add_argument("--limit-train-batches", type=int, default=None, help="train on at most N batches per epoch")
    p.add_argument("--log-every-n-steps", type=int, default=50, help="TensorBoard train_loss interval (default 50)")
    p.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints, 0 = none (default 1)")
    p.add_argument(
        "--checkpoint-every-n-steps",
        type=int,
        default=0,
        help="also checkpoint every N optimizer steps, mid-epoch, into DIR/checkpoints/steps (default 0 = off)",
    )
    p.add_argument(
        "--resume",
        metavar="CKPT",
        default=None,
        help="continue the run that wrote CKPT (a file of this command; pass the same flags, --epochs may grow); "
        "the continued run writes to --out, a new folder",
    )
    p.add_argument("--limit-val-batches", type=int, default=None, help="validate on at most N batches (0 = none)")
    p.add_argument("--no-progress-bar", dest="progress_bar", action="store_false", help="hide the tqdm bar")
    p.add_argument("--no-logger", dest="logger", action="store_false", help="write no TensorBoard events")
    p.add_argument("--no-sanity-check", dest="sanity_check", action="store_false", help="skip the sanity check")
    p.add_argument(
        "--no-model-summary", dest="model_summary", action="store_false", help="Lightning's summary table (raw: none)"
    )
    p.add_argument("--out", default=None, help="run folder (must be new or empty; default runs/<impl>-<workload>-N)")
    if workload == "minimal":
        p.add_argument("--solver", default="adam", choices=SOLVERS, help="adam (gradient steps) or lstsq (closed form)")
        p.add_argument("--finetune-epochs", type=int, default=0, help="then a fresh Adam for N epochs (note: 500)")
        p.add_argument("--finetune-lr", type=float, default=1e-4, help="learning rate of the finetune phase")
    else:
        p.add_argument("--dataset", default="mnist", choices=DATASETS, help="default mnist (downloads when online)")
        p.add_argument("--hidden", type=int, default=64, help="hidden width of encoder and decoder (default 64)")
        p.add_argument("--data-dir", default="data", help="where torchvision datasets are stored (default data/)")
        p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (default 0)")
    return p


def next_run_dir(impl: str, workload: str, root: str = "runs") -> str:
    """A fresh folder name, never one that exists: earlier runs are never overwritten."""
    n = 0
    while Path(root, f"{impl}-{workload}-{n}").exists():
        n += 1
    return str(Path(root, f"{impl}-{workload}-{n}"))


def config_from_argv(workload: str, impl: str, argv: list[str] | None = None) -> RunConfig:
    args = build_parser(workload, impl).parse_args(argv)
    cfg = RunConfig.for_workload(workload, **{k: v for k, v in vars(args).items()})
    if cfg.out is None:
        cfg = cfg.replace(out=next_run_dir(impl, workload))
    return validate(cfg)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def main_guard(prog: str, fn, *args, catch_sigterm: bool = True):
    """Run a command; what goes wrong becomes one line on stderr and an exit code, never a traceback.

    UsageError (bad flag, missing dataset, refused checkpoint): exit 2. NonFiniteLoss: exit 1.
    SIGINT / SIGTERM: exit 130 / 143, after `finally` blocks ran (checkpoints are written atomically,
    so every one on disk is complete). `catch_sigterm=False` leaves SIGTERM to Lightning's own handler.
    """
    if catch_sigterm:
        signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return fn(*args)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except NonFiniteLoss as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        print(
            f"{prog}: interrupted by {signal.Signals(signum).name}; every checkpoint already written is complete",
            file=sys.stderr,
        )
        raise SystemExit(128 + signum) from None
