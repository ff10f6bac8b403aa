"""Evaluate every checkpoint of a folder on the test set, in training order (Lightning).

    python -m with_lightning.evaluate RUN_DIR/checkpoints [--device cpu] [--out FILE.json]

`trainer.test(module, loader, ckpt_path=...)` for each file, in the order the shared helper
`raw_torch.common.checkpoints.in_training_order` gives (not `os.listdir` order, not string order).
Read next to `raw_torch/evaluate.py`.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import pytorch_lightning as pl

from raw_torch.common.checkpoints import checkpoints_or_fail, load_checkpoint
from raw_torch.common.cli import evaluate_main, main_guard
from raw_torch.common.config import RunConfig, resolve_device
from raw_torch.common.data import make_loaders
from with_lightning.autoencoder import LitAutoEncoder
from with_lightning.minimal import LitLinearRegression
from with_lightning.trainer import interrupts_reported, precision_flags


def build_module(cfg: RunConfig) -> pl.LightningModule:
    cls = LitLinearRegression if cfg.workload == "minimal" else LitAutoEncoder
    return cls(cfg, lr=cfg.lr)


def quiet_lightning() -> None:
    """Lightning's info lines (devices, tips, "Restoring states", "Loaded model weights") and its warnings
    (that the checkpoint's callbacks are not in this Trainer: testing needs none) are left out; an error still
    stops the command with one line."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")


def evaluate_folder(folder: Path, device_name: str = "auto") -> list[dict]:
    found = checkpoints_or_fail(folder, "lightning")
    cfg = RunConfig.from_dict(load_checkpoint(found[0][2])["run_config"])
    device = resolve_device(device_name)
    _, _, test_loader = make_loaders(cfg)
    module = build_module(cfg)
    quiet_lightning()  # the table and errors only: no GPU/TPU lines, tips, or restore notes per checkpoint
    trainer = pl.Trainer(
        accelerator=device.type,
        devices=1,
        **precision_flags(device, cfg.precision),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,  # no ModelCheckpoint: it writes nothing here (and warns of no dirpath)
    )
    results = []
    for epoch, global_step, path in found:
        (metrics,) = trainer.test(module, test_loader, ckpt_path=path, verbose=False, weights_only=True)
        results.append(
            {"epoch": epoch, "global_step": global_step, "file": path.name, "test_loss": metrics["test_loss"]}
        )
    return results


def main(argv: list[str] | None = None) -> int:
    with interrupts_reported():  # Ctrl-C inside trainer.test: exit 130 and one line, as the raw side
        return evaluate_main("lightning", evaluate_folder, argv)


if __name__ == "__main__":
    sys.exit(main_guard("with_lightning.evaluate", main))
