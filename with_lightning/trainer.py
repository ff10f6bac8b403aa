"""The Trainer both Lightning workloads use: each flag replaces a section of `raw_torch/loop.py`.

1. seeding and RNG isolation        `pl.seed_everything`; the sanity check runs inside `isolate_rng` by itself
2. precision                        `precision=` (and the CPU fp16 plugin, see `precision_flags`)
3. one training step                the LightningModule's `training_step`; automatic optimization
4. evaluation                       `validation_step` / `test_step` with `self.log` (epoch mean by batch size)
5. fit                              `num_sanity_val_steps`, `max_epochs`, `limit_train_batches`,
                                    `enable_progress_bar`, `TensorBoardLogger`, `ModelCheckpoint`
6. test                             `trainer.test`
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins import MixedPrecision

from raw_torch.config import RunConfig
from raw_torch.loop import SANITY_VAL_STEPS

# --- 2. precision ---------------------------------------------------------------------------------


def precision_flags(device: torch.device, precision: str) -> dict:
    """Trainer arguments for a precision name.

    Lightning's Trainer silently turns `precision="16-mixed"` on CPU into bf16. To get real fp16
    autocast with a GradScaler on CPU (what the raw loop does), pass the plugin explicitly.
    """
    if precision == "16-mixed" and device.type == "cpu":
        return {"plugins": [MixedPrecision("16-mixed", "cpu")]}
    return {"precision": precision}


# --- 5. fit: recording what both sides report ------------------------------------------------------


class History(Callback):
    """Collects per-step training losses and per-epoch validation losses, like the raw loop's History.

    The note's pitfall: `on_validation_end` also fires for the sanity check, whose numbers must not be
    recorded; `trainer.sanity_checking` tells them apart.
    """

    def __init__(self) -> None:
        self.step_losses: list[torch.Tensor] = []
        self.val_loss: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = (outputs or {}).get("loss")  # absent when training_step returned None (no step taken)
        if loss is not None:
            self.step_losses.append(loss)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self.val_loss.append(trainer.callback_metrics["val_loss"].item())

    @property
    def train_loss(self) -> list[float]:
        return [float(v) for v in torch.stack(self.step_losses).cpu()] if self.step_losses else []


def make_trainer(cfg: RunConfig, device: torch.device, epochs: int, run_dir: Path, history: History) -> pl.Trainer:
    callbacks: list[Callback] = [history]
    if cfg.checkpoint_every:
        callbacks.append(
            ModelCheckpoint(
                dirpath=Path(run_dir) / "checkpoints",
                filename="{epoch}-{step}",
                save_top_k=-1,  # keep every checkpoint
                every_n_epochs=cfg.checkpoint_every,
            )
        )
    return pl.Trainer(
        accelerator=device.type,
        devices=1,
        **precision_flags(device, cfg.precision),
        max_epochs=epochs,
        limit_train_batches=cfg.limit_train_batches,
        limit_val_batches=cfg.limit_val_batches,
        num_sanity_val_steps=SANITY_VAL_STEPS if cfg.sanity_check else 0,
        log_every_n_steps=cfg.log_every_n_steps,
        logger=TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False)
        if cfg.logger
        else False,
        enable_checkpointing=bool(cfg.checkpoint_every),
        callbacks=callbacks,
        enable_progress_bar=cfg.progress_bar,
        enable_model_summary=cfg.model_summary,
        default_root_dir=run_dir,
    )
