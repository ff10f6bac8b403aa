"""The Trainer both Lightning workloads use: each flag replaces a section of `raw_torch/loop.py`.

1. seeding and RNG isolation        `pl.seed_everything`; the sanity check runs inside `isolate_rng` by itself;
                                    the RNG a checkpoint must carry (`RunState`)
2. precision                        `precision=` (and the CPU fp16 plugin, see `precision_flags`)
3. one training step                the LightningModule's `training_step`; automatic optimization
4. evaluation                       `validation_step` / `test_step` with `self.log` (epoch mean by batch size)
5. fit                              `num_sanity_val_steps`, `max_epochs`, `limit_train_batches`,
                                    `enable_progress_bar` (the loss in it: `self.log(..., prog_bar=...)`),
                                    `TensorBoardLogger`, `ModelCheckpoint`,
                                    `fit(ckpt_path=...)` plus the RNG it does not restore, a NaN check
6. test                             `trainer.test`
7. several processes (torchrun)     `strategy="ddp"`, `devices`/`num_nodes` from torchrun's environment;
                                    Lightning's own DistributedSampler, `sync_dist=True`, rank-0-only
                                    bar, logger and checkpoints, `strategy.all_gather`
"""

from __future__ import annotations

import contextlib
import logging
import signal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins import MixedPrecision
from pytorch_lightning.utilities.exceptions import SIGTERMException

from raw_torch.common.config import SANITY_VAL_STEPS, Phase, resolve_device
from raw_torch.common.errors import Interrupted
from raw_torch.common.runstate import (
    check_finite,
    every_rank,
    optimizer_steps,
    rng_of_this_rank,
    rng_state,
    set_rng_state,
)
from raw_torch.common.world import world

# --- 1. seeding and RNG isolation: what a checkpoint must carry -----------------------------------


class RunState(Callback):
    """What every checkpoint of this suite carries besides Lightning's own state.

    `trainer.fit(ckpt_path=...)` restores weights, optimizer, GradScaler, loops and callbacks, but not the
    global RNG (pytorch-lightning 2.6.6): with a shuffled DataLoader the resumed run would draw another
    batch order than the uninterrupted one. The RNG travels in the checkpoint, as on the raw side, with
    the run's settings and phase (for the --resume checks).
    """

    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["run_config"] = self.phase.cfg.as_dict()  # plain types: loadable with weights_only=True
        checkpoint["phase"] = self.phase.index  # 1 during the minimal example's finetune phase
        checkpoint["rng"] = rng_state()
        checkpoint.update(every_rank(checkpoint["rng"]))  # 7. torchrun: every rank's RNG, and the world size
        # only a flag, for the --resume checks: Lightning restores its own loop position (the raw side
        # stores a dict there: batches done and the epoch's starting RNG)
        checkpoint["mid_epoch"] = not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if "rng" in checkpoint:
            set_rng_state(rng_of_this_rank(checkpoint))


# --- 2. precision ---------------------------------------------------------------------------------


def precision_flags(device: torch.device, precision: str) -> dict:
    """Trainer arguments for a precision name.

    Lightning's Trainer silently turns `precision="16-mixed"` on CPU into bf16. To get real fp16
    autocast with a GradScaler on CPU (what the raw loop does), pass the plugin explicitly.
    """
    if precision == "16-mixed" and device.type == "cpu":
        return {"plugins": [MixedPrecision("16-mixed", "cpu")]}
    return {"precision": precision}


# --- 3. one training step -------------------------------------------------------------------------
# Each LightningModule's `training_step` (with_lightning/minimal.py, autoencoder.py); zero_grad, backward, the
# GradScaler and optimizer.step are the Trainer's automatic optimization: nothing to write here.

# --- 4. evaluation --------------------------------------------------------------------------------
# Each LightningModule's `validation_step` / `test_step` with `self.log(..., on_epoch=True)`: the Trainer
# reduces the epoch's mean weighted by batch size, in inference mode, the module in eval mode.

# --- 5. fit: recording what both sides report ------------------------------------------------------


class History(Callback):
    """Collects per-step training losses and per-epoch validation losses, like the raw loop's History.

    The note's pitfall: `on_validation_end` also fires for the sanity check, whose numbers must not be
    recorded; `trainer.sanity_checking` tells them apart.
    """

    def __init__(self) -> None:
        self.step_losses: list[torch.Tensor] = []
        self.val_loss: list[float] = []
        self.skipped_steps = 0
        self.train_loss_by_rank: list[list[float]] | None = None  # under torchrun: every rank's, gathered
        self._first_of_epoch = 0
        self._steps_taken_before = 0

    def on_train_start(self, trainer, pl_module) -> None:  # after a checkpoint was restored
        self._steps_taken_before = optimizer_steps(trainer.optimizers[0])

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._first_of_epoch = len(self.step_losses)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = (outputs or {}).get("loss")  # absent when training_step returned None (no step taken)
        if loss is not None:
            self.step_losses.append(loss)
        if batch_idx + 1 == trainer.num_training_batches:  # before validation and checkpoint, like the raw loop
            check_finite(self.step_losses[self._first_of_epoch :], trainer.global_step, trainer.current_epoch)

    def on_train_end(self, trainer, pl_module) -> None:
        # steps GradScaler skipped: steps run minus steps the optimizer really took (no sync per step)
        taken = optimizer_steps(trainer.optimizers[0]) - self._steps_taken_before
        self.skipped_steps = len(self.step_losses) - taken
        if trainer.world_size > 1:  # 7. every rank's losses, for rank 0's metrics.json
            mine = torch.stack(self.step_losses) if self.step_losses else torch.empty(0, device=pl_module.device)
            every = trainer.strategy.all_gather(mine)  # (world size, steps)
            self.train_loss_by_rank = [[float(v) for v in row] for row in every.cpu()]

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self.val_loss.append(trainer.callback_metrics["val_loss"].item())

    @property
    def train_loss(self) -> list[float]:
        return [float(v) for v in torch.stack(self.step_losses).cpu()] if self.step_losses else []


def make_trainer(phase: Phase, history: History) -> pl.Trainer:
    """The Trainer of one phase: every argument is a feature `raw_torch/loop.py` writes out by hand."""
    cfg, run_dir = phase.cfg, phase.run_dir
    callbacks: list[Callback] = [history, RunState(phase)]
    if cfg.checkpoint_every:
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="{epoch}-{step}",
                save_top_k=-1,  # keep every checkpoint
                every_n_epochs=cfg.checkpoint_every,
            )
        )
    if cfg.checkpoint_every_n_steps:  # mid-epoch checkpoints: a second callback, its own folder
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints" / "steps",
                filename="{epoch}-{step}",
                save_top_k=-1,
                every_n_train_steps=cfg.checkpoint_every_n_steps,
            )
        )
    device = resolve_device(cfg.device)
    return pl.Trainer(
        accelerator=device.type,
        **process_flags(),
        **precision_flags(device, cfg.precision),
        max_epochs=phase.epochs,
        limit_train_batches=cfg.limit_train_batches,
        limit_val_batches=cfg.limit_val_batches,
        num_sanity_val_steps=SANITY_VAL_STEPS if cfg.sanity_check else 0,
        log_every_n_steps=cfg.log_every_n_steps,
        logger=TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False)
        if cfg.logger
        else False,
        enable_checkpointing=bool(cfg.checkpoint_every or cfg.checkpoint_every_n_steps),
        callbacks=callbacks,
        enable_progress_bar=cfg.progress_bar,
        enable_model_summary=cfg.model_summary,
        default_root_dir=run_dir,
    )


class _NotTheShutdownNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Detected KeyboardInterrupt" not in record.getMessage()


# where Lightning 2.6.6 logs "Detected KeyboardInterrupt, attempting graceful shutdown ..." (rank_zero_info)
SHUTDOWN_NOTE_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                         "pytorch_lightning.trainer.call")  # fmt: skip


@contextlib.contextmanager
def interrupts_reported():
    """Lightning's two ways of stopping a fit on a signal, reported as the raw side does (one line, exit 130 or
    143, every checkpoint already written complete; common/cli.main_guard):
    - SIGTERM: Lightning stops after the current batch by raising SIGTERMException, a SystemExit without a code:
      left alone, the process exits 0 as if training had finished;
    - Ctrl-C: Lightning catches the KeyboardInterrupt, logs a note, tears the fit down and calls sys.exit(1),
      which cannot be told from a failure: the SystemExit it raises while handling the KeyboardInterrupt
      carries it as its __context__. Its note is left out."""
    note = _NotTheShutdownNote()
    for name in SHUTDOWN_NOTE_LOGGERS:
        logging.getLogger(name).addFilter(note)
    try:
        yield
    except SIGTERMException:
        raise Interrupted(signal.SIGTERM) from None
    except SystemExit as e:
        if isinstance(e.__context__, KeyboardInterrupt):
            raise Interrupted(signal.SIGINT) from None
        raise
    finally:
        for name in SHUTDOWN_NOTE_LOGGERS:
            logging.getLogger(name).removeFilter(note)


# --- 6. test --------------------------------------------------------------------------------------
# `make_trainer(...).test(module, test_loader)` after fit, in each workload's `run`: the same Trainer, its
# test loop logged at the fit's last step.

# --- 7. several processes (torchrun) --------------------------------------------------------------


def process_flags() -> dict:
    """Under torchrun, every process of the job: `strategy="ddp"` with devices x num_nodes = WORLD_SIZE (Lightning
    checks it against torchrun's environment); Lightning then puts in its own DistributedSampler at fit, syncs
    `sync_dist=True` values, keeps the bar, logger and checkpoints to rank 0 and all-gathers in `History`.
    One process: one device."""
    w = world()
    if not w.distributed:
        return dict(devices=1)
    return dict(strategy="ddp", devices=w.local_world_size, num_nodes=w.num_nodes)
