"""Put your own LightningModule beside a plain loop: `nox -s probe -- ...` or

    python -m benchmarks.probe PKG.MODULE:CLASS --data PKG.MODULE:NAME [options]

1. parity: the plain loop (plain.py) twice and Lightning's Trainer (lightning.py) once, from the same weights over
   the same batches: bitwise, or the first differing batch and the largest difference (parity.py);
2. cost: µs per step of the plain loop, Lightning and the floor (the step alone), by the suite's paired protocol
   (cost.py); with --ladder, what the logger, the progress bar and checkpointing each add;
3. with --instructions: instructions per step under valgrind, Lightning's extra split by component (count.py).
Writes probe.json (the house's run schema, kind "probe") and probe.md with one plot into --out, and prints one
summary line. Everything it refuses is refused in one line (exit 2) before anything is written.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from benchmarks.probe.target import DEFAULTS, PRECISIONS, Probe
from raw_torch.common.cli import Parser, next_run_dir
from raw_torch.common.config import MAX_SEED, check_out, resolve_device
from raw_torch.common.errors import UsageError


def build_parser() -> Parser:
    ap = Parser(
        prog="python -m benchmarks.probe",
        description="Your LightningModule beside a plain loop over the same module: bitwise parity, µs per step "
        "(and with --instructions, instructions per step by component), what Trainer features cost.",
        epilog="Writes DIR/probe.json (kind 'probe': parity, step_us, overhead_us, instructions, versions), "
        "DIR/probe.md and DIR/probe.png. docs/probe.md says how each number is measured.",
    )
    ap.add_argument("target", metavar="PKG.MODULE:CLASS", help="your LightningModule subclass")
    ap.add_argument("--data", required=True, metavar="PKG.MODULE:NAME",
                    help="a zero-argument callable returning the training DataLoader, or a LightningDataModule "
                    "subclass (setup('fit'), train_dataloader())")  # fmt: skip
    ap.add_argument("--init-args", default=None, metavar="JSON", help="keyword arguments for CLASS, as a JSON object")
    ap.add_argument(
        "--steps",
        type=int,
        default=DEFAULTS["steps"],
        help="optimizer steps per run, as max_steps (default %(default)s)",
    )
    ap.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS["precision"], help="(default %(default)s)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="(default auto)")
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="(default %(default)s)")
    ap.add_argument(
        "--gradient-clip-val",
        type=float,
        default=DEFAULTS["gradient_clip_val"],
        help="clip by norm (default: no clipping)",
    )
    ap.add_argument(
        "--accumulate-grad-batches", type=int, default=DEFAULTS["accumulate_grad_batches"], help="(default %(default)s)"
    )
    ap.add_argument("--rounds", type=int, default=None, help="rounds of the paired protocol (default 10)")
    ap.add_argument("--ladder", action="store_true", help="also time (and count) logger, progress bar, checkpointing")
    ap.add_argument("--instructions", action="store_true", help="count instructions under valgrind (a few minutes)")
    ap.add_argument("--no-parity", action="store_true", help="skip the three parity runs")
    ap.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="a new or empty folder (default: a new runs/probe-CLASS-N)")  # fmt: skip
    return ap


def checked(args) -> Probe:
    """The flags, checked before anything is imported or run."""
    from benchmarks.probe.cost import ROUNDS
    from benchmarks.probe.target import parse_init_args

    for flag, value, least in (("--steps", args.steps, 1), ("--accumulate-grad-batches", args.accumulate_grad_batches,
                               1), ("--rounds", args.rounds, 2)):  # fmt: skip
        if value is not None and value < least:
            raise UsageError(f"{flag} must be at least {least}, got {value}")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED} (numpy's range), got {args.seed}")
    clip = args.gradient_clip_val
    if clip is not None and not (clip > 0 and math.isfinite(clip)):
        raise UsageError(f"--gradient-clip-val must be a positive finite number, got {clip}")
    if args.out is not None:
        check_out(args.out)
    device = resolve_device(args.device)
    if args.instructions:
        from benchmarks.probe.count import available

        if not available():
            raise UsageError("--instructions: valgrind is not installed (Debian: apt-get install valgrind)")
        if device.type != "cpu":
            raise UsageError("--instructions counts on the CPU under valgrind: add --device cpu")
    args.rounds = args.rounds or ROUNDS
    return Probe(
        target=args.target, data=args.data, init_args=parse_init_args(args.init_args), steps=args.steps,
        precision=args.precision, device=device.type, seed=args.seed, gradient_clip_val=clip,
        accumulate_grad_batches=args.accumulate_grad_batches,
    )  # fmt: skip


def say(message: str) -> None:
    print(f"probe: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    probe = checked(args)
    from with_lightning.trainer import interrupts_reported

    with interrupts_reported():
        return run(probe, args)


def run(probe: Probe, args) -> int:
    from benchmarks.probe import cost, parity, target, write

    t0 = time.time()
    cls = target.module_class(probe.target)
    order = target.BatchOrder(target.training_loader(probe.data), probe)
    out = args.out or Path(next_run_dir("probe", cls.__name__))
    preflight(cls, probe, order)
    same = None if args.no_parity else parity.parity(cls, probe, order)
    say(f"timing {args.rounds} rounds of {probe.steps} steps per side")
    clock = cost.measure(cls, probe, order, rounds=args.rounds, ladder=args.ladder)
    counted = None
    if args.instructions:
        from benchmarks.probe import count

        say("counting instructions under valgrind (two processes; some minutes)")
        counted = count.measure(probe, args.ladder)
    result = write.result(probe, cls, order, same, clock, counted, args, time.time() - t0)
    write.outputs(out, result)
    print(write.summary_line(result, out))
    return 0


def preflight(cls, probe: Probe, order) -> None:
    """One optimizer step of the plain loop, before any measured run: what the loop cannot replay (several
    optimizers, ReduceLROnPlateau, manual optimization) and a training_step that raises are refused here."""
    from dataclasses import replace

    from benchmarks.probe.parity import run

    run("plain", cls, replace(probe, steps=1), order, None)
