"""The MNIST autoencoder in plain PyTorch (Lightning's front-page example, trained by hand).

Read next to `with_lightning/autoencoder.py`; the loop itself is `raw_torch/loop.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from raw_torch import loop
from raw_torch.checkpoints import load_for_resume
from raw_torch.config import RunConfig, config_from_argv, main_guard, resolve_device
from raw_torch.data import check_limits, dataset_name, make_autoencoder_loaders
from raw_torch.models import AutoEncoder
from raw_torch.record import RunRecord, params_sha256

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
    run_dir = Path(cfg.out)
    resume = load_for_resume(cfg, "raw")  # Lightning: the same check, then fit(ckpt_path=cfg.resume)
    train_loader, val_loader, test_loader = loaders or make_autoencoder_loaders(cfg)
    check_limits(cfg, train_loader, val_loader)  # both sides: Lightning alone would cap a limit silently
    model = AutoEncoder(hidden=cfg.hidden).to(device)  # Lightning: the Trainer moves the module
    optimizer = configure_optimizer(model, cfg.lr, cfg)

    # Lightning: make_trainer(...).fit(module, train_loader, val_loader, ckpt_path=cfg.resume), then .test(...)
    history = loop.fit(
        model, optimizer, compute_loss, train_loader, val_loader, cfg, device, cfg.epochs, run_dir, resume=resume
    )
    test_loss = loop.test(model, test_loader, compute_loss, cfg, device, history, run_dir)
    return RunRecord(
        impl="raw",
        workload="autoencoder",
        device=device.type,
        precision=cfg.precision,
        dataset=dataset_name(cfg),
        seed=cfg.seed,
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        test_loss=test_loss,
        params_sha256=params_sha256(model),
        skipped_steps=history.skipped_steps,
        model=model,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_argv("autoencoder", "raw", argv)
    record = run(cfg)
    record.save(cfg.out)
    print(record.summary())
    print(f"wrote {cfg.out}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main_guard("raw_torch.autoencoder", main))
