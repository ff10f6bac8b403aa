"""How the benchmarks measure: timed runs, the floor, the paired interleaved protocol, the resolve protocol's
triples, and the start-up and memory probes. The statistics are in `stats.py`, the machine in `../store/machine.py`.

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
import random
import subprocess
import sys
import tempfile
import time
from itertools import islice

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.clock.stats import analyse, analyse_resolve
from raw_torch import loop
from raw_torch.common.config import RunConfig, resolve_device
from raw_torch.common.data import make_loaders
from raw_torch.common.models import shared_model

IMPLS = ("raw", "lightning")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_module(impl: str, workload: str):
    return importlib.import_module(f"{'raw_torch' if impl == 'raw' else 'with_lightning'}.{workload}")


@contextlib.contextmanager
def quiet_heap():
    """Freeze every object the harness holds for the duration of one timed run, then collect the run's garbage.

    The garbage collector stays on, as in a user's script, but its full collections no longer walk
    the benchmark process's own heap (pytest, earlier results): that walk grows as the session goes on
    and taxes the side that allocates more, which would add noise and bias. gc.freeze() moves the
    existing objects out of the collector's view; the run's own objects are collected as usual. The run's
    leftover cycles are collected while the heap is still frozen, which walks only the run's objects. Until
    2026-12-04 the whole heap was collected before and after each run: about 0.25 s each, untimed, yet about
    half of a GPU case's time (docs/gpu.md, "The plan"); the harness now spends 0.03-0.08 s around a run.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()  # the run's garbage only: the frozen heap is not walked
        gc.unfreeze()


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
    train = DataLoader(train.dataset, batch_sampler=clock, num_workers=train.num_workers, collate_fn=train.collate_fn)
    return (train, val, test), clock


def time_run(impl: str, cfg: RunConfig) -> tuple[float, float]:
    """One whole `run(cfg)` of one side, into a fresh temporary folder: (wall seconds, seconds per step)."""
    wall, clock = clocked_run(impl, cfg)
    total, count = clock.step_seconds(cfg.limit_train_batches or len(clock))
    return wall, total / count if count else float("nan")


NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def side_environment(impl: str) -> None:
    """The environment each side's own process has. `import pytorch_lightning` sets NVML_CHECK=1 for the whole
    process (lightning_fabric/__init__.py); from then on every optimizer.step() asks NVML whether CUDA is
    there (torch.accelerator.current_accelerator -> torch.cuda.is_available -> ctypes), which a CUDA build of
    torch on a machine without a GPU never caches: about 0.16 M instructions and 125 µs a step on the
    reference machine (docs/instructions.md). A plain PyTorch process never imports
    Lightning, so the raw and floor runs go without it, Lightning's with it."""
    if impl.startswith("lightning"):
        os.environ[NVML_CHECK] = "1"
    else:
        os.environ.pop(NVML_CHECK, None)


def clocked_run(impl: str, cfg: RunConfig) -> tuple[float, StepClock]:
    """One whole `run(cfg)` of one side, into a fresh temporary folder: (wall seconds, its step clock)."""
    side_environment(impl)
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


def floor_step(cfg: RunConfig):
    """The floor's parts: (batches already on the device, one training step on a batch).

    The same model, optimizer and precision step as the runs, on batches already on the device: no
    DataLoader, no validation, no logging, no loop logic, just `loop.training_step`. Building it (data,
    model) is not part of the floor. Under torchrun (`nox -s bench_ddp`): this rank's share of the batches,
    and the step through DistributedDataParallel, whose gradient all-reduce is part of it; one process: the
    plain step (`loop.distributed_loader` and `loop.distributed_loss` hand back what they are given).
    """
    device = resolve_device(cfg.device)
    loop.seed_everything(cfg.seed)
    train_loader, _, _ = make_loaders(cfg)
    train_loader = loop.distributed_loader(train_loader, cfg, train=True)
    batches = [loop.move_to_device(b, device) for b in islice(train_loader, cfg.limit_train_batches)]
    model = shared_model(cfg.workload, cfg.hidden)
    compute_loss = loop.distributed_loss(model.to(device), run_module("raw", cfg.workload).compute_loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scaler = loop.make_scaler(device, cfg.precision)
    autocast = loop.make_autocast(device, cfg.precision)
    return batches, lambda batch: loop.training_step(model, batch, compute_loss, optimizer, scaler, autocast)


def prepare_floor(cfg: RunConfig):
    """The floor for the same number of steps as the runs it is compared with: the step loop, ready to time.
    What a run costs beyond this is the loop's."""
    batches, step = floor_step(cfg)
    device = resolve_device(cfg.device)

    def steps() -> None:
        for _ in range(cfg.epochs):
            for batch in batches:
                step(batch)
        sync(device)

    steps.count = cfg.epochs * len(batches)  # steps per call (limit_train_batches may be None: all batches)
    return steps


def time_floor(cfg: RunConfig) -> tuple[float, float]:
    side_environment("floor")
    steps = prepare_floor(cfg)
    with quiet_heap():
        sync(resolve_device(cfg.device))
        t0 = time.perf_counter()
        steps()
        wall = time.perf_counter() - t0
    return wall, wall / steps.count


def measure(impl: str, cfg: RunConfig) -> tuple[float, float]:
    return time_floor(cfg) if impl == "floor" else time_run(impl, cfg)


def paired_runs(cfg: RunConfig, limits: list[int], rounds, sides: list[str], last: list[str], measure, seed=0):
    """The paired, interleaved protocol's runs, in order, every sample recorded; the one schedule of `nox -s
    bench` (harness.protocol) and `nox -s bench_ddp` (each rank, ddp/rank.py). One untimed warm-up run of each
    implementation first (first-call costs: allocator, caches, lazy imports); then per round, each run length
    once (in a shuffled order), the two `sides` back to back (raw first, then Lightning first, alternately),
    then `last` (the floor; under DDP also the collectives alone). `measure(impl, cfg)` returns the sample's
    measured values as a dict."""
    rng = random.Random(seed)
    for impl in [*sides, *last]:  # warm-up, not recorded
        measure(impl, cfg.replace(limit_train_batches=min(limits)))
    samples = []
    for r in rounds:
        order = list(limits)
        rng.shuffle(order)
        for i, limit in enumerate(order):
            seq = sides if (r + i) % 2 == 0 else sides[::-1]
            for impl in [*seq, *last]:
                sample = {"round": r, "limit": limit, "steps": limit * cfg.epochs, "impl": impl}
                samples.append({**sample, **measure(impl, cfg.replace(limit_train_batches=limit))})
    return samples


def protocol(cfg: RunConfig, limits: list[int], rounds: int, impls=("raw", "lightning", "floor"), seed=0) -> dict:
    """Run the paired, interleaved protocol for one case and return every sample and every estimate."""

    def timed(impl: str, run_cfg: RunConfig) -> dict:
        wall, step = measure(impl, run_cfg)
        return {"seconds": wall, "step_seconds": step}

    samples = paired_runs(cfg, limits, range(rounds), list(impls[:2]), list(impls[2:]), timed, seed)
    return analyse(samples, cfg, impls)


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
    """Peak resident memory (MiB) of a fresh process running `python -m benchmarks.clock.peak_rss argv...`."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.clock.peak_rss", *argv], capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    if out.returncode != 0 or not lines or not lines[-1].startswith("peak_rss_mib "):
        raise RuntimeError(f"{argv} failed ({out.returncode}): {lines[-3:]}")
    return float(lines[-1].split()[1])
