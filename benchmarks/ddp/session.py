"""Raw DistributedDataParallel against Lightning's strategy="ddp", per step, on CPU: `nox -s bench_ddp` (~8 min here).

    python -m benchmarks.ddp [--smoke] [--rounds N] [--results results]

Every case runs at world size 1 and 2, each world size in processes started the standard way,
`python -m torch.distributed.run --standalone --nproc-per-node W -m benchmarks.ddp.rank ...`, gloo, one torch
thread per rank. Inside each rank, the paired protocol of the single-process benchmark (harness.protocol): per
round, every run length once per side, raw and Lightning back to back, the order alternating, then the floor
(the bare step through DistributedDataParallel on batches in memory), then, at world size 2, two collectives
alone, as often as the floor steps: the all-reduce (a float32 tensor as large as the model's gradients) and the
broadcast Lightning adds to every step under DDP (rank 0's SIGTERM flag, `_broadcast_sigterm_tensor`). Also at
world size 2, Lightning's run once more with that broadcast left out (ddp_rank.without_sigterm_broadcast), paired
with the Lightning run beside it: what the broadcast costs inside the run, waiting included. Every rank runs the
same sequence, since their collectives must meet. The step clock notes each batched fetch of the
training dataset (ddp_rank.FetchClock).

World size 1 runs the single-process code paths (no process group, no DDP wrapper); world size 2 adds what DDP
costs a step: the gradient all-reduce, DDP's hooks, and waiting for the slower rank. The difference, world size
2 minus 1, per side and for the floor, is DDP's share of the step; what Lightning adds on top at each world
size is its overhead there. The rounds are split into BLOCKS launches per world size, 1 then 2 then 2 then 1, so
that a host that drifts over the session moves both world sizes alike.

On the 2-core reference machine two ranks and torchrun's agent share the 2 cores: the world-size-2 numbers are
"2 ranks + agent on 2 cores", not a 2-node job. Saved as results/<machine>/<id>/NNNN_ddp.json, never overwriting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cases import THREADS, base_config
from benchmarks.clock.stats import analyse, mean_ci, pairs, welch
from benchmarks.ddp import rank as ddp_rank
from benchmarks.store import runs as R
from raw_torch.common.cli import Parser
from raw_torch.common.config import check_creatable
from raw_torch.common.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
IMPLS = ("raw", "lightning", "floor")
ALONE = tuple(ddp_rank.ALONE)  # the collectives timed on their own at world size 2
NO_BROADCAST = ddp_rank.NO_BROADCAST  # Lightning without its SIGTERM broadcast, at world size 2
WORLD_SIZES = (1, 2)
# Per rank, a run length must fit in the rank's share of an epoch: the autoencoder (synthetic) has 86 batches of
# 32 per rank at world size 2, the minimal example 50 batches of 4.
CASES = [
    dict(workload="autoencoder", precision="32-true", epochs=2, limits=[40, 80]),
    dict(workload="minimal", precision="32-true", epochs=2, limits=[25, 50]),
]
SMOKE_CASES = [dict(workload="autoencoder", precision="32-true", epochs=1, limits=[2, 3])]
ROUNDS = 12
BLOCKS = 2  # launches per world size (rounds split among them)
LAUNCH_TIMEOUT = 1800  # seconds; a hung collective fails the session instead of stalling it


def launch(world_size: int, plan: dict, work: Path) -> list[dict]:
    """One torchrun job of `world_size` processes running `plan`; every rank's record."""
    out = Path(tempfile.mkdtemp(prefix=f"w{world_size}-", dir=work))
    plan_file = out / "plan.json"
    plan_file.write_text(json.dumps(plan))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(world_size),
           "-m", "benchmarks.ddp.rank", str(plan_file), str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    with open(out / "log.txt", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=LAUNCH_TIMEOUT)
    if done.returncode != 0:
        tail = (out / "log.txt").read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"torchrun --nproc-per-node {world_size} failed ({done.returncode}): {' | '.join(tail)}")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world_size)]


def schedule(rounds: int, blocks: int) -> list[tuple[int, list[int]]]:
    """(world size, rounds) of each launch, in order: block b runs rounds b, b + blocks, ... at both world sizes,
    1 then 2 in even blocks, 2 then 1 in odd ones."""
    out = []
    for b in range(blocks):
        mine = list(range(b, rounds, blocks))
        for w in WORLD_SIZES if b % 2 == 0 else WORLD_SIZES[::-1]:
            if mine:
                out.append((w, mine))
    return out


def measure(cases: list[dict], rounds: int, blocks: int, work: Path) -> dict:
    """Every launch of the schedule; the samples of each (case, world size, rank), in launch order."""
    samples: dict = {}
    walls = []
    for k, (w, mine) in enumerate(schedule(rounds, blocks)):
        plan = {"threads": THREADS, "seed": 100 * k, "rounds": mine, "cases": cases}
        t0 = time.time()
        records = launch(w, plan, work)
        walls.append({"world_size": w, "rounds": mine, "seconds": time.time() - t0})
        print(f"bench_ddp: world size {w}, rounds {mine}: {walls[-1]['seconds']:.0f} s", flush=True)
        for rec in records:
            for i, case in enumerate(rec["cases"]):
                samples.setdefault((i, w, rec["rank"]), []).extend(case["samples"])
    return {"samples": samples, "launches": walls}


def summarize(cases: list[dict], samples: dict) -> list[dict]:
    """Per case: every world size's analysis (rank 0's and each rank's step times), DDP's share (world size 2
    minus 1, per side and for the floor: Welch, the runs being independent), and Lightning's overhead at each."""
    out = []
    for i, case in enumerate(cases):
        cfg = base_config(case["workload"], "cpu", case["precision"], epochs=case["epochs"])
        worlds = {}
        for w in WORLD_SIZES:
            ranks = [analyse(samples[(i, w, r)], cfg, IMPLS) for r in range(w)]
            others = [{"step": r["step"], "samples": r["samples"]} for r in ranks[1:]]  # rank 0's: the headline
            worlds[str(w)] = {**ranks[0], "other_ranks": others}
        ddp = {k: welch(column(worlds["2"], k), column(worlds["1"], k)) for k in IMPLS}
        for k in IMPLS:
            ddp[k]["share"] = ddp[k]["mean"] / worlds["2"]["step"][k]["mean"]
        paired = {w: pairs(v["samples"], "lightning", "raw", "step_seconds")[1] for w, v in worlds.items()}
        alone = {k: mean_ci(column(worlds["2"], k)) for k in ALONE}
        alone["allreduce"]["share_of_floor"] = alone["allreduce"]["mean"] / ddp["floor"]["mean"]
        row = {**case, "batch_size": cfg.batch_size, "config": cfg.as_dict(), "worlds": worlds, "ddp": ddp,
               "overhead_change": welch(paired["2"], paired["1"]), **alone, "cpu": cpu_summary(worlds)}  # fmt: skip
        if column(worlds["2"], NO_BROADCAST):
            row["without_broadcast"] = without_broadcast(worlds)
            row["cpu"]["without_broadcast"] = without_broadcast(worlds, "cpu_step_seconds")
        out.append(row)
    return out


def without_broadcast(worlds: dict, key: str = "step_seconds") -> dict:
    """Lightning at world size 2 without its per-step SIGTERM broadcast: its step; what leaving the broadcast out
    saves a step (paired with the Lightning run beside it); its overhead over raw (paired); and how much that
    overhead still grows from world size 1 (Welch), to set beside the growth with the broadcast."""
    two = worlds["2"]["samples"]
    overhead = pairs(two, NO_BROADCAST, "raw", key)[1]
    return {
        "step": mean_ci(column(worlds["2"], NO_BROADCAST, key)),
        "saves": mean_ci(pairs(two, "lightning", NO_BROADCAST, key)[1]),
        "overhead": mean_ci(overhead),
        "overhead_change": welch(overhead, pairs(worlds["1"]["samples"], "lightning", "raw", key)[1]),
    }


def cpu_summary(worlds: dict) -> dict:
    """The same reading in CPU time of each rank's main thread (rank 0): per world size, the step of each side and
    Lightning's paired overhead; the overhead's growth (2 minus 1) and the collectives alone. What the main
    thread computes, without the time it waits (for the other rank, for a core, for gloo's threads)."""
    cpu = "cpu_step_seconds"
    paired = {w: pairs(v["samples"], "lightning", "raw", cpu)[1] for w, v in worlds.items()}
    return {
        "step": {w: {k: mean_ci(column(v, k, cpu)) for k in IMPLS} for w, v in worlds.items()},
        "overhead": {w: mean_ci(paired[w]) for w in worlds},
        "overhead_change": welch(paired["2"], paired["1"]),
        "alone": {k: mean_ci(column(worlds["2"], k, cpu)) for k in ALONE},
    }


def column(world: dict, impl: str, key: str = "step_seconds") -> list[float]:
    """One reading of every run of one implementation at one world size (rank 0)."""
    return [s[key] for s in world["samples"] if s["impl"] == impl]


def machine_info() -> dict:
    import torch.distributed as dist

    from benchmarks.store.machine import versions

    return {"paired": versions(), "python": sys.version, "gloo": dist.is_gloo_available()}


def print_table(rows: list[dict]) -> None:
    for row in rows:
        print(f"  {row['workload']} {row['precision']} (µs per step, rank 0):")
        for w in WORLD_SIZES:
            st, o = row["worlds"][str(w)]["step"], row["worlds"][str(w)]["overhead"]["step"]
            cells = "  ".join(f"{k} {1e6 * st[k]['mean']:8.1f} ± {1e6 * st[k]['ci']:5.1f}" for k in IMPLS)
            print(f"    world size {w}: {cells}  Lightning - raw {1e6 * o['mean']:7.1f} ± {1e6 * o['ci']:5.1f}")
        cells = "  ".join(
            f"{k} {1e6 * d['mean']:+8.1f} ± {1e6 * d['ci']:5.1f} ({100 * d['share']:.0f}%)"
            for k, d in row["ddp"].items()
        )
        print(f"    DDP's share (2 - 1): {cells}")
        a = row["allreduce"]
        share = f"{100 * a['share_of_floor']:.0f}% of what DDP adds to the floor"
        print(f"    the all-reduce alone: {1e6 * a['mean']:.1f} ± {1e6 * a['ci']:.1f} ({share})")
        b, oc = row["sigterm_broadcast"], row["overhead_change"]
        print(
            f"    Lightning's overhead grows by {1e6 * oc['mean']:.1f} ± {1e6 * oc['ci']:.1f}; its SIGTERM broadcast "
            f"alone: {1e6 * b['mean']:.1f} ± {1e6 * b['ci']:.1f}"
        )
        if "without_broadcast" in row:
            nb = row["without_broadcast"]
            sv, nc = nb["saves"], nb["overhead_change"]
            print(
                f"    Lightning without the broadcast: {1e6 * nb['step']['mean']:.1f} ± {1e6 * nb['step']['ci']:.1f}; "
                f"saves {1e6 * sv['mean']:.1f} ± {1e6 * sv['ci']:.1f}; its overhead grows by "
                f"{1e6 * nc['mean']:.1f} ± {1e6 * nc['ci']:.1f}"
            )
        c = row["cpu"]
        for w in WORLD_SIZES:
            st, o = c["step"][str(w)], c["overhead"][str(w)]
            cells = "  ".join(f"{k} {1e6 * st[k]['mean']:8.1f}" for k in IMPLS)
            print(f"    CPU, world size {w}: {cells}  Lightning - raw {1e6 * o['mean']:7.1f} ± {1e6 * o['ci']:5.1f}")
        oc, b = c["overhead_change"], c["alone"]["sigterm_broadcast"]
        print(f"    CPU: Lightning's overhead grows by {1e6 * oc['mean']:.1f} ± {1e6 * oc['ci']:.1f}; broadcast alone "
              f"{1e6 * b['mean']:.1f}")  # fmt: skip


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.ddp", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="one tiny case, one round, saved to a temporary folder")
    ap.add_argument("--rounds", type=int, default=None, metavar="N", help=f"rounds per world size (default {ROUNDS})")
    ap.add_argument(
        "--results", type=Path, default=None, metavar="DIR", help="results folder (default results/; --smoke: a temp)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds is not None and args.rounds < 2:
        raise UsageError(f"--rounds {args.rounds}: at least 2 (an interval needs two runs per world size)")
    if args.results is not None:
        if args.results.exists() and not args.results.is_dir():
            raise UsageError(f"--results {args.results}: is a file, not a folder")
        check_creatable("--results", args.results)
    cases = SMOKE_CASES if args.smoke else CASES
    rounds = args.rounds or (2 if args.smoke else ROUNDS)
    blocks = 1 if args.smoke else min(BLOCKS, rounds)
    results = args.results or (Path(tempfile.mkdtemp(prefix="paired-smoke-")) if args.smoke else ROOT / "results")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="paired-ddp-") as work:
        measured = measure(cases, rounds, blocks, Path(work))
    rows = summarize(cases, measured["samples"])
    extra = {
        "smoke": args.smoke, "rounds": rounds, "blocks": blocks, "threads": THREADS,
        "world_sizes": list(WORLD_SIZES), "launches": measured["launches"], "session_wall_s": time.time() - t0,
        "cases": rows,
    }  # fmt: skip
    target = R.save(results, "ddp", "paired-ddp-1", machine_info(), extra)
    print(f"bench_ddp: saved {target} ({time.time() - t0:.0f} s)")
    print_table(rows)
    return 0
