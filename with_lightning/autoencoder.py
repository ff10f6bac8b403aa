"""The MNIST autoencoder with PyTorch Lightning (the front-page example, on the shared model and data).

As the note says, the LightningModule is the bigger unit: encoder and decoder together; `forward`
runs only the encoder, the loss needs both. Read next to `raw_torch/autoencoder.py`.
"""

from __future__ import annotations

import sys

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from raw_torch.common.checkpoints import load_for_resume
from raw_torch.common.cli import main_guard, train_main
from raw_torch.common.config import RunConfig, phases
from raw_torch.common.data import check_limits, make_autoencoder_loaders
from raw_torch.common.models import AutoEncoder
from raw_torch.common.record import RunRecord, run_record
from raw_torch.common.world import world
from with_lightning.trainer import History, interrupts_reported, make_trainer

# --- the model's loss and steps -------------------------------------------------------------------


class LitAutoEncoder(pl.LightningModule):
    def __init__(self, cfg: RunConfig, lr: float) -> None:
        super().__init__()
        self.model = AutoEncoder(hidden=cfg.hidden)  # the shared nn.Module
        self.cfg = cfg
        self.sync_dist = world().distributed  # 7. torchrun: reduce the evaluation losses across ranks
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # the embedding: encoder only

    def compute_loss(self, batch) -> torch.Tensor:
        x, _ = batch  # labels are not used: the target is the input
        x_hat = self.model.decoder(self.model.encoder(x))
        return F.mse_loss(x_hat, x)

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


# --- run: the same record as raw_torch.autoencoder.run --------------------------------------------


def run(cfg: RunConfig, loaders: tuple | None = None) -> RunRecord:
    """Train, validate and test; `loaders` (train, val, test) replaces the shared construction (benchmarks)."""
    pl.seed_everything(cfg.seed, verbose=False)
    load_for_resume(cfg, "lightning")  # checked before anything is written (weights_only, layout, flags)
    # under torchrun, Lightning puts its own DistributedSampler in at fit (raw: loop.distributed_loaders)
    train_loader, val_loader, test_loader = loaders or make_autoencoder_loaders(cfg)
    check_limits(cfg, train_loader, val_loader)
    module = LitAutoEncoder(cfg, lr=cfg.lr)

    (phase,) = phases(cfg)
    history = History()
    trainer = make_trainer(phase, history)  # pl.Trainer(max_epochs=..., ...): with_lightning/trainer.py
    trainer.fit(module, train_loader, val_loader, ckpt_path=cfg.resume, weights_only=True)
    (test_metrics,) = trainer.test(module, test_loader, verbose=False)
    return run_record(cfg, "lightning", module.model, test_metrics["test_loss"], [history])


def main(argv: list[str] | None = None) -> int:
    return train_main("autoencoder", "lightning", run, argv, guard=interrupts_reported)


if __name__ == "__main__":
    sys.exit(main_guard("with_lightning.autoencoder", main, catch_sigterm=False))  # SIGTERM: Lightning's own handler
