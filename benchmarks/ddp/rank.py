"""Inside each process of `nox -s bench_ddp` (launched by session.py): the paired protocol, under torchrun.

`python -m torch.distributed.run --standalone --nproc-per-node W -m benchmarks.ddp.rank PLAN OUT` starts W processes;
each runs the same sequence of whole runs (raw, Lightning, at world size 2 Lightning without its per-step SIGTERM
broadcast, then the floor and the collectives alone; the same order on every rank, since their collectives must
meet) and writes OUT/rank<R>.json with every sample it took.

The step clock. Under torchrun both sides replace the training loader's sampler with a DistributedSampler (the
raw loop in loop.distributed_loader, Lightning at fit), so a clock in the batch sampler (harness.StepClock) would
be dropped. What both keep is the dataset: FetchClock wraps it and notes the time of each batched fetch
(`__getitems__`, which the DataLoader calls once per batch). One perf_counter() and one append per step, on both
sides. With W = 1 the same clock is used, so the two world sizes are read the same way.

PAIRED_DDP_TRACE=1 prints, on every rank, each run as it starts (where a rank waits, if one ever hangs).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, RandomSampler

from benchmarks.cases import base_config
from benchmarks.clock import harness
from raw_torch import loop
from raw_torch.common.config import RunConfig, resolve_device
from raw_torch.common.data import make_loaders
from raw_torch.common.models import shared_model
from raw_torch.common.world import world


class FetchClock(Dataset):
    """The training dataset, unchanged, with the time of every batched fetch noted: the wall clock
    (perf_counter) and the CPU time of the thread that fetches (thread_time: the main thread, which runs the
    step; gloo's own threads and time spent waiting are not in it)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.stamps: list[float] = []
        self.cpu: list[float] = []

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]

    def __getitems__(self, indices: list[int]) -> list:
        self.stamps.append(time.perf_counter())
        self.cpu.append(time.thread_time())
        return [self.dataset[i] for i in indices]  # what the DataLoader does without __getitems__

    def step_seconds(self, epochs: int, steps_per_epoch: int, cpu: bool = False) -> tuple[float, int]:
        """(total, count) of the intervals between the first `steps_per_epoch` fetches of each epoch, wall clock
        (or CPU time of the fetching thread). Every epoch of a run fetches as many batches (the limit, on both
        sides: Lightning 2.6.6 fetches none beyond it; a loader that fetched ahead would still fetch as many per
        epoch), which is how the flat list splits into epochs."""
        per_epoch, extra = divmod(len(self.stamps), epochs)
        if extra or per_epoch < steps_per_epoch:
            raise RuntimeError(f"{len(self.stamps)} fetches do not split into {epochs} epochs of {steps_per_epoch}")
        stamps = np.asarray(self.cpu if cpu else self.stamps).reshape(epochs, per_epoch)[:, :steps_per_epoch]
        intervals = np.diff(stamps, axis=1)
        return float(intervals.sum()), intervals.size


def clocked_loaders(cfg: RunConfig) -> tuple[tuple, FetchClock]:
    """The shared loaders, the training one over a FetchClock: the same data, batches and order."""
    train, val, test = make_loaders(cfg)
    clock = FetchClock(train.dataset)
    train = DataLoader(
        clock,
        batch_size=train.batch_size,
        shuffle=isinstance(train.sampler, RandomSampler),
        num_workers=train.num_workers,
        collate_fn=train.collate_fn,
    )
    return (train, val, test), clock


def time_run(impl: str, cfg: RunConfig) -> tuple[float, float, float]:
    """One whole run of one side: (wall seconds, seconds per step, CPU seconds per step of the main thread).
    NO_BROADCAST is Lightning's run with its per-step SIGTERM broadcast left out (`without_sigterm_broadcast`)."""
    side = "lightning" if impl == NO_BROADCAST else impl
    harness.side_environment(side)
    module = harness.run_module(side, cfg.workload)
    loaders, clock = clocked_loaders(cfg)
    steps = cfg.epochs * cfg.limit_train_batches
    left_out = without_sigterm_broadcast(steps) if impl == NO_BROADCAST else contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as out, harness.quiet_heap(), left_out:
        t0 = time.perf_counter()
        module.run(cfg.replace(out=out), loaders=loaders)
        wall = time.perf_counter() - t0
    total, count = clock.step_seconds(cfg.epochs, cfg.limit_train_batches)
    cpu, _ = clock.step_seconds(cfg.epochs, cfg.limit_train_batches, cpu=True)
    return wall, total / count, cpu / count


def time_floor(cfg: RunConfig) -> tuple[float, float, float]:
    """The floor under torchrun (harness.floor_step): this rank's first batches, already in memory, through
    `loop.training_step` with the model in DistributedDataParallel (with W = 1, the plain model): the step and
    DDP's gradient all-reduce, no loop (the process group: `one_process_group`)."""
    harness.side_environment("floor")
    batches, step = harness.floor_step(cfg)
    return time_steps([b for _ in range(cfg.epochs) for b in batches], step)


def time_steps(items, step) -> tuple[float, float, float]:
    """`step(item)` for every item, timed: (wall seconds, wall and main-thread CPU seconds per item). The ranks
    start the clock together, after each one's own collection."""
    with harness.quiet_heap():
        loop.barrier()
        t0, c0 = time.perf_counter(), time.thread_time()
        for item in items:
            step(item)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    return wall, wall / len(items), cpu / len(items)


def time_allreduce(cfg: RunConfig) -> tuple[float, float, float]:
    """The collective alone, at world size 2: one all-reduce per step of a float32 tensor holding as many numbers
    as the model's parameters (what DDP's gradient bucket carries each step: these models fit in its first
    bucket, 1 MB), as many times as the floor takes steps; no model, no step, no DDP."""
    model = shared_model(cfg.workload, cfg.hidden)
    flat = torch.zeros(sum(p.numel() for p in model.parameters()), device=resolve_device(cfg.device))
    return time_steps(range(cfg.epochs * cfg.limit_train_batches), lambda _: dist.all_reduce(flat))


def time_broadcast(cfg: RunConfig) -> tuple[float, float, float]:
    """What Lightning 2.6.6 adds to every training step under DDP, alone (`_TrainingEpochLoop.advance` calls
    `_broadcast_sigterm_tensor`: rank 0 broadcasts whether it received SIGTERM, every rank reads the flag), as
    many times as the floor takes steps. The raw loop has no such collective (each rank handles its own
    signal, common/cli.main_guard)."""
    device = resolve_device(cfg.device)

    def broadcast_flag(_) -> None:
        flag = torch.tensor([0], device=device)
        dist.broadcast(flag, src=0)
        flag.item()

    return time_steps(range(cfg.epochs * cfg.limit_train_batches), broadcast_flag)


NO_BROADCAST = "lightning_no_broadcast"  # Lightning's run without its per-step SIGTERM broadcast (world size 2)


@contextlib.contextmanager
def without_sigterm_broadcast(steps: int):
    """Lightning's training loop with its per-step SIGTERM broadcast (`_TrainingEpochLoop._broadcast_sigterm_tensor`,
    pytorch-lightning 2.6.6) left out, for one run: what the run would cost without that collective, measured,
    beside the broadcast timed alone (time_broadcast). Nothing else changes: the broadcast only reads rank 0's
    SIGTERM flag, which no run here sets. The calls are counted, and a run that made other than one per step
    (`steps`) fails: a Lightning that moved or renamed the broadcast would otherwise be measured unchanged.
    A benchmark's ablation, not a setting of Lightning's (Lightning PR #21640 proposes one,
    `broadcast_sigterm_every_n_steps`, for issue #21487)."""
    from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop

    keep = _TrainingEpochLoop._broadcast_sigterm_tensor
    calls = []
    _TrainingEpochLoop._broadcast_sigterm_tensor = lambda self: calls.append(1)
    try:
        yield
    finally:
        _TrainingEpochLoop._broadcast_sigterm_tensor = keep
    if len(calls) != steps:
        raise RuntimeError(f"Lightning called _broadcast_sigterm_tensor {len(calls)} times in {steps} steps")


def measure(impl: str, cfg: RunConfig) -> tuple[float, float, float]:
    """(wall seconds, seconds per step, main-thread CPU seconds per step) of one run."""
    if os.environ.get("PAIRED_DDP_TRACE"):
        print(f"rank {world().rank}: {impl} {cfg.workload} {cfg.precision} limit {cfg.limit_train_batches}", flush=True)
    if impl in ALONE:
        return ALONE[impl](cfg)
    return time_floor(cfg) if impl == "floor" else time_run(impl, cfg)


def run_case(case: dict, rounds: list[int], seed: int) -> list[dict]:
    """The paired protocol of harness.protocol for one case, on every rank in the same order: per round, each
    run length (shuffled) once per side, raw and Lightning back to back (alternating which goes first; at world
    size 2 Lightning without its SIGTERM broadcast, NO_BROADCAST, after them or before them, so Lightning sits
    between the two it is paired with), then the floor, then (at world size 2) the collectives alone (ALONE)."""
    cfg = base_config(case["workload"], "cpu", case["precision"], epochs=case["epochs"])
    sides = ["raw", "lightning", NO_BROADCAST] if world().distributed else ["raw", "lightning"]
    last = ["floor", *ALONE] if world().distributed else ["floor"]

    def timed(impl: str, run_cfg: RunConfig) -> dict:
        wall, step, cpu = measure(impl, run_cfg)
        return {"seconds": wall, "step_seconds": step, "cpu_step_seconds": cpu}

    return harness.paired_runs(cfg, case["limits"], rounds, sides, last, timed, seed)


ALONE = {"allreduce": time_allreduce, "sigterm_broadcast": time_broadcast}  # collectives timed on their own


@contextlib.contextmanager
def one_process_group(cfg: RunConfig):
    """The process group, joined once for every run of this process, and left at the end.

    Each side joins the job's group only if it is not there yet (loop.processes; Lightning's
    `_init_dist_connection`), so both find this one and neither pays for joining inside its runs. The raw side
    also leaves the group at the end of its run (loop.processes): that is turned into nothing while the
    runs go on, because a group started again in the same process can hang in gloo's connect: the destroyed
    default group's name counter is reset, so the new group's rendezvous keys in torchrun's store are the old
    group's, and a rank that arrives first may read the other's old address and retry it until gloo's timeout
    (pytorch/pytorch#55967; plain init / destroy / init under torchrun does it when one rank is late). Neither
    the joining nor the leaving is inside a step; the wall time of a run (its fixed cost) holds neither, on
    either side."""
    if not world().distributed:
        yield
        return
    leave = dist.destroy_process_group
    with loop.processes(cfg):
        dist.destroy_process_group = lambda group=None: None
        try:
            yield
        finally:
            dist.destroy_process_group = leave


def main(argv: list[str]) -> int:
    plan_file, out = Path(argv[0]), Path(argv[1])
    plan = json.loads(plan_file.read_text())
    torch.set_num_threads(plan["threads"])
    w = world()
    t0 = time.time()
    cases = []
    with one_process_group(base_config("minimal", "cpu", "32-true")):
        for k, case in enumerate(plan["cases"]):
            samples = run_case(case, plan["rounds"], seed=plan["seed"] + k)
            cases.append({**case, "samples": samples})
    record = {"rank": w.rank, "world_size": w.world_size, "threads": torch.get_num_threads(), "pid": os.getpid(),
              "wall_s": time.time() - t0, "cases": cases}  # fmt: skip
    (out / f"rank{w.rank}.json").write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
