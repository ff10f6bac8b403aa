"""How long `nox -s bench_gpu` takes on one H200, case by case, from measured H200 times (docs/gpu.md, "The plan").

    python -m benchmarks.clock.gpu_plan [--run results/cuda-nvidia-h200/.../0001_bench.json]

A case of the paired protocol is: one warm-up run of each side at the shorter length, then `rounds` times each
length once, raw, Lightning and the floor back to back. Its time is the sum of those runs' walls, plus what the
harness does around each run (its untimed part, `GAP`), plus, once per pytest part, pytest's start-up.

Where the numbers come from:
  * the six plain-path step cases: the walls each (side, length) recorded in the H200 run 0001 (2026-11-30),
    the very runs the new session repeats;
  * the six on-device cases: the same walls, an upper bound (same lengths, same runs, same fixed costs; the input
    path only takes work away); the 2026-12-04 H200 log, the only other measure, is quoted beside the total;
  * the GPU sweep: per run, the fixed part a of t(n) = a + b*n fitted to 0001's autoencoder case of the same
    precision, plus n times the per-step time the H200 probe of 2026-11-30 measured at that point on the plain
    input path (again an upper bound for the on-device path), or where the probe did not measure the point,
    the slowest step it measured at that batch size;
  * the sweep's checkpoint, once per run on both sides (`checkpoint_every` = the point's epochs: the widest
    model writes 197 MiB a checkpoint, and with one every epoch the sweep would spend most of its time saving):
    its size over the rate torch.save reached on the reference CPU;
  * GAP: the harness's time around each run. 0001 shows 0.46-0.56 s a run (the case's time less its runs'
    walls and its warm-up); on the reference CPU the same gap was 0.49-0.59 s, of which two full garbage
    collections of the whole heap were about 0.5 s. Since `harness.quiet_heap` stopped doing them, the time
    around each run, timed directly on the reference CPU, is 0.034 s (autoencoder) and 0.077 s (minimal) on
    average over a case;
  * pytest's start-up per part, and peak memory: 0001's session (219 s in all, its cases 209.5 s; memory 5.3 s);
  * nox's machine check and each part's save (`python -m benchmarks.store save`): each a fresh interpreter
    importing torch, 1.9 s on the reference CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.bench_scaling import GPU_POINTS
from benchmarks.cases import FEW_ROUNDS, case, rounds_for
from raw_torch.common.cli import Parser
from raw_torch.common.errors import UsageError

RUN_0001 = Path("results/cuda-nvidia-h200/Linux-CPython-3.12-64bit/0001_bench.json")
GAP = 0.08  # s per run around the harness's timed part, after the quiet_heap change (the larger CPU mean)
GAP_BEFORE = 0.51  # s per run in 0001 (mean over its six step cases)
STARTUP = 9.5  # s per pytest part: 0001's session time less its cases' times
MEMORY = 5.3  # s: 0001's twelve peak-memory cases
SUBPROCESS = 1.9  # s: nox's machine check (once) and each part's `benchmarks.store save`, on the reference CPU
BUDGET = 300.0  # s: the five minutes
# The H200 probe of 2026-11-30 (../shared/gpu-runs/h200-2026-11-30/scaling_probe.jsonl): µs per step of
# raw, Lightning and the floor, plain input path, 3 rounds of the same protocol
PROBE_US = {
    (64, 32, "32-true"): (2052, 3404, 1579),
    (1024, 32, "32-true"): (1794, 3107, 1383),
    (4096, 32, "32-true"): (1806, 3108, 1310),
    (4096, 256, "bf16-mixed"): (3851, 5141, 1968),
    (4096, 1024, "bf16-mixed"): (8573, 10375, 2169),
    (16384, 1024, "bf16-mixed"): (9152, 10874, 2240),
}
# the 2026-12-04 H200 log (main 4a7881a, before the quiet_heap change): 4 on-device cases and a part of a fifth
# in 160 s, 7 sweep points and a part of an eighth in 220 s, each part with its own pytest start-up
LOG_2026_12_04 = {"device": (160.0, 4.5), "sweep": (220.0, 7.5)}
SIDES = ("raw", "lightning", "floor")
# torch.save of the hidden-16384 autoencoder and its Adam state (197 MiB) took 0.43 s on the reference CPU
CHECKPOINT_BYTES_PER_S = 197 * 2**20 / 0.43


def protocol_seconds(walls: dict[tuple[str, int], float], limits: list[int], rounds: int) -> tuple[float, int]:
    """(seconds, runs) of one case: the warm-up at the shorter length, then every (side, length) `rounds` times."""
    warm = sum(walls[side, min(limits)] for side in SIDES)
    timed = rounds * sum(walls[side, n] for side in SIDES for n in limits)
    runs = len(SIDES) * (1 + rounds * len(limits))
    return warm + timed + runs * GAP, runs


def step_case_walls(entry: dict) -> dict[tuple[str, int], float]:
    """The mean wall of each (side, length) a saved step-cost case recorded."""
    out = {}
    for side in SIDES:
        for limit in entry["limits"]:
            walls = [s["seconds"] for s in entry["samples"] if (s["impl"], s["limit"]) == (side, limit)]
            out[side, limit] = float(np.mean(walls))
    return out


def sweep_walls(point: tuple, fixed: dict[str, float]) -> tuple[dict[tuple[str, int], float], str]:
    hidden, batch, precision, epochs, limits = point
    us = PROBE_US.get((hidden, batch, precision))
    basis = "probe"
    if us is None:
        same_batch = [v for (h, b, p), v in PROBE_US.items() if b == batch]
        us = tuple(max(v[i] for v in same_batch) for i in range(3))
        basis = f"slowest probe step at batch {batch}"
    save = checkpoint_seconds(hidden)  # both sides checkpoint once, after the last epoch; the floor does not
    walls = {
        (side, n): fixed[side] + (save if side != "floor" else 0.0) + epochs * n * us[i] * 1e-6
        for i, side in enumerate(SIDES)
        for n in limits
    }
    return walls, basis + (f", {save:.2f} s a checkpoint" if save >= 0.01 else "")


def checkpoint_seconds(hidden: int) -> float:
    """One checkpoint of the autoencoder at this width, as long as torch.save took for the widest on the reference
    CPU (197 MiB: 8 bytes a parameter), in proportion to its parameters."""
    from raw_torch.common.models import shared_model

    params = sum(p.numel() for p in shared_model("autoencoder", hidden).parameters())
    return 8 * params / CHECKPOINT_BYTES_PER_S


def plan(run: Path) -> tuple[list[tuple[str, str, float, str]], float]:
    data = json.loads(run.read_text())
    cases = {e["case"]: e for e in (b["extra_info"] for b in data["benchmarks"]) if e.get("kind") == "step_cost"}
    rows = []
    for part, suffix in (("steps", ""), ("device", "-data-on-device")):
        for name, entry in cases.items():
            # the lengths and rounds of today's code, the walls 0001 measured at those lengths
            _, limits = case(entry["workload"], "cuda", entry["precision"], smoke=False)
            rounds = rounds_for("cuda", entry["precision"], smoke=False)
            walls = step_case_walls(entry)
            if any((side, n) not in walls for side in SIDES for n in limits):
                raise ValueError(f"{name}: lengths {limits}, but {run.name} measured {entry['limits']}")
            seconds, runs = protocol_seconds(walls, limits, rounds)
            basis = "0001's walls" + (" (upper bound)" if suffix else "")
            rows.append((part, name + suffix, seconds, f"{rounds} rounds, {runs} runs; {basis}"))
    for point in GPU_POINTS:
        hidden, batch, precision, epochs, limits = point
        fits = cases[f"autoencoder-cuda-{precision}"]["fits"]
        fixed = {side: max(fits[side]["a"], 0.0) for side in SIDES}
        walls, basis = sweep_walls(point, fixed)
        seconds, runs = protocol_seconds(walls, limits, FEW_ROUNDS)
        rows.append(("sweep", f"h{hidden}-b{batch}-{precision}", seconds, f"{FEW_ROUNDS} rounds, {runs} runs; {basis}"))
    rows.append(("memory", "12 cases", MEMORY, "0001"))
    parts = sorted({r[0] for r in rows}, key=[r[0] for r in rows].index)
    total = sum(r[2] for r in rows) + (STARTUP + SUBPROCESS) * len(parts) + SUBPROCESS
    return rows, total


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.clock.gpu_plan", description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=RUN_0001, help=f"a saved H200 bench run (default {RUN_0001})")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.run.is_file():
        raise UsageError(f"--run {args.run}: no such file")
    try:
        rows, total = plan(args.run)
    except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError is a ValueError
        raise UsageError(f"--run {args.run}: not a saved CUDA bench run with the step cases ({e!r:.80})") from None
    print("| part | case | predicted s | basis |\n| --- | --- | ---: | --- |")
    for part, name, seconds, basis in rows:
        print(f"| {part} | {name} | {seconds:.1f} | {basis} |")
    parts = {}
    for part, _, seconds, _ in rows:
        parts[part] = parts.get(part, 0.0) + seconds
    each = ", ".join(f"{p} {s:.0f} s" for p, s in parts.items())
    n = len(parts)
    print(
        f"\nTotal: {total:.0f} s ({each}; pytest's start-up {STARTUP:g} s and the part's save {SUBPROCESS:g} s, "
        f"× {n} parts; nox's machine check {SUBPROCESS:g} s); budget {BUDGET:.0f} s"
    )
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    from raw_torch.common.cli import main_guard

    raise SystemExit(main_guard("benchmarks.clock.gpu_plan", main, kept="nothing written"))
