"""Evaluate every checkpoint of a folder on the test set, in training order (plain PyTorch).

    python -m raw_torch.evaluate RUN_DIR/checkpoints [--device cpu] [--out FILE.json]

The note's pitfall: `os.listdir()` returns files in no guaranteed order, and sorting names puts
"epoch=10" before "epoch=2". The order here comes from the (epoch, global_step) inside each file.
Read next to `with_lightning/evaluate.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raw_torch import autoencoder, loop, minimal
from raw_torch.checkpoints import in_training_order, load_checkpoint
from raw_torch.config import RunConfig, UsageError, main_guard, resolve_device
from raw_torch.data import make_loaders
from raw_torch.models import AutoEncoder, LinearRegression
from raw_torch.record import write_json_atomic


def build_model(cfg: RunConfig):
    if cfg.workload == "minimal":
        return LinearRegression(), minimal.compute_loss
    return AutoEncoder(hidden=cfg.hidden), autoencoder.compute_loss


def checkpoints_or_fail(folder: Path) -> list[tuple[int, int, Path]]:
    if not Path(folder).is_dir():
        raise UsageError(f"{folder}: not a folder")
    found = in_training_order(folder)
    if not found:
        raise UsageError(f"{folder}: no .ckpt files")
    return found


def evaluate_folder(folder: Path, device_name: str = "auto") -> list[dict]:
    found = checkpoints_or_fail(folder)
    cfg = RunConfig.from_dict(load_checkpoint(found[0][2])["run_config"])
    device = resolve_device(device_name)
    _, _, test_loader = make_loaders(cfg)
    model, compute_loss = build_model(cfg)
    results = []
    for epoch, global_step, path in found:
        model.load_state_dict(load_checkpoint(path)["model"])
        model.to(device)
        test_loss = loop.evaluate(model, test_loader, compute_loss, device, cfg.precision).item()
        results.append({"epoch": epoch, "global_step": global_step, "file": path.name, "test_loss": test_loss})
    return results


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Test every checkpoint of a folder, in training order.")
    p.add_argument("folder", type=Path, help="a run's checkpoints/ folder")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--out", type=Path, default=None, help="also write the results to this JSON file (must be new)")
    return p


def main(argv: list[str] | None = None, evaluate=evaluate_folder, prog: str = "python -m raw_torch.evaluate") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.out is not None and args.out.exists():
        raise UsageError(f"--out {args.out}: already exists; nothing is overwritten")
    results = evaluate(args.folder, args.device)
    print(f"{'epoch':>6} {'step':>8}  {'test_loss':>14}  file")
    for r in results:
        print(f"{r['epoch']:>6} {r['global_step']:>8}  {r['test_loss']:>14.8g}  {r['file']}")
    if args.out is not None:
        write_json_atomic(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main_guard("raw_torch.evaluate", main))
