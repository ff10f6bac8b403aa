"""Counting what one training step executes, at the same place the step clock reads: the shared DataLoader's
batch fetches. Nothing is added to either side's code.

`Windows` wraps the training loader's batch sampler and calls `start()` at fetch `a` and `stop(label)` at
fetch `b` for each window (a, b): the instructions between are b - a whole cycles of fetch, step and
whatever the loop does between steps. Two counters plug in:
  * callgrind (`callgrind_counter`): valgrind's instruction count, toggled by torch's own client requests
    (`torch._C._valgrind_toggle`, `_valgrind_toggle_and_dump_stats`); one dump file per window.
  * opcodes (`OpcodeCounter`): CPython's opcode events (`sys.settrace` with `f_trace_opcodes`), each
    assigned to a named component of the code that executed it (`components.py`); run natively.

Windows sit inside the first epoch, after a warm-up (the first steps cost more: CPython 3.11 specializes its
bytecode as it runs, and Adam's first steps take MKL's slower paths for zero and tiny values): WINDOWS
below, the shorter SHORT_WINDOWS for the heavy mixed-precision autoencoder cases and the feature ladder
(whose rungs are compared at the same positions, so what varies with position cancels). Every case runs
with log_every_n_steps=QUIET_LOGGING, so no TensorBoard write falls inside a window; what logging does every
step (self.log, the result collection, the logger's bookkeeping) still runs. Lightning's data fetcher
fetches one batch ahead, so its windows cover the steps one earlier than the raw loop's; both cover the
same number of whole steps.
"""

from __future__ import annotations

import gc
import sys
from collections import Counter

import torch

from benchmarks.instructions.components import component_of

WINDOWS = ((24, 32), (32, 48), (48, 72))  # fetch indices: 8, 16 and 24 steps in one run
SHORT_WINDOWS = ((12, 18), (18, 30), (30, 48))  # 6, 12 and 18 steps
QUIET_LOGGING = 1000  # log_every_n_steps of every counted run: no write inside the epoch


def limit_of(windows) -> int:
    """Training batches a run needs: the last window ends at that fetch, and the run is stopped there."""
    return max(b for _, b in windows) + 1


class WindowsDone(Exception):
    """Raised at the last window's end: the rest of the run (validation, test) is not measured or needed."""


class Windows:
    """A batch sampler (or list of batches) that hands every item on unchanged and starts/stops a counter at the
    window edges. Fetches are counted across its iterations (epochs): the suite's cases end inside their first
    epoch; the probe's user loader may be shorter than the windows."""

    def __init__(self, batch_sampler, start, stop, windows=WINDOWS) -> None:
        self.batch_sampler, self.start, self.stop, self.windows = batch_sampler, start, stop, windows
        self.fetched = 0

    def __iter__(self):
        starts = {a: (a, b) for a, b in self.windows}
        ends = {b: (a, b) for a, b in self.windows}
        last = max(ends)
        for indices in self.batch_sampler:
            i = self.fetched
            self.fetched += 1
            if i in ends:
                self.stop(ends[i])
            if i == last:
                raise WindowsDone
            if i in starts:
                self.start()
            yield indices

    def __len__(self) -> int:
        return len(self.batch_sampler)


def collections() -> list[int]:
    """Collections the cyclic garbage collector has made so far, per generation."""
    return [g["collections"] for g in gc.get_stats()]


def callgrind_counter(manifest: list):
    """(start, stop) for valgrind: each stop writes one dump file; `manifest` notes which window it was and
    how many garbage collections (per generation) ran inside it, read outside the counted instructions."""
    before: list[int] = []

    def start() -> None:
        before[:] = collections()
        torch._C._valgrind_toggle()

    def stop(window) -> None:
        torch._C._valgrind_toggle_and_dump_stats()
        manifest.append([*window, [b - a for a, b in zip(before, collections(), strict=True)]])

    return start, stop


class OpcodeCounter:
    """Counts the opcodes CPython executes inside the windows, per component (see components.py)."""

    def __init__(self) -> None:
        self.windows: list[dict] = []
        self._counts: Counter = Counter()

    def _trace(self, frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            self._counts[component_of(frame)] += 1
        return self._trace

    def start(self) -> None:
        self._counts = Counter()
        frame = sys._getframe(1)
        while frame is not None:  # frames already running (the loop itself) are traced from here on
            frame.f_trace, frame.f_trace_opcodes = self._trace, True
            frame = frame.f_back
        sys.settrace(self._trace)

    def stop(self, window) -> None:
        sys.settrace(None)
        frame = sys._getframe(1)
        while frame is not None:
            frame.f_trace = None
            frame = frame.f_back
        self.windows.append({"window": list(window), "opcodes": dict(self._counts)})


# --- one case, counted ---------------------------------------------------------------------------------


def case_config(item: dict):
    """The run configuration of a planned case: the benchmarks' base configuration (every feature at its
    default, progress bar off), one epoch just long enough for its windows, no TensorBoard write inside it,
    the item's own settings on top."""
    from benchmarks.cases import base_config

    settings = {k: v for k, v in item["settings"].items() if k != "variant"}
    limit = limit_of(item["windows"])
    return base_config(
        item["workload"], "cpu", item["precision"], epochs=1, limit_train_batches=limit,
        log_every_n_steps=QUIET_LOGGING, **settings,
    )  # fmt: skip


def run_windows(item: dict, start, stop) -> None:
    """Run one planned case, in its side's environment, with the counter started and stopped at the windows."""
    import tempfile

    from torch.utils.data import DataLoader

    from benchmarks.clock import harness
    from raw_torch.common.data import make_loaders

    if "runner" in item:  # an instrument's own case ("module:function"), e.g. a side of the probe's user module
        import importlib

        module, function = item["runner"].split(":")
        getattr(importlib.import_module(module), function)(item, start, stop)
        return
    cfg, windows = case_config(item), item["windows"]
    harness.side_environment(item["impl"])  # raw and floor without Lightning's NVML check, Lightning with it
    if item["impl"] == "floor":  # the same step on batches already in memory: no DataLoader, no loop
        batches, step = harness.floor_step(cfg)
        with harness.quiet_heap():
            try:
                for i in Windows(range(len(batches)), start, stop, windows):
                    step(batches[i])
            except WindowsDone:
                pass
        return
    train, val, test = make_loaders(cfg)
    windowed = Windows(train.batch_sampler, start, stop, windows)
    loaders = (DataLoader(train.dataset, batch_sampler=windowed, collate_fn=train.collate_fn), val, test)
    with tempfile.TemporaryDirectory() as out, harness.quiet_heap():
        try:
            if item["impl"] == "lightning-bare":
                bare_lightning(cfg.replace(out=out), item["settings"]["variant"], loaders)
            else:
                harness.run_module(item["impl"], cfg.workload).run(cfg.replace(out=out), loaders=loaders)
        except WindowsDone:
            pass


def bare_lightning(cfg, variant: str, loaders) -> None:
    """The ladder's lowest Lightning rungs: no callbacks of ours. `barebones`: Trainer(barebones=True), which
    refuses self.log, so the module's training_step logs nothing; `nolog`: barebones=False with every
    feature off, still no self.log; `log`: the same with the module's own training_step (self.log)."""
    import pytorch_lightning as pl

    from raw_torch.common.config import resolve_device
    from with_lightning.autoencoder import LitAutoEncoder
    from with_lightning.trainer import precision_flags

    class NoLog(LitAutoEncoder):
        def training_step(self, batch, batch_idx):
            return self.compute_loss(batch)

    pl.seed_everything(cfg.seed, verbose=False)
    module = (LitAutoEncoder if variant == "log" else NoLog)(cfg, lr=cfg.lr)
    device = resolve_device(cfg.device)
    flags = dict(accelerator=device.type, devices=1, max_epochs=1, limit_train_batches=cfg.limit_train_batches)
    flags["default_root_dir"] = cfg.out
    flags.update(precision_flags(device, cfg.precision))
    train, val, _ = loaders
    if variant == "barebones":
        pl.Trainer(barebones=True, **flags).fit(module, train)
        return
    off = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    pl.Trainer(num_sanity_val_steps=0, **off, **flags).fit(module, train, val)
