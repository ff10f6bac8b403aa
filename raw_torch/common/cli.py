"""The command line of both sides: flags built from `RunConfig`'s fields, one `main` for the four training
commands and one for the two evaluate commands, and `main_guard`, which turns what goes wrong into one line
and an exit code."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import typing
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from raw_torch.common.config import DEVICES, RunConfig, check_new_file, default_of, resolve_device, validate
from raw_torch.common.errors import Interrupted, NonFiniteLoss, UsageError
from raw_torch.common.files import write_json_atomic
from raw_torch.common.record import RunRecord
from raw_torch.common.startup import hand_over
from raw_torch.common.world import leave_process_group, world


def epilog(workload: str) -> str:
    """What --out DIR receives, for the --help of a training command."""
    finetune = " (DIR/finetune/... for the --finetune-epochs phase)" if workload == "minimal" else ""
    return (
        "With --out DIR: DIR/metrics.json holds impl, workload, device, precision, dataset, seed, train_loss "
        "(one float per optimizer step), val_loss (one per epoch, sanity check excluded), test_loss, "
        "params_sha256 (sha256 of the model's parameter bytes in named_parameters() order), skipped_steps "
        "(optimizer steps GradScaler skipped; 0 outside 16-mixed), world_size (1, or torchrun's WORLD_SIZE) and "
        "train_loss_by_rank (under torchrun: every rank's train_loss, gathered; null in one process). "
        "TensorBoard events go to DIR/tensorboard "
        f"(tensorboard --logdir DIR) and checkpoints to DIR/checkpoints{finetune}."
    )


# How --help names a default of None, per setting
DEFAULT_WORDS = {
    "limit_train_batches": " (default: all)",
    "limit_val_batches": " (default: all)",
    "resume": " (default: none, a fresh run)",
}


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2: no usage dump, no traceback
        # named as main_guard names the command's own errors: `raw_torch.minimal: error: ...`
        self.exit(2, f"{self.prog.removeprefix('python -m ')}: error: {message}\n")


def package(impl: str) -> str:
    return "raw_torch" if impl == "raw" else "with_lightning"


def build_parser(workload: str, impl: str) -> argparse.ArgumentParser:
    """One flag per RunConfig field this workload has; type, default and help come from the field."""
    side = "plain PyTorch, hand-written loop" if impl == "raw" else "PyTorch Lightning, LightningModule + Trainer"
    p = Parser(
        prog=f"python -m {package(impl)}.{workload}",
        description=f"Train the {workload} workload ({side}). The twin command on the other side takes the same "
        "flags and writes the same metrics.json schema.",
        epilog=epilog(workload),
    )
    hints = typing.get_type_hints(RunConfig)
    for f in fields(RunConfig):
        meta = dict(f.metadata)
        if meta.pop("flag", True) is False or meta.pop("only", None) not in (None, workload):
            continue
        help_text, default = meta.pop("help"), default_of(f.name, workload)
        if "off" in meta:  # a feature that is on unless switched off
            p.add_argument(meta.pop("off"), dest=f.name, action="store_false", help=help_text)
            continue
        if "on" in meta:  # a choice that is off unless switched on
            p.add_argument(meta.pop("on"), dest=f.name, action="store_true", help=help_text)
            continue
        kind = meta.pop("type", None) or next(
            t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None)
        )
        shown = f" (default {default})" if default is not None else DEFAULT_WORDS.get(f.name, "")
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=default, help=help_text + shown, **meta)
    return p


def next_run_dir(impl: str, workload: str, root: str = "runs") -> str:
    """A fresh folder name, never one that exists: earlier runs are never overwritten."""
    n = 0
    while Path(root, f"{impl}-{workload}-{n}").exists():
        n += 1
    return str(Path(root, f"{impl}-{workload}-{n}"))


def config_from_argv(workload: str, impl: str, argv: list[str] | None = None) -> RunConfig:
    args = build_parser(workload, impl).parse_args(argv)
    cfg = RunConfig.for_workload(workload, **vars(args))
    if cfg.out is None:
        cfg = cfg.replace(out=next_run_dir(impl, workload))
    return validate(cfg)


def train_main(
    workload: str, impl: str, run: Callable[[RunConfig], RunRecord], argv: list[str] | None, guard=None
) -> int:
    """The four training commands: flags, run, metrics.json, the summary lines. `guard` wraps the run
    (Lightning: with_lightning.trainer.interrupts_reported)."""
    cfg = config_from_argv(workload, impl, argv)
    one_thread_per_rank(cfg)
    with guard() if guard else contextlib.nullcontext():
        record = run(cfg)
    leave_process_group()  # under torchrun: Lightning leaves its group to the shutdown (common/world.py)
    if not world().is_zero:  # under torchrun: rank 0 writes the one metrics.json and prints the summary
        return 0
    record.save(cfg.out)
    print(record.summary())
    if workload == "minimal":
        print(record.describe_line())
    print(f"wrote {cfg.out}/metrics.json")
    return 0


def one_thread_per_rank(cfg: RunConfig) -> None:
    """Under torchrun on CPU, one torch thread per process unless OMP_NUM_THREADS says otherwise: what torchrun
    itself sets for several processes per node, here also for one per node (`--nproc-per-node 1`)."""
    if world().distributed and resolve_device(cfg.device).type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)


def build_evaluate_parser(impl: str) -> argparse.ArgumentParser:
    p = Parser(
        prog=f"python -m {package(impl)}.evaluate",
        description="Test every checkpoint of one run's checkpoints/ folder on that run's test set, in training "
        f"order (the epoch and step stored in each file). Only checkpoints of python -m {package(impl)}.<workload> "
        "are accepted; the other side's are refused, file by file, with the command that reads them.",
    )
    p.add_argument("folder", type=Path, metavar="FOLDER", help="a run's checkpoints/ folder")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto picks cuda when present (default auto)")
    p.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="also write the results to FILE as JSON (a new file)"
    )
    return p


def evaluate_main(impl: str, evaluate_folder: Callable[[Path, str], list[dict]], argv: list[str] | None) -> int:
    """The two evaluate commands: a table of (epoch, step, test_loss, file), optionally saved as JSON."""
    args = build_evaluate_parser(impl).parse_args(argv)
    resolve_device(args.device)
    if args.out is not None:  # before evaluating anything: a bad --out is found in a second, not after the work
        check_new_file("--out", args.out)
    results = evaluate_folder(args.folder, args.device)
    print(f"{'epoch':>6} {'step':>8}  {'test_loss':>14}  file")
    for r in results:
        print(f"{r['epoch']:>6} {r['global_step']:>8}  {r['test_loss']:>14.8g}  {r['file']}")
    if args.out is not None:
        write_json_atomic(args.out, results)
    return 0


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def say_one_line(line: str) -> None:
    """One line on stderr in one write: under torchrun every rank says its line into the same pipe at about the
    same moment. With PYTHONUNBUFFERED set (as on this machine), print() writes the text and its newline in two
    system calls, and two ranks' lines once ran into one (a CI run of test_ddp's lstsq refusal)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


CHECKPOINTS_KEPT = "every checkpoint already written is complete"


def main_guard(prog: str, fn, *args, catch_sigterm: bool = True, kept: str = CHECKPOINTS_KEPT):
    """Run a command; what goes wrong becomes one line on stderr and an exit code, never a traceback.

    UsageError (bad flag, missing dataset, refused checkpoint): exit 2. NonFiniteLoss: exit 1.
    SIGINT / SIGTERM: exit 130 / 143, after `finally` blocks ran; the line ends with `kept`, what the command
    leaves on disk (the training commands write checkpoints atomically, so every one on disk is complete; a
    benchmark names its own). `catch_sigterm=False` leaves SIGTERM to Lightning's own handler.
    """
    hand_over()  # the start-up's one-line handlers (common/startup.py) give the signals back
    previous = signal.signal(signal.SIGTERM, _raise_interrupted) if catch_sigterm else None
    try:
        return fn(*args)
    except UsageError as e:
        say_one_line(f"{prog}: error: {e}")
        raise SystemExit(2) from None
    except NonFiniteLoss as e:
        say_one_line(f"{prog}: error: {e}")
        raise SystemExit(1) from None
    except BrokenPipeError:  # `... | head`: the reader left; stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        say_one_line(f"{prog}: interrupted by {signal.Signals(signum).name}; {kept}")
        raise SystemExit(128 + signum) from None
    except RuntimeError as e:
        lost = lost_peer(e)
        if lost is None:
            raise
        say_one_line(f"{prog}: error: rank {world().rank}: {lost}; torchrun's report names the process that failed")
        raise SystemExit(1) from None
    finally:  # the command is over: a late SIGTERM (torchrun stopping the job) must not raise into the shutdown
        if catch_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


PEER_GONE = ("Connection closed by peer", "Connection reset by peer")


def lost_peer(error: RuntimeError) -> str | None:
    """Under torchrun, gloo's error when another process of the job died mid-collective (its socket closed),
    as a short phrase; None for any other error (it keeps its traceback: a bug is a bug)."""
    if not world().distributed:
        return None
    found = next((phrase for phrase in PEER_GONE if phrase in str(error)), None)
    return f"another process of the job is gone (gloo: {found})" if found else None
