"""Why Lightning costs what it costs per step, in instructions: `nox -s instructions` (~13 min here).

    python -m benchmarks.instructions [--smoke] [--results results]

Wall-clock time on a shared host wanders (docs/wall-clock.md, "Resolution"); the number of instructions a step executes
does not. Every case below runs inside valgrind's callgrind, two valgrind processes side by side (one per
core), each importing torch and Lightning once (~2 min under valgrind) and then measuring many cases.
Per case, one run of the command's own `run()` (or the floor's step loop) counts three windows of 6, 12
and 24 steps (counting.WINDOWS); the per-step count is the slope over the three, so a fixed cost per window
(the toggles themselves) cancels, and how far the three lie from a line is reported. The cases measured
by both processes give the run-to-run spread. Split three ways:
  * by layer, from callgrind's own data: which shared object executed the instruction (callgrind.py);
  * by Python component: the interpreter layer split by the share of CPython opcodes each part of the
    stack executed in the same windows, counted natively with sys.settrace (counting.OpcodeCounter,
    components.py);
  * by feature: a ladder of runs with Trainer features switched on one at a time (LADDER);
  * by fix: Lightning with a proposed fix of one of its per-step costs in place (ablations.py).
Instructions become µs with the raw step's instructions per µs, timed natively in the same session
(an estimate; the count is the measurement). Saved as results/<machine>/<id>/NNNN_instructions.json.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.cases import FEATURES_OFF, FEATURES_ON
from benchmarks.instructions.ablations import ABLATIONS
from benchmarks.instructions.counting import SHORT_WINDOWS, WINDOWS
from raw_torch.common.cli import Parser
from raw_torch.common.config import PRECISIONS, WORKLOADS, check_creatable
from raw_torch.common.errors import UsageError

OFF, ON = FEATURES_OFF, FEATURES_ON
# The feature ladder, autoencoder, cpu, 32-true: (rung, implementation, settings). "lightning-bare" builds
# its Trainer here (no callbacks of ours); "lightning" is the product's own run() with those settings.
LADDER = (
    ("barebones=True, no self.log", "lightning-bare", dict(OFF, variant="barebones")),
    ("all off, no self.log, no callbacks", "lightning-bare", dict(OFF, variant="nolog")),
    ("+ self.log", "lightning-bare", dict(OFF, variant="log")),
    ("+ History, RunState callbacks", "lightning", OFF),
    ("+ progress bar", "lightning", dict(OFF, progress_bar=True)),
    ("+ TensorBoard logger", "lightning", dict(OFF, logger=True)),
    ("+ checkpoint callback", "lightning", dict(OFF, checkpoint_every=1)),
    ("+ sanity check", "lightning", dict(OFF, sanity_check=True)),
    ("+ model summary", "lightning", dict(OFF, model_summary=True)),
    ("default (all on)", "lightning", ON),
    ("all off", "raw", OFF),
    ("+ progress bar", "raw", dict(OFF, progress_bar=True)),
    ("+ TensorBoard logger", "raw", dict(OFF, logger=True)),
    ("+ checkpoint", "raw", dict(OFF, checkpoint_every=1)),
    ("+ sanity check", "raw", dict(OFF, sanity_check=True)),
    ("default (all on)", "raw", ON),
)


def plan(smoke: bool) -> list[dict]:
    """Every case, in the order measured. `both`: measured by both valgrind processes (the spread): the
    32-true cases of raw and Lightning. The heavy mixed-precision autoencoder cases and the ladder count
    shorter windows (counting.SHORT_WINDOWS), to keep the session near a quarter of an hour."""
    fixes = [  # Lightning with a proposed fix in place (ablations.py): what it would save a step
        dict(
            group="ablation",
            ablation=name,
            runner="benchmarks.instructions.ablations:run",
            workload=w,
            precision="32-true",
            impl="lightning",
            settings={},
            both=False,
            windows=WINDOWS,
        )  # fmt: skip
        for name in ABLATIONS
        for w in (("minimal",) if smoke else WORKLOADS)
    ]
    if smoke:
        return [
            dict(
                group="main",
                workload="minimal",
                precision="32-true",
                impl=impl,
                settings={},
                both=True,
                windows=WINDOWS,
            )  # fmt: skip
            for impl in ("floor", "raw", "lightning")
        ] + fixes
    items = [
        dict(
            group="main",
            workload=w,
            precision=p,
            impl=impl,
            settings={},
            both=p == "32-true" and impl != "floor",
            windows=SHORT_WINDOWS if w == "autoencoder" and p != "32-true" else WINDOWS,
        )  # fmt: skip
        for w in WORKLOADS
        for p in PRECISIONS
        for impl in ("floor", "raw", "lightning")
    ]
    items += fixes
    items += [
        dict(
            group="ladder",
            rung=rung,
            workload="autoencoder",
            precision="32-true",
            impl=impl,
            settings=s,
            both=False,
            windows=SHORT_WINDOWS,
        )  # fmt: skip
        for rung, impl, s in LADDER
    ]
    return items


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", parser_class=Parser)
    w = sub.add_parser("worker", help="(internal) measure items inside valgrind")
    w.add_argument("plan", type=Path)
    w.add_argument("job", type=Path)
    ap.add_argument("--smoke", action="store_true", help="the shortest case only, saved to a temporary folder")
    ap.add_argument(
        "--results", type=Path, default=None, metavar="DIR", help="results folder (default results/; --smoke: a temp)"
    )
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep the raw callgrind files in DIR")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        from benchmarks.instructions.valgrind import worker

        worker(args.plan, args.job)
        return 0
    for flag, folder in (("--results", args.results), ("--keep", args.keep)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise UsageError(f"{flag} {folder}: is a file, not a folder")
        if folder is not None:
            check_creatable(flag, folder)
    if shutil.which("valgrind") is None:
        raise UsageError("valgrind is not installed (Debian: apt-get install valgrind)")
    from benchmarks.instructions.measure import measure_and_save

    results = args.results or (Path(tempfile.mkdtemp(prefix="paired-smoke-")) if args.smoke else Path("results"))
    return measure_and_save(plan(args.smoke), results, args.keep, smoke=args.smoke)
