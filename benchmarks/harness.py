"""How the benchmarks measure: timed runs, the floor, the paired interleaved protocol, and the statistics.

Two measurements of every run, both non-intrusive (nothing is added to either side's code):
  * the step clock (StepClock): the time at which each training batch is fetched, noted by a wrapper
    around the shared DataLoader's batch sampler. The mean interval between fetches within an epoch is
    the steady per-step time, everything included but the epoch ends.
  * the wall time t(n) of the whole run (data, model, set-up, sanity check, n steps, per-epoch
    validation and checkpoints, test). Fitting t(n) = a + b*n over run lengths n (varied with
    limit_train_batches at a fixed number of epochs) gives the fixed cost a, and b as a cross-check
    of the step clock.

The protocol. For R rounds, every run length (in a shuffled order) is run once per implementation,
raw and Lightning back to back, the one that goes first alternating, then the floor. Lightning minus
raw at the same (round, length) is one paired difference, so machine drift slower than a pair cancels.
Per-step overhead: mean of the paired step-clock differences; fixed overhead: intercept of the paired
wall-time differences against n. Every interval is 95%, Student t.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from itertools import islice

import numpy as np
import torch
from scipy import stats
from torch.utils.data import DataLoader

from raw_torch import loop
from raw_torch.config import RunConfig, resolve_device
from raw_torch.data import make_loaders
from raw_torch.evaluate import build_model

IMPLS = ("raw", "lightning")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_module(impl: str, workload: str):
    return importlib.import_module(f"{'raw_torch' if impl == 'raw' else 'with_lightning'}.{workload}")


@contextlib.contextmanager
def quiet_heap():
    """Collect, then freeze every object the harness holds, for the duration of one timed run.

    The garbage collector stays on, as in a user's script, but its full collections no longer walk
    the benchmark process's own heap (pytest, earlier results): that walk grows as the session goes on
    and taxes the side that allocates more, which would add noise and bias. gc.freeze() moves the
    existing objects out of the collector's view; the run's own objects are collected as usual.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.collect()


class StepClock:
    """A batch sampler that notes the time each training batch is asked for, then hands it on unchanged.

    Both sides pull batches from the same DataLoader, so the clock reads the same event on both: the
    start of each step's fetch. The interval between two fetches in one epoch is one steady-state
    step, everything included (data, forward, backward, optimizer, logging, hooks, progress bar);
    epoch ends (validation, checkpoints) fall between epochs and are not in it. Cost: one
    perf_counter() and one list append per step, on both sides.
    """

    def __init__(self, batch_sampler) -> None:
        self.batch_sampler = batch_sampler
        self.epochs: list[list[float]] = []

    def __iter__(self):
        stamps: list[float] = []
        self.epochs.append(stamps)
        for indices in self.batch_sampler:
            stamps.append(time.perf_counter())
            yield indices

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def intervals(self, steps_per_epoch: int, warmup: int) -> np.ndarray:
        """Every step interval (s) within the first `steps_per_epoch` fetches of each epoch, epoch after epoch,
        less the first `warmup` intervals of each epoch (the first steps after a new DataLoader iterator)."""
        per_epoch = [np.diff(np.asarray(stamps[:steps_per_epoch]))[warmup:] for stamps in self.epochs]
        return np.concatenate(per_epoch) if per_epoch else np.empty(0)

    def step_seconds(self, steps_per_epoch: int) -> tuple[float, int]:
        """(total time, number of intervals) over the first `steps_per_epoch` fetches of every epoch."""
        intervals = self.intervals(steps_per_epoch, warmup=0)
        return float(intervals.sum()), len(intervals)


def clocked_loaders(cfg: RunConfig) -> tuple[tuple, StepClock]:
    """The shared loaders, with the training loader's batch sampler wrapped in a StepClock.

    Same dataset, same sampler, same batches in the same order: only the clock is added.
    """
    train, val, test = make_loaders(cfg)
    clock = StepClock(train.batch_sampler)  # on CUDA: no synchronize per step, the run stays asynchronous
    train = DataLoader(train.dataset, batch_sampler=clock, num_workers=train.num_workers)
    return (train, val, test), clock


def time_run(impl: str, cfg: RunConfig) -> tuple[float, float]:
    """One whole `run(cfg)` of one side, into a fresh temporary folder: (wall seconds, seconds per step)."""
    wall, clock = clocked_run(impl, cfg)
    total, count = clock.step_seconds(cfg.limit_train_batches or len(clock))
    return wall, total / count if count else float("nan")


def clocked_run(impl: str, cfg: RunConfig) -> tuple[float, StepClock]:
    """One whole `run(cfg)` of one side, into a fresh temporary folder: (wall seconds, its step clock)."""
    device = resolve_device(cfg.device)
    module = run_module(impl, cfg.workload)
    loaders, clock = clocked_loaders(cfg)
    with tempfile.TemporaryDirectory() as out, quiet_heap():
        cfg = cfg.replace(out=out)
        sync(device)
        t0 = time.perf_counter()
        module.run(cfg, loaders=loaders)
        sync(device)
        wall = time.perf_counter() - t0
    return wall, clock


def prepare_floor(cfg: RunConfig):
    """The floor: the same model, optimizer and precision step on batches already on the device.

    No DataLoader, no validation, no logging, no loop logic: `loop.training_step` over a list, for the
    same number of steps as the runs it is compared with. What a run costs beyond this is the loop's.
    Returns the step loop, ready to time; building it (data, model) is not part of the floor.
    """
    device = resolve_device(cfg.device)
    loop.seed_everything(cfg.seed)
    train_loader, _, _ = make_loaders(cfg)
    batches = [loop.move_to_device(b, device) for b in islice(train_loader, cfg.limit_train_batches)]
    model, compute_loss = build_model(cfg)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scaler = loop.make_scaler(device, cfg.precision)

    def steps() -> None:
        for _ in range(cfg.epochs):
            for batch in batches:
                loop.training_step(model, batch, compute_loss, optimizer, scaler, device, cfg.precision)
        sync(device)

    return steps


def time_floor(cfg: RunConfig) -> tuple[float, float]:
    steps = prepare_floor(cfg)
    with quiet_heap():
        sync(resolve_device(cfg.device))
        t0 = time.perf_counter()
        steps()
        wall = time.perf_counter() - t0
    return wall, wall / (cfg.epochs * cfg.limit_train_batches)


def measure(impl: str, cfg: RunConfig) -> tuple[float, float]:
    return time_floor(cfg) if impl == "floor" else time_run(impl, cfg)


def ols(x, y) -> dict:
    """y = a + b*x by least squares; 95% confidence intervals from Student's t with N-2 degrees of freedom."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    design = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    dof = len(x) - 2
    if dof < 1:
        return {"a": float(beta[0]), "b": float(beta[1]), "a_ci": float("nan"), "b_ci": float("nan"), "n": len(x)}
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(design.T @ design)
    t = float(stats.t.ppf(0.975, dof))
    return {
        "a": float(beta[0]),
        "b": float(beta[1]),
        "a_ci": t * float(np.sqrt(cov[0, 0])),  # half-width of the 95% interval
        "b_ci": t * float(np.sqrt(cov[1, 1])),
        "resid_sd": float(np.sqrt(s2)),
        "n": len(x),
    }


def protocol(cfg: RunConfig, limits: list[int], rounds: int, impls=("raw", "lightning", "floor"), seed=0) -> dict:
    """Run the paired, interleaved protocol for one case and return every sample and every estimate."""
    rng = random.Random(seed)
    for impl in impls:  # warm-up, not recorded: first-call costs (allocator, caches, lazy imports)
        measure(impl, cfg.replace(limit_train_batches=min(limits)))
    samples = []
    for r in range(rounds):
        order = list(limits)
        rng.shuffle(order)
        for i, limit in enumerate(order):
            seq = list(impls[:2])
            if (r + i) % 2:
                seq.reverse()  # raw first, then Lightning first, alternately
            seq += list(impls[2:])
            for impl in seq:
                wall, step = measure(impl, cfg.replace(limit_train_batches=limit))
                samples.append(
                    {
                        "round": r,
                        "limit": limit,
                        "steps": limit * cfg.epochs,
                        "impl": impl,
                        "seconds": wall,
                        "step_seconds": step,
                    }
                )
    return analyse(samples, cfg, impls)


def mean_ci(values) -> dict:
    """Mean and the half-width of its 95% interval (Student t)."""
    v = np.asarray(values, float)
    if len(v) < 2:
        return {"mean": float(v.mean()), "ci": float("nan"), "sd": float("nan"), "n": len(v)}
    sd = float(v.std(ddof=1))
    return {
        "mean": float(v.mean()),
        "ci": float(stats.t.ppf(0.975, len(v) - 1)) * sd / np.sqrt(len(v)),
        "sd": sd,
        "n": len(v),
    }


def _pairs(samples, minuend: str, subtrahend: str, key: str) -> tuple[list[int], list[float]]:
    t = {(s["round"], s["steps"], s["impl"]): s[key] for s in samples}
    keys = sorted({(r, n) for r, n, impl in t if impl == minuend and (r, n, subtrahend) in t})
    return [n for _, n in keys], [t[(r, n, minuend)] - t[(r, n, subtrahend)] for r, n in keys]


def analyse(samples: list[dict], cfg: RunConfig, impls) -> dict:
    """Per implementation: step time (clock) and t(n) = a + b*n (wall); paired: Lightning - raw of both."""
    result = {"samples": samples, "batch_size": cfg.batch_size, "epochs": cfg.epochs, "step": {}, "fits": {}}
    for impl in impls:
        rows = [s for s in samples if s["impl"] == impl]
        result["step"][impl] = mean_ci([s["step_seconds"] for s in rows])
        result["fits"][impl] = ols([s["steps"] for s in rows], [s["seconds"] for s in rows])
    for name, (a, b) in {"overhead": ("lightning", "raw"), "raw_over_floor": ("raw", "floor")}.items():
        if {a, b} <= set(impls):
            n, d_step = _pairs(samples, a, b, "step_seconds")
            n, d_wall = _pairs(samples, a, b, "seconds")
            result[name] = {"step": mean_ci(d_step), "fit": ols(n, d_wall)}
    if "overhead" in result:
        o, raw = result["overhead"]["step"], result["step"]["raw"]
        # percent of the raw step; interval by the delta method (the two means taken as independent)
        pct_ci = np.sqrt((o["ci"] / raw["mean"]) ** 2 + (o["mean"] * raw["ci"] / raw["mean"] ** 2) ** 2)
        result["overhead"]["pct"] = 100 * o["mean"] / raw["mean"]
        result["overhead"]["pct_ci"] = 100 * float(pct_ci)
    result["throughput"] = {impl: cfg.batch_size / result["step"][impl]["mean"] for impl in impls}
    return result


# --- resolution: the per-step overhead to about 10 µs ----------------------------------------------


def resolve(cfg: RunConfig, triples: int, warmup: int = 2, seed: int = 0, boot: int = 2000) -> dict:
    """The long, fine protocol for one case: `triples` times raw, Lightning, raw again, back to back.

    The number of triples is fixed before the first run (never "until the interval is small enough",
    which would make the interval lie). Every run records every step interval (step clock), less the
    first `warmup` intervals of each epoch. Raw runs first and last in each triple, so a linear drift
    within the triple cancels, and its second run against its first is an A/A control: the same code
    against itself, whose interval must hold 0. Estimates: `analyse_resolve`.
    """
    limit = cfg.limit_train_batches
    for impl in IMPLS:  # warm-up, not recorded
        clocked_run(impl, cfg)
    runs: dict[str, list] = {"raw": [], "lightning": [], "raw_again": []}
    walls: dict[str, list] = {k: [] for k in runs}
    for _ in range(triples):
        for key in runs:
            wall, clock = clocked_run("raw" if key == "raw_again" else key, cfg)
            runs[key].append(clock.intervals(limit, warmup))
            walls[key].append(wall)
    intervals = {k: np.stack(v) for k, v in runs.items()}
    return {**analyse_resolve(intervals, seed=seed, boot=boot), "warmup": warmup, "walls": walls}


QUANTILES = (10, 50)  # the headline is the 10th percentile; the median is reported beside it
BATCHES = 8  # consecutive batches of triples for the drift-aware interval


def analyse_resolve(intervals: dict[str, np.ndarray], seed: int = 0, boot: int = 2000) -> dict:
    """Estimates and 95% intervals from {raw, lightning, raw_again}: arrays (runs, step positions), seconds.

    Row i of every array is triple i. Two runs of one side do the same work at the same step position.
    Per position, a low percentile over runs is that step's cost with the host's interference (another
    tenant's burst, a slow spell lasting several runs) left out as far as the data allow: interference
    only ever adds time (Chen & Revels 2016, "Robust benchmarking in noisy environments", who use the
    minimum; the 10th percentile keeps a bootstrap interval valid). Whatever the code does at a
    position (logging every 50 steps, collecting its own garbage) happens in every run and stays in.

    For q in QUANTILES: overhead = mean over positions of (q-th percentile of Lightning's runs - q-th
    percentile of raw's runs, both raw runs of each triple pooled); control = the same for raw's second
    runs against its first. Two 95% intervals for each:
      ci        percentile bootstrap over triples (`boot` draws, fixed seed): right if the triples are
                independent, that is, if the host's speed does not wander over the session;
      ci_drift  batch means: the same estimate in BATCHES consecutive batches of triples, and Student t
                on their spread, centred on the estimate from all triples. A host that speeds up and slows
                down over minutes widens it; without drift it agrees with `ci`. This is the honest one.
    For comparison, the default protocol's estimator on the same runs: per-run mean, paired, Student t.
    """
    raw, light, again = (np.asarray(intervals[k], float) for k in ("raw", "lightning", "raw_again"))
    n = raw.shape[0]
    names = ("overhead", "control", "raw", "lightning")

    def estimates(idx: np.ndarray) -> np.ndarray:
        """Rows: QUANTILES; columns: `names` (each a mean over step positions)."""
        r, a = raw[idx], again[idx]
        q_raw = np.percentile(np.concatenate([r, a]), QUANTILES, axis=0)
        q_light = np.percentile(light[idx], QUANTILES, axis=0)
        control = np.percentile(a, QUANTILES, axis=0) - np.percentile(r, QUANTILES, axis=0)
        return np.stack([(q_light - q_raw).mean(1), control.mean(1), q_raw.mean(1), q_light.mean(1)], axis=1)

    point = estimates(np.arange(n))
    rng = np.random.default_rng(seed)
    draws = np.stack([estimates(rng.integers(0, n, n)) for _ in range(boot)])
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    k = min(BATCHES, n)
    batches = np.stack([estimates(idx) for idx in np.array_split(np.arange(n), k)])  # (k, quantiles, names)
    t = float(stats.t.ppf(0.975, k - 1)) if k > 1 else float("nan")
    drift = t * batches.std(axis=0, ddof=1) / np.sqrt(k) if k > 1 else np.full(point.shape, np.nan)

    by_q = {
        f"q{q}": {
            name: {
                "value": float(point[i, j]),
                "lo": float(lo[i, j]),
                "hi": float(hi[i, j]),
                "ci": float(hi[i, j] - lo[i, j]) / 2,
                "ci_drift": float(drift[i, j]),
                "batches": batches[:, i, j].tolist(),
            }
            for j, name in enumerate(names)
        }
        for i, q in enumerate(QUANTILES)
    }
    per_run = {"raw": raw.mean(1), "lightning": light.mean(1), "raw_again": again.mean(1)}
    sides = (("raw", raw), ("lightning", light), ("raw_again", again))
    return {
        "triples": n,
        "positions": raw.shape[1],
        "boot": boot,
        "batch_edges": [int(b[0]) for b in np.array_split(np.arange(n), k)] + [n],
        **by_q,
        "mean_paired": mean_ci(per_run["lightning"] - (per_run["raw"] + per_run["raw_again"]) / 2),
        "mean_control": mean_ci(per_run["raw_again"] - per_run["raw"]),
        # per run, in order: the median interval (the report plots it against time)
        "per_run_median": {key: np.median(v, axis=1).tolist() for key, v in sides},
        # every interval, in µs to 0.1 µs, one string per run (compact JSON), so that every estimate here
        # can be recomputed: np.array([row.split() for row in intervals_us["raw"]], float)
        "intervals_us": {key: [" ".join(f"{x:.1f}" for x in row) for row in v * 1e6] for key, v in sides},
    }


# --- start-up and memory, each in a fresh interpreter -----------------------------------------------

IMPORT_PROBE = (
    "import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
    "import pytorch_lightning; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)"
)


def time_imports() -> tuple[float, float]:
    """(import torch, then import pytorch_lightning on top of it), in seconds, in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True)
    torch_s, lightning_s = map(float, out.stdout.split())
    return torch_s, lightning_s


def peak_rss_mb(argv: list[str]) -> float:
    """Peak resident memory (MiB) of a fresh process running `python -m benchmarks.peak_rss argv...`."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.peak_rss", *argv], capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    if out.returncode != 0 or not lines or not lines[-1].startswith("peak_rss_mib "):
        raise RuntimeError(f"{argv} failed ({out.returncode}): {lines[-3:]}")
    return float(lines[-1].split()[1])


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(device: str = "cpu") -> str:
    """The results/ folder of this machine: cpu-<model>-<cores>core, or cuda-<gpu model>."""
    import re

    if device == "cuda":
        name = "cuda-" + torch.cuda.get_device_name(0)
    else:
        name = f"cpu-{cpu_model()}-{os.cpu_count()}core"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def versions() -> dict:
    import pytorch_lightning

    info = {
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
