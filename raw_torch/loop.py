"""The hand-written training loop: what `pl.Trainer` does for these workloads, written out.

Read it next to `with_lightning/trainer.py`; the sections are in the same order:
  1. seeding and RNG isolation        <- `seed_everything`, the sanity check's `isolate_rng`
  2. precision                        <- `Trainer(precision=...)`: autocast + GradScaler
  3. one training step                <- `training_step` + Lightning's automatic optimization
  4. evaluation                       <- `validation_step` / `test_step` + `self.log(..., on_epoch=True)`
  5. fit                              <- `Trainer.fit`: sanity check, epochs, progress bar, TensorBoard, checkpoints,
                                          `ckpt_path=` (resume), NaN check, GradScaler skip count
  6. test                             <- `Trainer.test`
Plain functions, no hooks: each workload passes its `compute_loss(model, batch)`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from raw_torch.checkpoints import checkpoint_name, save_checkpoint
from raw_torch.config import NonFiniteLoss, RunConfig

ComputeLoss = Callable[[nn.Module, list], torch.Tensor]
SANITY_VAL_STEPS = 2  # Lightning: Trainer(num_sanity_val_steps=2), the default


# --- 1. seeding and RNG isolation ----------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Lightning: `L.seed_everything(seed)`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    """Every global RNG, as tensors and plain numbers, so a checkpoint holding it loads with weights_only=True.

    Lightning: nothing. `trainer.fit(ckpt_path=...)` does not restore the global RNG (2.6.6), so a
    resumed run shuffles differently from an uninterrupted one; with_lightning carries this same dict
    in `on_save_checkpoint` / `on_load_checkpoint`. A hand-written loop has the same trap.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def autocast(device: torch.device, precision: str):
    """Lightning: the precision plugin's `forward_context()` around each *_step call."""
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


def training_step(
    model: nn.Module,
    batch: list,
    compute_loss: ComputeLoss,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    precision: str,
) -> torch.Tensor:
    """Lightning: `training_step` returns the loss, automatic optimization does the rest."""
    optimizer.zero_grad()  # set_to_none=True, like Lightning's
    with autocast(device, precision):
        loss = compute_loss(model, batch)
    scaler.scale(loss).backward()  # a no-op scale unless 16-mixed
    scaler.unscale_(optimizer)  # Lightning unscales before `on_before_optimizer_step` (gradient clipping goes here)
    scaler.step(optimizer)  # skips the step when a gradient is inf/nan
    scaler.update()
    return loss.detach()


# --- 4. evaluation --------------------------------------------------------------------------------


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    compute_loss: ComputeLoss,
    device: torch.device,
    precision: str,
    max_batches: int | None = None,
) -> torch.Tensor:
    """Mean loss over the loader, weighted by batch size.

    Lightning: `self.log("val_loss", loss)` in validation_step, reduced on epoch end. The arithmetic
    is Lightning's own (a float32 running sum of loss * batch_size, divided by the summed batch sizes),
    so the two sides agree to the last bit.
    """
    model.eval()
    total, count = torch.tensor(0.0), torch.tensor(0)
    with torch.inference_mode():  # Lightning: Trainer(inference_mode=True), the default
        for batch in islice(loader, max_batches):
            batch = move_to_device(batch, device)
            with autocast(device, precision):
                loss = compute_loss(model, batch)
            total = total + loss.float() * len(batch[0])
            count = count + len(batch[0])
    model.train()
    return total / count


# --- 5. fit ---------------------------------------------------------------------------------------


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)  # one per optimizer step
    val_loss: list[float] = field(default_factory=list)  # one per epoch
    global_step: int = 0
    epoch: int = 0  # epochs completed
    skipped_steps: int = 0  # optimizer steps GradScaler skipped (inf/nan gradients in 16-mixed)


def optimizer_steps(optimizer: torch.optim.Optimizer) -> int:
    """Steps the optimizer really took. Adam counts them per parameter; a step GradScaler skips leaves
    the count alone, so (steps run - steps taken) counts the skips without a sync per step."""
    return max((int(s["step"]) for s in optimizer.state.values() if "step" in s), default=0)


def first_nonfinite(losses: list[torch.Tensor]) -> tuple[int, float] | None:
    """(index, value) of the first NaN/inf loss, or None: one sync per call, not one per step."""
    if not losses:
        return None
    stacked = torch.stack(losses)
    bad = (~torch.isfinite(stacked)).nonzero()
    return None if len(bad) == 0 else (int(bad[0]), float(stacked[bad[0]]))


def check_finite(epoch_losses: list[torch.Tensor], global_step: int, epoch: int) -> None:
    """Stop a run whose loss became NaN/inf, naming the step. Lightning: with_lightning's History callback
    does the same at the same point (after the epoch's last batch, before validation and checkpoint)."""
    found = first_nonfinite(epoch_losses)
    if found is not None:
        index, value = found
        step = global_step - len(epoch_losses) + index
        raise NonFiniteLoss(
            f"train_loss became {value} at step {step} (epoch {epoch}); stopped before validation and checkpoint"
        )


def checkpoint_state(cfg, phase, epoch, history, model, optimizer, scaler, **extra) -> dict:
    """What a checkpoint holds: enough to resume bitwise (the RNG included) and to refuse a wrong --resume."""
    return {
        "epoch": epoch,
        "global_step": history.global_step,
        "phase": phase,  # 0, or 1 for the minimal example's finetune phase
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(),
        "run_config": cfg.as_dict(),
        **extra,
    }


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    compute_loss: ComputeLoss,
    train_loader: DataLoader,
    val_loader: DataLoader,
    cfg: RunConfig,
    device: torch.device,
    epochs: int,
    run_dir: Path,
    resume: dict | None = None,
    phase: int = 0,
) -> History:
    """Lightning: `Trainer(max_epochs=epochs, ...).fit(module, train_loader, val_loader, ckpt_path=...)`."""
    scaler = make_scaler(device, cfg.precision)
    history = History()
    start_epoch, skip = 0, 0
    if resume is not None:  # Lightning: ckpt_path= restores all of this (but not the RNG: see rng_state)
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scaler.load_state_dict(resume["scaler"])
        history.global_step = resume["global_step"]
        if "mid_epoch" in resume:  # saved after batch `skip` of epoch `epoch`: redo that epoch's shuffle, skip
            start_epoch, skip = resume["epoch"], resume["mid_epoch"]["batches_done"]
        else:  # saved at the end of epoch `epoch`
            start_epoch = resume["epoch"] + 1
    steps_taken_before = optimizer_steps(optimizer)
    writer = SummaryWriter(Path(run_dir) / "tensorboard") if cfg.logger else None  # Lightning: TensorBoardLogger
    model.train()

    # Sanity check: 2 validation batches before training, not logged, consuming no RNG.
    if cfg.sanity_check:
        with isolated_rng():
            evaluate(model, val_loader, compute_loss, device, cfg.precision, max_batches=SANITY_VAL_STEPS)

    step_losses = []  # kept on the device; converted once at the end, so no sync per step
    try:
        for epoch in range(start_epoch, epochs):
            resuming = resume is not None and epoch == start_epoch
            if resuming and "rng" in resume:
                set_rng_state(resume["mid_epoch"]["rng_epoch_start"] if skip else resume["rng"])
            epoch_rng = rng_state() if cfg.checkpoint_every_n_steps else None  # this epoch's shuffle comes from it
            batches = islice(train_loader, cfg.limit_train_batches)  # Lightning: limit_train_batches
            total = min(len(train_loader), cfg.limit_train_batches or len(train_loader))
            done = skip if resuming else 0
            if done:  # the same shuffle as the interrupted epoch; its first `done` batches were trained on
                next(islice(batches, done, done), None)
                set_rng_state(resume["rng"])
            first_of_epoch = len(step_losses)
            # Lightning: TQDMProgressBar
            bar = tqdm(
                batches, total=total, initial=done, desc=f"Epoch {epoch}", disable=not cfg.progress_bar, leave=False
            )
            for batch in bar:
                batch = move_to_device(batch, device)
                loss = training_step(model, batch, compute_loss, optimizer, scaler, device, cfg.precision)
                step_losses.append(loss)
                # Lightning: self.log("train_loss", loss) is written every log_every_n_steps, with "epoch" beside it
                if writer and (history.global_step + 1) % cfg.log_every_n_steps == 0:
                    writer.add_scalar("train_loss", loss.item(), history.global_step)
                    writer.add_scalar("epoch", epoch, history.global_step)
                history.global_step += 1
                done += 1
                if done == total:  # the epoch's last batch: check before validation and any checkpoint
                    check_finite(step_losses[first_of_epoch:], history.global_step, epoch)  # Lightning: History
                # Lightning: ModelCheckpoint(every_n_train_steps=N), a second callback, into checkpoints/steps
                if cfg.checkpoint_every_n_steps and history.global_step % cfg.checkpoint_every_n_steps == 0:
                    mid_epoch = {"batches_done": done, "rng_epoch_start": epoch_rng}
                    state = checkpoint_state(cfg, phase, epoch, history, model, optimizer, scaler, mid_epoch=mid_epoch)
                    name = checkpoint_name(epoch, history.global_step)
                    save_checkpoint(Path(run_dir) / "checkpoints" / "steps" / name, state)
            bar.close()

            if cfg.limit_val_batches != 0:  # Lightning: limit_val_batches=0 turns validation off
                val_loss = evaluate(model, val_loader, compute_loss, device, cfg.precision, cfg.limit_val_batches)
                history.val_loss.append(val_loss.item())
                if writer:  # Lightning logs epoch-end validation at the step of the epoch's last batch
                    writer.add_scalar("val_loss", val_loss.item(), history.global_step - 1)
                    writer.add_scalar("epoch", epoch, history.global_step - 1)
            history.epoch = epoch + 1

            # Lightning: ModelCheckpoint(every_n_epochs=..., save_top_k=-1), saved after validation
            if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0:
                state = checkpoint_state(cfg, phase, epoch, history, model, optimizer, scaler)
                save_checkpoint(Path(run_dir) / "checkpoints" / checkpoint_name(epoch, history.global_step), state)
    finally:
        if writer:
            writer.close()
    history.train_loss = [float(v) for v in torch.stack(step_losses).cpu()] if step_losses else []
    history.skipped_steps = len(step_losses) - (optimizer_steps(optimizer) - steps_taken_before)
    return history


# --- 6. test --------------------------------------------------------------------------------------


def test(
    model: nn.Module,
    test_loader: DataLoader,
    compute_loss: ComputeLoss,
    cfg: RunConfig,
    device: torch.device,
    history: History,
    run_dir: Path,
) -> float:
    """Lightning: `trainer.test(module, test_loader)` after fit, logged at the fit's last step."""
    test_loss = evaluate(model, test_loader, compute_loss, device, cfg.precision).item()
    if cfg.logger:
        with SummaryWriter(Path(run_dir) / "tensorboard") as writer:
            writer.add_scalar("test_loss", test_loss, history.global_step)
            writer.add_scalar("epoch", history.epoch, history.global_step)
    return test_loss
