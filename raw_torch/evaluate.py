"""Evaluate every checkpoint of a folder on the test set, in training order (plain PyTorch).

    python -m raw_torch.evaluate RUN_DIR/checkpoints [--device cpu] [--out FILE.json]

The note's pitfall: `os.listdir()` returns files in no guaranteed order, and sorting names puts
"epoch=10" before "epoch=2". The order comes from the (epoch, global_step) inside each file
(`common.checkpoints.in_training_order`). Read next to `with_lightning/evaluate.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from raw_torch import autoencoder, loop, minimal
from raw_torch.common.checkpoints import checkpoints_or_fail, load_checkpoint
from raw_torch.common.cli import evaluate_main, main_guard
from raw_torch.common.config import RunConfig, resolve_device
from raw_torch.common.data import make_loaders
from raw_torch.common.models import shared_model


def build_model(cfg: RunConfig):
    """The shared model and its loss. Lightning: `build_module` (the LightningModule holds both)."""
    compute_loss = minimal.compute_loss if cfg.workload == "minimal" else autoencoder.compute_loss
    return shared_model(cfg.workload, cfg.hidden), compute_loss


def evaluate_folder(folder: Path, device_name: str = "auto") -> list[dict]:
    found = checkpoints_or_fail(folder, "raw")
    cfg = RunConfig.from_dict(load_checkpoint(found[0][2])["run_config"])
    device = resolve_device(device_name)
    _, _, test_loader = make_loaders(cfg)
    model, compute_loss = build_model(cfg)
    autocast = loop.make_autocast(device, cfg.precision)
    results = []
    for epoch, global_step, path in found:  # Lightning: trainer.test(module, loader, ckpt_path=path)
        model.load_state_dict(load_checkpoint(path)["model"])
        model.to(device)
        test_loss = loop.evaluate(model, test_loader, compute_loss, device, autocast).item()
        results.append({"epoch": epoch, "global_step": global_step, "file": path.name, "test_loss": test_loss})
    return results


def main(argv: list[str] | None = None) -> int:
    return evaluate_main("raw", evaluate_folder, argv)


if __name__ == "__main__":
    sys.exit(main_guard("raw_torch.evaluate", main))
