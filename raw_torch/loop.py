"""The hand-written training loop: what `pl.Trainer` does for these workloads, written out.

Read it next to `with_lightning/trainer.py`; the sections are in the same order:
  1. seeding and RNG isolation        <- `seed_everything`, the sanity check's `isolate_rng`
  2. precision                        <- `Trainer(precision=...)`: autocast + GradScaler
  3. one training step                <- `training_step` + Lightning's automatic optimization
  4. evaluation                       <- `validation_step` / `test_step` + `self.log(..., on_epoch=True)`
  5. fit                              <- `Trainer.fit`: sanity check, epochs, progress bars (the loss in them),
                                          TensorBoard, checkpoints,
                                          `ckpt_path=` (resume), NaN check, GradScaler skip count
  6. test                             <- `Trainer.test`
  7. several processes (torchrun)     <- `strategy="ddp"`, `use_distributed_sampler`, `sync_dist=True`,
                                          `rank_zero_only`, `strategy.all_gather`
Plain functions, no hooks: each workload passes its `compute_loss(model, batch)`. What both sides share
(settings, data, model, checkpoint files, RNG state, the NaN guard) is in `raw_torch/common/`.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from raw_torch.common.checkpoints import checkpoint_name, save_checkpoint
from raw_torch.common.config import SANITY_VAL_STEPS, Phase, RunConfig, resolve_device
from raw_torch.common.data import num_batches
from raw_torch.common.runstate import (
    check_finite,
    every_rank,
    optimizer_steps,
    rng_of_this_rank,
    rng_state,
    set_rng_state,
)
from raw_torch.common.world import leave_process_group, world

ComputeLoss = Callable[[nn.Module, list], torch.Tensor]

# --- 1. seeding and RNG isolation ----------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Lightning: `L.seed_everything(seed)`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def isolated_rng():
    """Restore every global RNG on exit. Lightning: `isolate_rng()` around the sanity check.

    Creating a DataLoader iterator draws from torch's global RNG, so without this the sanity check
    would shift every later shuffle.
    """
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


# --- 2. precision ---------------------------------------------------------------------------------


def make_autocast(device: torch.device, precision: str):
    """The autocast context, built once per run and entered around each forward (as nanoGPT does).
    Lightning: the precision plugin's `forward_context()` around each *_step call."""
    if precision == "32-true":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "16-mixed" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def make_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Lightning: `MixedPrecision("16-mixed", device)` creates the same GradScaler; bf16 needs none."""
    return torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")


def move_to_device(batch: list, device: torch.device) -> list:
    """Lightning: batches reach `training_step` already on the module's device."""
    return [t.to(device, non_blocking=True) for t in batch]


# --- 3. one training step -------------------------------------------------------------------------


def training_step(model, batch, compute_loss: ComputeLoss, optimizer, scaler, autocast) -> torch.Tensor:
    """Lightning: `training_step` returns the loss, automatic optimization does the rest."""
    optimizer.zero_grad()  # set_to_none=True, like Lightning's
    with autocast:  # the forward only: backward and the optimizer step run outside autocast
        loss = compute_loss(model, batch)
    scaler.scale(loss).backward()  # a no-op scale unless 16-mixed
    scaler.unscale_(optimizer)  # Lightning unscales before `on_before_optimizer_step` (gradient clipping goes here)
    scaler.step(optimizer)  # skips the step when a gradient is inf/nan
    scaler.update()
    return loss.detach()


# --- 4. evaluation --------------------------------------------------------------------------------


def evaluate(
    model, loader: DataLoader, compute_loss: ComputeLoss, device, autocast, max_batches=None, bar: tqdm | None = None
) -> torch.Tensor:
    """Mean loss over the loader, weighted by batch size; `bar` (optional) advances once per batch.

    Lightning: `self.log("val_loss", loss)` in validation_step, reduced on epoch end. The arithmetic
    is Lightning's own (a float32 running sum of loss * batch_size, divided by the summed batch sizes),
    so the two sides agree to the last bit.
    """
    model.eval()
    # Both on the device, as Lightning keeps its running sum and summed batch size (they move with the logged
    # value). A count left on the CPU (or a Python int) would make CUDA multiply by its reciprocal instead of
    # dividing: one float32 ulp off Lightning on a GPU, never on a CPU.
    total, count = torch.tensor(0.0, device=device), torch.tensor(0, device=device)
    with torch.inference_mode():  # Lightning: Trainer(inference_mode=True), the default
        for batch in islice(loader, max_batches):
            batch = move_to_device(batch, device)
            with autocast:
                loss = compute_loss(model, batch)
            total = total + loss.float() * len(batch[0])
            count = count + len(batch[0])
            if bar is not None:
                bar.update(1)
    model.train()
    return mean_over_ranks(total, count)  # one process: total / count


# --- 5. fit ---------------------------------------------------------------------------------------


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)  # one per optimizer step
    val_loss: list[float] = field(default_factory=list)  # one per epoch
    global_step: int = 0
    epoch: int = 0  # epochs completed
    skipped_steps: int = 0  # optimizer steps GradScaler skipped (inf/nan gradients in 16-mixed)
    train_loss_by_rank: list[list[float]] | None = None  # under torchrun: every rank's train_loss, gathered


def checkpoint_state(phase: Phase, epoch, history, model, optimizer=None, scaler=None, **extra) -> dict:
    """What a checkpoint holds: enough to resume bitwise (the RNG included) and to refuse a wrong --resume.
    The lstsq twin has no optimizer and no scaler, so its checkpoints hold none."""
    state = {"epoch": epoch, "global_step": history.global_step, "phase": phase.index, "model": model.state_dict()}
    if optimizer is not None:
        state.update(optimizer=optimizer.state_dict(), scaler=scaler.state_dict())
    rng = rng_state()
    return {**state, "rng": rng, **every_rank(rng), "run_config": phase.cfg.as_dict(), **extra}  # 7.: every rank's


def save_epoch_checkpoint(phase: Phase, epoch: int, history: History, model, optimizer=None, scaler=None) -> None:
    """Lightning: ModelCheckpoint(every_n_epochs=..., save_top_k=-1), saved after validation."""
    if phase.cfg.checkpoint_every and (epoch + 1) % phase.cfg.checkpoint_every == 0:
        state = checkpoint_state(phase, epoch, history, model, optimizer, scaler)
        if world().is_zero:  # Lightning: the strategy saves on global rank 0, then waits at a barrier
            save_checkpoint(phase.run_dir / "checkpoints" / checkpoint_name(epoch, history.global_step), state)
        barrier()


def save_step_checkpoint(
    phase: Phase, epoch: int, history: History, model, optimizer, scaler, done: int, epoch_rng
) -> None:
    """Lightning: ModelCheckpoint(every_n_train_steps=N), a second callback, into checkpoints/steps. Holds the
    batches done and the RNG the epoch started with, so a resume can redraw its shuffle and skip them."""
    every = phase.cfg.checkpoint_every_n_steps
    if every and history.global_step % every == 0:
        mid_epoch = {"batches_done": done, "rng_epoch_start": epoch_rng}
        state = checkpoint_state(phase, epoch, history, model, optimizer, scaler, mid_epoch=mid_epoch)
        if world().is_zero:
            save_checkpoint(
                phase.run_dir / "checkpoints" / "steps" / checkpoint_name(epoch, history.global_step), state
            )
        barrier()


def restore(resume: dict | None, model, optimizer, scaler, history: History) -> tuple[int, int]:
    """Lightning: `fit(ckpt_path=...)` restores all of this (but not the RNG: see `start_epoch`).
    Returns (first epoch to train, batches of it already trained)."""
    if resume is None:
        return 0, 0
    model.load_state_dict(resume["model"])
    optimizer.load_state_dict(resume["optimizer"])
    scaler.load_state_dict(resume["scaler"])
    history.global_step = resume["global_step"]
    if "mid_epoch" in resume:  # saved after batch `batches_done` of epoch `epoch`: redo that epoch, skip them
        return resume["epoch"], resume["mid_epoch"]["batches_done"]
    return resume["epoch"] + 1, 0  # saved at the end of epoch `epoch`


def start_epoch(
    train_loader: DataLoader, cfg: RunConfig, resume: dict | None, skip: int, epoch: int
) -> tuple[Iterator, dict]:
    """One epoch's batches (Lightning: `limit_train_batches`), and the RNG state its shuffle comes from.

    When resuming, the checkpoint's RNG is restored first. Mid-epoch, the interrupted epoch's shuffle is
    drawn again from the RNG it started with, its first `skip` batches are skipped (they were trained on),
    and the RNG continues from where the checkpoint left it.
    """
    if resume is not None and "rng" in resume:
        set_rng_state(resume["mid_epoch"]["rng_epoch_start"] if skip else rng_of_this_rank(resume))
    epoch_rng = rng_state() if cfg.checkpoint_every_n_steps else None
    if isinstance(train_loader.sampler, DistributedSampler):  # Lightning sets the epoch of its own sampler too
        train_loader.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
    batches = islice(train_loader, num_batches(cfg.limit_train_batches, train_loader))
    if skip:
        for _ in range(skip):
            next(batches)
        set_rng_state(resume["rng"])
    return batches, epoch_rng


def progress_bar(cfg: RunConfig, desc: str, total: int | None, leave: bool, position: int = 0) -> tqdm:
    """Lightning: TQDMProgressBar's bars, on stdout like Lightning's: "Sanity Checking" and "Validation" are
    erased when done (leave=False), the training bar (one for the whole fit, "Epoch N" as it goes) and
    "Testing" stay; validation draws one line below the training bar (position=1)."""
    shown = cfg.progress_bar and world().is_zero  # Lightning: the bar is disabled on every rank but 0
    return tqdm(total=total, desc=desc, leave=leave, position=position, file=sys.stdout, disable=not shown)


def show_losses(bar: tqdm, losses: dict[str, torch.Tensor | float]) -> None:
    """Lightning: `self.log(..., prog_bar=True)`; the bar converts each logged value when it redraws (after
    every batch: one `.item()`, a device sync, per step). Skipped entirely when the bar is off."""
    if not bar.disable:
        bar.set_postfix({name: float(value) for name, value in losses.items()})  # redraws now


def open_writer(cfg: RunConfig, run_dir: Path) -> SummaryWriter | None:
    """Lightning: TensorBoardLogger (`logger=False` without it)."""
    return SummaryWriter(run_dir / "tensorboard") if cfg.logger and world().is_zero else None  # rank_zero_only


def log_train_loss(writer: SummaryWriter | None, cfg: RunConfig, loss, history: History, epoch: int) -> None:
    """Lightning: self.log("train_loss", loss) is written every log_every_n_steps, with "epoch" beside it."""
    if writer and (history.global_step + 1) % cfg.log_every_n_steps == 0:
        writer.add_scalar("train_loss", loss.item(), history.global_step)
        writer.add_scalar("epoch", epoch, history.global_step)


def log_validation(writer: SummaryWriter | None, val_loss: float, history: History, epoch: int) -> None:
    """Lightning logs epoch-end validation at the step of the epoch's last batch, with "epoch" beside it."""
    if writer:
        writer.add_scalar("val_loss", val_loss, history.global_step - 1)
        writer.add_scalar("epoch", epoch, history.global_step - 1)


def fit(model, optimizer, compute_loss: ComputeLoss, loaders: tuple, phase: Phase, resume=None) -> History:
    """Lightning: `Trainer(max_epochs=phase.epochs, ...).fit(module, train_loader, val_loader, ckpt_path=...)`."""
    cfg, (train_loader, val_loader) = phase.cfg, loaders
    compute_loss = distributed_loss(model, compute_loss)  # 7. torchrun: through DDP, each fit anew (as each Trainer)
    device = resolve_device(cfg.device)
    autocast, scaler = make_autocast(device, cfg.precision), make_scaler(device, cfg.precision)
    history = History()
    first_epoch, skip = restore(resume, model, optimizer, scaler, history)
    steps_taken_before = optimizer_steps(optimizer)
    total = num_batches(cfg.limit_train_batches, train_loader)  # Lightning: limit_train_batches, int or share
    writer = open_writer(cfg, phase.run_dir)
    model.train()
    val_batches = num_batches(cfg.limit_val_batches, val_loader)  # Lightning: limit_val_batches, int or share
    sanity_batches = min(SANITY_VAL_STEPS, val_batches)
    if cfg.sanity_check and sanity_batches:  # 2 validation batches before training, not logged, consuming no RNG
        with isolated_rng(), progress_bar(cfg, "Sanity Checking", sanity_batches, leave=False) as bar:
            evaluate(model, val_loader, compute_loss, device, autocast, sanity_batches, bar)

    step_losses = []  # kept on the device; converted once at the end, so no sync per step (unless the bar shows it)
    shown = {}  # the losses the training bar shows (Lightning: the values logged with prog_bar=True)
    train_bar = progress_bar(cfg, "Training", total, leave=True)
    try:
        for epoch in range(first_epoch, phase.epochs):
            resuming = resume if epoch == first_epoch else None
            batches, epoch_rng = start_epoch(train_loader, cfg, resuming, skip if resuming else 0, epoch)
            done = skip if resuming else 0
            first_of_epoch = len(step_losses)
            train_bar.reset(total)
            train_bar.set_description(f"Epoch {epoch}")
            train_bar.update(done)
            for batch in batches:
                batch = move_to_device(batch, device)
                loss = training_step(model, batch, compute_loss, optimizer, scaler, autocast)
                step_losses.append(loss)
                log_train_loss(writer, cfg, loss, history, epoch)
                history.global_step += 1
                done += 1
                train_bar.update(1)
                shown["train_loss"] = loss
                show_losses(train_bar, shown)  # Lightning: self.log("train_loss", loss, prog_bar=True)
                if done == total:  # the epoch's last batch: check before validation and any checkpoint
                    check_finite(step_losses[first_of_epoch:], history.global_step, epoch)  # Lightning: History
                save_step_checkpoint(phase, epoch, history, model, optimizer, scaler, done, epoch_rng)

            if val_batches:  # Lightning: limit_val_batches=0 turns validation off
                with progress_bar(cfg, "Validation", val_batches, leave=False, position=1) as bar:
                    val_loss = evaluate(model, val_loader, compute_loss, device, autocast, val_batches, bar).item()
                history.val_loss.append(val_loss)
                log_validation(writer, val_loss, history, epoch)
                shown["val_loss"] = val_loss
                show_losses(train_bar, shown)  # Lightning: self.log("val_loss", ..., prog_bar=True)
            history.epoch = epoch + 1
            save_epoch_checkpoint(phase, epoch, history, model, optimizer, scaler)
    finally:
        train_bar.close()  # leave=True: the last epoch's bar stays on screen
        if writer:
            writer.close()
    history.train_loss = [float(v) for v in torch.stack(step_losses).cpu()] if step_losses else []
    history.skipped_steps = len(step_losses) - (optimizer_steps(optimizer) - steps_taken_before)
    history.train_loss_by_rank = gather_losses(step_losses, device)
    return history


# --- 6. test --------------------------------------------------------------------------------------


def test(model, test_loader: DataLoader, compute_loss: ComputeLoss, phase: Phase, history: History) -> float:
    """Lightning: `trainer.test(module, test_loader)` after fit, logged at the fit's last step."""
    cfg, device = phase.cfg, resolve_device(phase.cfg.device)
    autocast = make_autocast(device, cfg.precision)
    with progress_bar(cfg, "Testing", len(test_loader), leave=True) as bar:
        test_loss = evaluate(model, test_loader, compute_loss, device, autocast, bar=bar).item()
    if cfg.logger and world().is_zero:
        with SummaryWriter(phase.run_dir / "tensorboard") as writer:
            writer.add_scalar("test_loss", test_loss, history.global_step)
            writer.add_scalar("epoch", history.epoch, history.global_step)
    return test_loss


# --- 7. several processes (torchrun) --------------------------------------------------------------
# One process: every function below hands back what it was given (or does nothing), so the code above reads
# as the single-process loop it is. Under `torchrun --nproc-per-node N`, each of the N processes runs all of
# the above on its share of the data; these are the places where they meet.


@contextlib.contextmanager
def processes(cfg: RunConfig):
    """Lightning: `Trainer(strategy="ddp", devices=LOCAL_WORLD_SIZE, num_nodes=...)` under torchrun: join the
    job's process group (gloo on CPU, NCCL on CUDA), the rendezvous torchrun's environment describes, and leave
    it when the run has ended (common/world.py). One process: nothing."""
    w = world()
    if w.distributed and not dist.is_initialized():
        device = resolve_device(cfg.device)
        if device.type == "cuda":
            torch.cuda.set_device(w.local_rank)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    yield w  # an error in the run goes on up from here, and the process ends with its group
    leave_process_group()


def barrier() -> None:
    """Wait for every rank (Lightning: `strategy.barrier()`, e.g. after rank 0 saved a checkpoint)."""
    if dist.is_initialized():
        dist.barrier()


def distributed_loader(loader: DataLoader, cfg: RunConfig, train: bool = False) -> DataLoader:
    """Lightning: `use_distributed_sampler=True` (the default) rebuilds each DataLoader with a
    `DistributedSampler(dataset, num_replicas=WORLD_SIZE, rank=RANK, shuffle=..., seed=PL_GLOBAL_SEED)`, the
    seed `seed_everything` set. It pads the data to a multiple of the world size by repeating its first
    samples, so every rank runs as many batches; its shuffle comes from its own generator (seed + epoch), not
    from the global RNG. Shuffled: the training loader always, even one built with shuffle=False (Lightning
    2.6.6, `_process_dataloader`: the minimal example's fixed order is shuffled under torchrun); the others
    when their sampler was a RandomSampler."""
    w = world()
    if not w.distributed:
        return loader
    shuffle = train or isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, num_replicas=w.world_size, rank=w.rank, shuffle=shuffle, seed=cfg.seed)
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        drop_last=loader.drop_last,
    )


def distributed_loaders(loaders: tuple, cfg: RunConfig) -> tuple:
    """(train, val, test) as each rank reads them: the training loader always shuffled (see above)."""
    train, *rest = loaders
    return (distributed_loader(train, cfg, train=True), *(distributed_loader(dl, cfg) for dl in rest))


class StepThroughDDP(nn.Module):
    """DistributedDataParallel averages the gradients of what runs through its own forward, so the loss must be
    computed there. Lightning: the strategy wraps the LightningModule the same way (its forward calls
    `training_step`)."""

    def __init__(self, model: nn.Module, compute_loss: ComputeLoss) -> None:
        super().__init__()
        self.model, self.compute_loss = model, compute_loss

    def forward(self, batch: list) -> torch.Tensor:
        return self.compute_loss(self.model, batch)


def distributed_loss(model: nn.Module, compute_loss: ComputeLoss) -> ComputeLoss:
    """Lightning: `strategy="ddp"` wraps the module in `DistributedDataParallel` (its default arguments, as
    here). The model itself stays unwrapped: checkpoints and the record hold its plain state."""
    if not world().distributed:
        return compute_loss
    ddp = DistributedDataParallel(StepThroughDDP(model, compute_loss))  # broadcasts rank 0's weights
    return lambda _model, batch: ddp(batch)


def mean_over_ranks(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The epoch's mean loss over every rank's batches. Lightning: `self.log(..., sync_dist=True)`, whose mean
    reduction syncs the running sum and the summed batch size separately: on gloo, a sum across ranks then a
    division by the world size (gloo has no average), each in place; on NCCL, an average."""
    if not dist.is_initialized():
        return total / count
    total, count = total.clone(), count.clone()  # as Lightning syncs a copy (and these came from inference mode)
    w = dist.get_world_size()
    for t in (total, count):
        dist.barrier()
        if dist.get_backend() == "gloo":
            dist.all_reduce(t)
            t.div_(w) if t.is_floating_point() else t.copy_(t / w)
        else:
            dist.all_reduce(t, op=dist.ReduceOp.AVG)
    return total / count


def gather_losses(step_losses: list[torch.Tensor], device: torch.device) -> list[list[float]] | None:
    """Every rank's per-step training losses, for rank 0's metrics.json. Lightning: `strategy.all_gather`."""
    if not dist.is_initialized():
        return None
    mine = torch.stack(step_losses) if step_losses else torch.empty(0, device=device)
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    return [[float(v) for v in t.cpu()] for t in every]
