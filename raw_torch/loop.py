"""The hand-written training loop: what `pl.Trainer` does for these workloads, written out.

Read it next to `with_lightning/trainer.py`; the sections are in the same order:
  1. seeding and RNG isolation        <- `seed_everything`, the sanity check's `isolate_rng`
  2. precision                        <- `Trainer(precision=...)`: autocast + GradScaler
  3. one training step                <- `training_step` + Lightning's automatic optimization
  4. evaluation                       <- `validation_step` / `test_step` + `self.log(..., on_epoch=True)`
  5. fit                              <- `Trainer.fit`: sanity check, epochs, progress bar, TensorBoard, checkpoints
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
from raw_torch.config import RunConfig

ComputeLoss = Callable[[nn.Module, list], torch.Tensor]
SANITY_VAL_STEPS = 2  # Lightning: Trainer(num_sanity_val_steps=2), the default


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
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


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
) -> History:
    """Lightning: `Trainer(max_epochs=epochs, ...).fit(module, train_loader, val_loader)`."""
    scaler = make_scaler(device, cfg.precision)
    writer = SummaryWriter(Path(run_dir) / "tensorboard") if cfg.logger else None  # Lightning: TensorBoardLogger
    history = History()
    model.train()

    # Sanity check: 2 validation batches before training, not logged, consuming no RNG.
    if cfg.sanity_check:
        with isolated_rng():
            evaluate(model, val_loader, compute_loss, device, cfg.precision, max_batches=SANITY_VAL_STEPS)

    step_losses = []  # kept on the device; converted once at the end, so no sync per step
    for epoch in range(epochs):
        batches = islice(train_loader, cfg.limit_train_batches)  # Lightning: limit_train_batches
        total = min(len(train_loader), cfg.limit_train_batches or len(train_loader))
        # Lightning: TQDMProgressBar
        for batch in tqdm(batches, total=total, desc=f"Epoch {epoch}", disable=not cfg.progress_bar, leave=False):
            batch = move_to_device(batch, device)
            loss = training_step(model, batch, compute_loss, optimizer, scaler, device, cfg.precision)
            step_losses.append(loss)
            # Lightning: self.log("train_loss", loss) is written every log_every_n_steps, with "epoch" beside it
            if writer and (history.global_step + 1) % cfg.log_every_n_steps == 0:
                writer.add_scalar("train_loss", loss.item(), history.global_step)
                writer.add_scalar("epoch", epoch, history.global_step)
            history.global_step += 1

        if cfg.limit_val_batches != 0:  # Lightning: limit_val_batches=0 turns validation off
            val_loss = evaluate(model, val_loader, compute_loss, device, cfg.precision, cfg.limit_val_batches)
            history.val_loss.append(val_loss.item())
            if writer:  # Lightning logs epoch-end validation at the step of the epoch's last batch
                writer.add_scalar("val_loss", val_loss.item(), history.global_step - 1)
                writer.add_scalar("epoch", epoch, history.global_step - 1)
        history.epoch = epoch + 1

        # Lightning: ModelCheckpoint(every_n_epochs=..., save_top_k=-1), saved after validation
        if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0:
            state = {
                "epoch": epoch,
                "global_step": history.global_step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "run_config": cfg.as_dict(),
            }
            save_checkpoint(Path(run_dir) / "checkpoints" / checkpoint_name(epoch, history.global_step), state)

    if writer:
        writer.close()
    history.train_loss = [float(v) for v in torch.stack(step_losses).cpu()] if step_losses else []
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
