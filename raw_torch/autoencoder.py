"""The MNIST autoencoder in plain PyTorch (Lightning's front-page example, trained by hand).

Read next to `with_lightning/autoencoder.py`; the loop itself is `raw_torch/loop.py`.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from raw_torch import loop
from raw_torch.common.checkpoints import load_for_resume
from raw_torch.common.cli import main_guard, train_main
from raw_torch.common.config import RunConfig, phases, resolve_device
from raw_torch.common.data import check_limits, make_autoencoder_loaders
from raw_torch.common.models import AutoEncoder
from raw_torch.common.record import RunRecord, run_record

# --- the model's loss (Lightning: the LightningModule's compute_loss / *_step) -------------------


def compute_loss(model: nn.Module, batch: list) -> torch.Tensor:
    x, _ = batch  # labels are not used: the target is the input
    x_hat = model.decoder(model.encoder(x))
    return F.mse_loss(x_hat, x)


def configure_optimizer(model: nn.Module, lr: float, cfg: RunConfig) -> torch.optim.Optimizer:
    """Lightning: `configure_optimizers`."""
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)


# --- run: the same record as with_lightning.autoencoder.run ---------------------------------------


def run(cfg: RunConfig, loaders: tuple | None = None) -> RunRecord:
    """Train, validate and test; `loaders` (train, val, test) replaces the shared construction (benchmarks)."""
    loop.seed_everything(cfg.seed)  # Lightning: pl.seed_everything
    device = resolve_device(cfg.device)
    with loop.processes(cfg):  # under torchrun: join the job, leave it at the end (Lightning: strategy="ddp")
        resume = load_for_resume(cfg, "raw")  # Lightning: the same check, then fit(ckpt_path=cfg.resume)
        train_loader, val_loader, test_loader = loop.distributed_loaders(loaders or make_autoencoder_loaders(cfg), cfg)
        check_limits(cfg, train_loader, val_loader)  # both sides: Lightning alone would cap a limit silently
        model = AutoEncoder(hidden=cfg.hidden).to(device)  # Lightning: the Trainer moves the module
        optimizer = configure_optimizer(model, cfg.lr, cfg)

        # Lightning: make_trainer(...).fit(module, train_loader, val_loader, ckpt_path=cfg.resume), then .test(...)
        (phase,) = phases(cfg)
        history = loop.fit(model, optimizer, compute_loss, (train_loader, val_loader), phase, resume)
        test_loss = loop.test(model, test_loader, compute_loss, phase, history)
    return run_record(cfg, "raw", model, test_loss, [history])


def main(argv: list[str] | None = None) -> int:
    return train_main("autoencoder", "raw", run, argv)


if __name__ == "__main__":
    sys.exit(main_guard("raw_torch.autoencoder", main))
