"""The note's minimal optimization example with PyTorch Lightning: fit y = 3x + 4.

Two solvers, as in the note:
  adam   `configure_optimizers` returns Adam(lr=0.1); a second `fit` with a fresh Adam(lr=1e-4) finetunes
  lstsq  `training_step` returns None, so Lightning takes no gradient step; the closed form is solved in
         `on_validation_start`, which must survive the sanity check (validation before any training data)

Read next to `raw_torch/minimal.py`; the Trainer is built in `with_lightning/trainer.py`.
"""

from __future__ import annotations

import sys

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from raw_torch.common.checkpoints import load_for_resume
from raw_torch.common.cli import main_guard, train_main
from raw_torch.common.config import RunConfig, phases
from raw_torch.common.data import check_limits, make_minimal_loaders
from raw_torch.common.models import LinearRegression, lstsq_fit_
from raw_torch.common.record import RunRecord, run_record
from raw_torch.common.world import world
from with_lightning.trainer import History, interrupts_reported, make_trainer

# --- the model's loss and steps -------------------------------------------------------------------


class LitLinearRegression(pl.LightningModule):
    def __init__(self, cfg: RunConfig, lr: float) -> None:
        super().__init__()
        self.model = LinearRegression()  # the shared nn.Module
        self.cfg = cfg
        self.sync_dist = world().distributed  # 7. torchrun: reduce the evaluation losses across ranks
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def compute_loss(self, batch) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.model(x), y)

    def training_step(self, batch, batch_idx):
        loss = self.compute_loss(batch)
        # prog_bar: the loss in the bar. Lightning converts it (.item(), a sync) after every batch even when the
        # bar is off, so it is asked for only when the bar shows
        self.log("train_loss", loss, prog_bar=self.cfg.progress_bar)
        return loss

    def validation_step(self, batch, batch_idx):
        # sync_dist: under torchrun, the epoch mean over every rank's batches (raw: loop.mean_over_ranks)
        self.log("val_loss", self.compute_loss(batch), prog_bar=self.cfg.progress_bar, sync_dist=self.sync_dist)

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self.compute_loss(batch), sync_dist=self.sync_dist)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.cfg.weight_decay)


# --- the closed-form twin -------------------------------------------------------------------------


class LitLstsq(LitLinearRegression):
    """`training_step` returns None: Lightning runs no backward and takes no optimizer step.

    The optimizer from `configure_optimizers` still exists, weight decay included; it never moves the
    parameters because no parameter ever has a gradient (tests/test_minimal.py proves it).
    """

    def __init__(self, cfg: RunConfig, lr: float) -> None:
        super().__init__(cfg, lr)
        self._xs: list[torch.Tensor] = []
        self._ys: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self._xs.append(x)
        self._ys.append(y)
        return None

    def on_validation_start(self) -> None:
        if not self._xs:  # the sanity check: no training data seen yet, nothing to solve
            return
        lstsq_fit_(self.model.linear, torch.cat(self._xs), torch.cat(self._ys))
        self._xs, self._ys = [], []


# --- run: the same record as raw_torch.minimal.run ------------------------------------------------


def run(cfg: RunConfig, loaders: tuple | None = None) -> RunRecord:
    """Train, validate and test; `loaders` (train, val, test) replaces the shared construction (benchmarks)."""
    pl.seed_everything(cfg.seed, verbose=False)
    resume = load_for_resume(cfg, "lightning")  # checked before anything is written (weights_only, layout, flags)
    # under torchrun, Lightning puts its own DistributedSampler in at fit (raw: loop.distributed_loaders)
    train_loader, val_loader, test_loader = loaders or make_minimal_loaders(cfg)
    check_limits(cfg, train_loader, val_loader)
    module = (LitLstsq if cfg.solver == "lstsq" else LitLinearRegression)(cfg, lr=cfg.lr)

    plan = phases(cfg, start=resume["phase"] if resume else 0)  # a finetune checkpoint resumes the finetune phase
    histories, trainers = [], []
    for phase in plan:  # the note's "finetuning" is a second fit: configure_optimizers runs again, a fresh Adam
        module.lr = phase.lr
        histories.append(History())
        trainers.append(make_trainer(phase, histories[-1]))  # pl.Trainer(...): with_lightning/trainer.py
        ckpt_path = cfg.resume if phase is plan[0] else None
        trainers[-1].fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    (test_metrics,) = trainers[-1].test(module, test_loader, verbose=False)  # logged at the last fit's last step
    return run_record(cfg, "lightning", module.model, test_metrics["test_loss"], histories)


def main(argv: list[str] | None = None) -> int:
    return train_main("minimal", "lightning", run, argv, guard=interrupts_reported)


if __name__ == "__main__":
    sys.exit(main_guard("with_lightning.minimal", main, catch_sigterm=False))  # SIGTERM: Lightning's own handler
