"""What the probe is given, loaded and checked: the user's LightningModule class, its training DataLoader, and one
batch order both sides replay.

Everything a probe refuses is refused here or in plain.py, before anything is written: one line, exit 2
(common/errors.UsageError through main_guard).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from raw_torch.common.errors import UsageError
from raw_torch.loop import seed_everything

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
# The command's defaults (session.build_parser), also read back by write.command to leave them out of probe.md's line
DEFAULTS = {"steps": 200, "precision": "32-true", "seed": 0, "gradient_clip_val": None, "accumulate_grad_batches": 1}


@dataclass(frozen=True)
class Probe:
    """One probe's settings, as its flags give them (`session.build_parser`)."""

    target: str  # PKG.MODULE:CLASS
    data: str  # PKG.MODULE:NAME
    init_args: dict = field(default_factory=dict)
    steps: int = 200  # optimizer steps, as Trainer(max_steps=...) counts them
    precision: str = "32-true"
    device: str = "cpu"  # resolved: cpu or cuda
    seed: int = 0
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# --- importing what the user named ------------------------------------------------------------------------


def import_object(spec: str, flag: str):
    """`PKG.MODULE:NAME` imported from the current directory (as `python -m` users expect)."""
    if spec.count(":") != 1 or not all(spec.split(":")):
        raise UsageError(f"{flag} {spec!r}: give it as PKG.MODULE:NAME")
    module_name, name = spec.split(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module failed to import: its own error, in one line
        raise UsageError(f"{flag} {spec}: cannot import {module_name} ({where(e)})") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{flag} {spec}: {module_name} has no {name!r}")
        obj = getattr(obj, part)
    return obj


def where(e: BaseException) -> str:
    """An exception as one line: its type, message and the last frame it came from (file:line in function)."""
    frames = traceback.extract_tb(e.__traceback__)
    message = " ".join(str(e).split()) or "no message"
    if not frames:
        return f"{type(e).__name__}: {message}"
    last = frames[-1]
    return f"{type(e).__name__}: {message}, at {Path(last.filename).name}:{last.lineno} in {last.name}"


def module_class(spec: str):
    import pytorch_lightning as pl

    cls = import_object(spec, "target")
    if not (isinstance(cls, type) and issubclass(cls, pl.LightningModule)):
        raise UsageError(f"{spec}: {describe(cls)} is not a LightningModule subclass")
    return cls


def describe(obj) -> str:
    return f"class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"


def parse_init_args(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--init-args: not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, dict):
        raise UsageError(f"--init-args: give a JSON object of keyword arguments, not {type(value).__name__}")
    return value


def build(cls, init_args: dict, seed: int):
    """The module, built under `seed` (every global RNG seeded first, as Lightning's seed_everything does)."""
    seed_everything(seed)
    try:
        return cls(**init_args)
    except Exception as e:
        raise UsageError(f"{cls.__name__}(**{init_args}) failed: {where(e)}") from None


def check_module(module) -> None:
    """What the plain loop cannot replay, refused before any run."""
    if not module.automatic_optimization:
        raise UsageError(
            f"{type(module).__name__} sets automatic_optimization = False: manual optimization is not supported "
            "(the plain loop replays Lightning's automatic optimization)"
        )


def training_loader(spec: str) -> DataLoader:
    """The training DataLoader `--data` names: a zero-argument callable returning it, or a LightningDataModule
    subclass (prepare_data, setup("fit"), train_dataloader())."""
    import pytorch_lightning as pl

    obj = import_object(spec, "--data")
    try:
        if isinstance(obj, type) and issubclass(obj, pl.LightningDataModule):
            datamodule = obj()
            datamodule.prepare_data()
            datamodule.setup("fit")
            loader = datamodule.train_dataloader()
        elif callable(obj) and not isinstance(obj, type):
            loader = obj()
        else:
            raise UsageError(f"--data {spec}: {describe(obj)} is neither a zero-argument callable nor a "
                             "LightningDataModule subclass")  # fmt: skip
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(f"--data {spec}: failed: {where(e)}") from None
    if not isinstance(loader, DataLoader):
        raise UsageError(f"--data {spec}: returned {describe(loader)}, not a torch DataLoader")
    try:
        batches = len(loader)
    except TypeError:
        raise UsageError(f"--data {spec}: the DataLoader has no length (an IterableDataset?); the probe needs "
                         "a map-style dataset to replay the same batches on both sides") from None  # fmt: skip
    if batches == 0:
        raise UsageError(f"--data {spec}: the DataLoader has no batches")
    return loader


# --- one batch order for both sides -----------------------------------------------------------------------


def optimizer_steps_per_epoch(batches: int, accumulate: int) -> int:
    """Lightning steps the optimizer every `accumulate` batches and on the last batch of an epoch."""
    return math.ceil(batches / accumulate)


class Replay:
    """A batch sampler that hands out the recorded epochs' index batches, one epoch per iteration."""

    def __init__(self, epochs: list[list]) -> None:
        self.epochs = epochs
        self.epoch = 0

    def __iter__(self):
        if self.epoch >= len(self.epochs):
            raise RuntimeError(f"the probe recorded {len(self.epochs)} epochs of batches; a run asked for more")
        batches = self.epochs[self.epoch]
        self.epoch += 1
        yield from batches

    def __len__(self) -> int:
        return len(self.epochs[min(self.epoch, len(self.epochs) - 1)])


class BatchOrder:
    """The probe owns the order of the batches. The user's loader's sampler is drawn once, under the probe's seed,
    for every epoch a run needs (plus one, for Lightning's look-ahead); each run then gets a new DataLoader over
    the same dataset, collate function and workers, whose batch sampler replays those epochs. A loader that
    shuffles with torch's global RNG therefore yields the same batches on both sides, and a DataLoader of the
    probe's own generator keeps creating an iterator from drawing on the global RNG (which the model's dropout
    uses)."""

    def __init__(self, loader: DataLoader, probe: Probe) -> None:
        self.source = loader
        self.batches_per_epoch = len(loader)
        per_epoch = optimizer_steps_per_epoch(self.batches_per_epoch, probe.accumulate_grad_batches)
        self.epochs_needed = math.ceil(probe.steps / per_epoch)
        sampler = loader.batch_sampler if loader.batch_sampler is not None else loader.sampler
        state = torch.random.get_rng_state()
        torch.manual_seed(probe.seed)
        self.epochs = [list(sampler) for _ in range(self.epochs_needed + 1)]
        torch.random.set_rng_state(state)
        self.seed = probe.seed

    def loader(self, wrap=None) -> DataLoader:
        """A fresh DataLoader replaying the recorded epochs; `wrap(batch_sampler)` puts a clock or counter
        around the sampler (benchmarks/clock/harness.StepClock, probe/count.Windows)."""
        src = self.source
        sampler = Replay(self.epochs)
        if wrap is not None:
            sampler = wrap(sampler)
        workers = dict(num_workers=src.num_workers, worker_init_fn=src.worker_init_fn, timeout=src.timeout)
        if src.num_workers:
            workers.update(prefetch_factor=src.prefetch_factor, persistent_workers=False,
                           multiprocessing_context=src.multiprocessing_context)  # fmt: skip
        generator = torch.Generator().manual_seed(self.seed)
        if src.batch_sampler is None:  # automatic batching off: the sampler yields one index per batch
            return DataLoader(src.dataset, sampler=sampler, batch_size=None, collate_fn=src.collate_fn,
                              pin_memory=src.pin_memory, generator=generator, **workers)  # fmt: skip
        return DataLoader(src.dataset, batch_sampler=sampler, collate_fn=src.collate_fn, pin_memory=src.pin_memory,
                          generator=generator, **workers)  # fmt: skip
