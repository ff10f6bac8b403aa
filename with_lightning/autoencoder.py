"""The MNIST autoencoder with PyTorch Lightning (the front-page example, on the shared model and data).

As the note says, the LightningModule is the bigger unit: encoder and decoder together; `forward`
runs only the encoder, the loss needs both. Read next to `raw_torch/autoencoder.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from raw_torch.checkpoints import load_for_resume
from raw_torch.config import RunConfig, config_from_argv, main_guard, resolve_device
from raw_torch.data import check_limits, dataset_name, make_autoencoder_loaders
from raw_torch.models import AutoEncoder
from raw_torch.record import RunRecord, params_sha256
from with_lightning.trainer import CarriesRunState, History, make_trainer, sigterm_reported

# --- the model's loss and steps -------------------------------------------------------------------


class LitAutoEncoder(CarriesRunState):
    def __init__(self, cfg: RunConfig, lr: float) -> None:
        super().__init__()
        self.model = AutoEncoder(hidden=cfg.hidden)  # the shared nn.Module
        self.cfg = cfg
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # the embedding: encoder only

    def compute_loss(self, batch) -> torch.Tensor:
        x, _ = batch  # labels are not used: the target is the input
        x_hat = self.model.decoder(self.model.encoder(x))
        return F.mse_loss(x_hat, x)

    def training_step(self, batch, batch_idx):
        loss = self.compute_loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.compute_loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self.compute_loss(batch))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.cfg.weight_decay)


# --- run: the same record as raw_torch.autoencoder.run --------------------------------------------


def run(cfg: RunConfig, loaders: tuple | None = None) -> RunRecord:
    """Train, validate and test; `loaders` (train, val, test) replaces the shared construction (benchmarks)."""
    pl.seed_everything(cfg.seed, verbose=False)
    device = resolve_device(cfg.device)
    run_dir = Path(cfg.out)
    load_for_resume(cfg, "lightning")  # checked before anything is written (weights_only, layout, flags)
    train_loader, val_loader, test_loader = loaders or make_autoencoder_loaders(cfg)
    check_limits(cfg, train_loader, val_loader)
    module = LitAutoEncoder(cfg, lr=cfg.lr)

    history = History()
    trainer = make_trainer(cfg, device, cfg.epochs, run_dir, history)
    trainer.fit(module, train_loader, val_loader, ckpt_path=cfg.resume, weights_only=True)
    (test_metrics,) = trainer.test(module, test_loader, verbose=False)
    return RunRecord(
        impl="lightning",
        workload="autoencoder",
        device=device.type,
        precision=cfg.precision,
        dataset=dataset_name(cfg),
        seed=cfg.seed,
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        test_loss=test_metrics["test_loss"],
        params_sha256=params_sha256(module.model),
        skipped_steps=history.skipped_steps,
        model=module.model,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_argv("autoencoder", "lightning", argv)
    with sigterm_reported():
        record = run(cfg)
    record.save(cfg.out)
    print(record.summary())
    print(f"wrote {cfg.out}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main_guard("with_lightning.autoencoder", main, catch_sigterm=False))  # SIGTERM: Lightning's own handler
