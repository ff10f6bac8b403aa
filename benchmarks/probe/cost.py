"""What Lightning costs this module per step, by the suite's paired protocol (benchmarks/clock/harness.py).

Three sides, each a whole run of `--steps` optimizer steps from the probe's start, timed by the step clock
(harness.StepClock: the time each training batch is asked for, by a wrapper around the batch sampler, the
same on both sides):
  plain      plain.fit over the replayed DataLoader;
  lightning  the bare Trainer (lightning.py) over the same DataLoader;
  floor      plain.fit over the same batches already on the device, in a list: no DataLoader, no transfer.
With --ladder, Lightning again with one feature switched on (lightning.FEATURES) per rung.
One untimed warm-up run of each side first; then `rounds` rounds, each running plain and Lightning back to back
(which goes first alternates), then the rungs, then the floor. Per run: the mean step interval within each
epoch, the first WARMUP intervals of each epoch left out (the first steps after a new DataLoader iterator). Per
side: the mean over rounds and its 95 % interval (Student t); Lightning's overhead: the mean of the paired
differences (Lightning - plain, round by round), its interval the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from itertools import islice

import torch

from benchmarks.clock import harness
from benchmarks.clock.stats import mean_ci
from benchmarks.probe import lightning, plain
from benchmarks.probe.target import build

WARMUP = 2  # intervals left out at the start of each epoch
ROUNDS = 10  # the default: the #6196 example's 200 steps fit in a minute with these (docs/probe.md)


def device_batches(order, probe) -> list:
    """The floor's batches: the replayed loader's first epoch (at most the batches the run reads), on the device."""
    loader = order.loader()
    needed = probe.steps * probe.accumulate_grad_batches + 1
    return [plain.to_device(b, torch.device(probe.device)) for b in islice(loader, min(len(loader), needed))]


def clocked(side: str, cls, probe, order, floor_batches: list) -> float:
    """One timed run of one side: seconds per step (mean interval, WARMUP left out of each epoch)."""
    harness.side_environment("lightning" if side.startswith("lightning") else "plain")
    module = build(cls, probe.init_args, probe.seed)
    device = torch.device(probe.device)
    box: list = []

    def clock(sampler):
        box.append(harness.StepClock(sampler))
        return box[0]

    with harness.quiet_heap(), tempfile.TemporaryDirectory() as out, silent_stdout():
        if side == "floor":
            loader = clock(floor_batches)
            plain.fit(module, loader, probe.steps, probe.precision, device, probe.gradient_clip_val,
                      probe.accumulate_grad_batches)  # fmt: skip
        elif side == "plain":
            plain.fit(module, order.loader(clock), probe.steps, probe.precision, device, probe.gradient_clip_val,
                      probe.accumulate_grad_batches)  # fmt: skip
        else:
            feature = side.partition("+")[2] or None
            lightning.fit(module, order.loader(clock), probe, out, feature)
        harness.sync(device)
    intervals = box[0].intervals(len(box[0]), WARMUP)
    return float(intervals.mean()) if len(intervals) else float("nan")


@contextlib.contextmanager
def silent_stdout():
    """The progress-bar rung draws its bar into /dev/null: the probe's own output stays one line."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def sides(ladder: bool) -> tuple[list[str], list[str]]:
    rungs = [f"lightning+{f}" for f in lightning.FEATURES] if ladder else []
    return ["plain", "lightning"], [*rungs, "floor"]


def measure(cls, probe, order, rounds: int = ROUNDS, ladder: bool = False, progress=None) -> dict:
    pair, rest = sides(ladder)
    floor_batches = device_batches(order, probe)
    for side in [*pair, *rest]:  # warm-up, not recorded
        clocked(side, cls, probe, order, floor_batches)
    samples: dict[str, list[float]] = {s: [] for s in [*pair, *rest]}
    for r in range(rounds):
        for side in [*(pair if r % 2 == 0 else pair[::-1]), *rest]:
            samples[side].append(clocked(side, cls, probe, order, floor_batches))
        if progress:
            progress(r + 1, rounds)
    return analyse(samples, rounds)


def analyse(samples: dict[str, list[float]], rounds: int) -> dict:
    """Per side µs per step with intervals; overhead (Lightning - plain) and each rung's cost (rung - Lightning),
    paired by round."""
    us = {side: [1e6 * v for v in values] for side, values in samples.items()}
    result = {
        "rounds": rounds,
        "warmup_intervals_per_epoch": WARMUP,
        "step_us": {side: mean_ci(v) for side, v in us.items() if not side.startswith("lightning+")},
        "overhead_us": mean_ci([a - b for a, b in zip(us["lightning"], us["plain"], strict=True)]),
        "plain_over_floor_us": mean_ci([a - b for a, b in zip(us["plain"], us["floor"], strict=True)]),
        "samples_us": us,
    }
    if any(s.startswith("lightning+") for s in us):
        result["ladder_us"] = {
            lightning.FEATURES[s.partition("+")[2]]: mean_ci([a - b for a, b in zip(v, us["lightning"], strict=True)])
            for s, v in us.items()
            if s.startswith("lightning+")
        }
    o, p = result["overhead_us"], result["step_us"]["plain"]
    result["overhead_pct"] = 100 * o["mean"] / p["mean"]
    return result
