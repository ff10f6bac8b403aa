"""What runs natively in the environment of one release (its folder first on PYTHONPATH): which packages it
imports, parity of both twins, and the opcode pass that splits Lightning's Python work into parts.

    python -m benchmarks.releases.worker ITEMS.json OUT.json
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import sys
import tempfile
from pathlib import Path

PARITY_PRECISIONS = ("32-true", "bf16-mixed")
PARITY_BATCHES = 30  # one epoch of 30 batches, both workloads (the autoencoder on synthetic data)
PACKAGES = ("pytorch-lightning", "lightning-utilities", "torch", "torchmetrics", "tensorboard", "setuptools")


def versions() -> dict:
    import lightning_fabric
    import pytorch_lightning

    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["pytorch_lightning_path"] = str(Path(pytorch_lightning.__file__).parent.parent)
    out["lightning_fabric_path"] = str(Path(lightning_fabric.__file__).parent.parent)
    return out


# The costs the suite found in 2.6.6, each by a line of code that carries it: where it is in each release's own
# source (file:line), or None. The first two are not counted here (one process on the CPU): their dates come from
# this table alone.
FINDINGS = (
    ("SIGTERM broadcast every step under DDP", "pytorch_lightning/loops/training_epoch_loop.py",
     r"self\._broadcast_sigterm_tensor\(\)"),
    ("PYTORCH_NVML_BASED_CUDA_CHECK set at import", "lightning_fabric/__init__.py",
     r'PYTORCH_NVML_BASED_CUDA_CHECK"\] = "1"'),
    ("inspect.signature of training_step every step", "pytorch_lightning/loops/training_epoch_loop.py "
     "pytorch_lightning/loops/epoch/training_epoch_loop.py", r"is_param_in_hook_signature\(training_step_fx"),
    ("inspect.signature in every self.log call", "pytorch_lightning/core/module.py",
     r"is_param_in_hook_signature\(self\.training_step"),
    ("prog_bar values converted every step, bar or not",
     "pytorch_lightning/trainer/connectors/logger_connector/result.py",
     r'metrics\["pbar"\]\[forked_name\] = convert_tensors_to_scalars'),
    ("checkpoint callback's per-step hook", "pytorch_lightning/callbacks/model_checkpoint.py",
     r"def on_train_batch_end"),
)  # fmt: skip


def findings(root: Path) -> dict[str, str | None]:
    """{finding: "file:line"} in the release whose packages are under `root`, None where the line is absent (a
    finding's file may be one of several: 1.x kept its epoch loop in loops/epoch/)."""
    import re

    out = {}
    for what, files, pattern in FINDINGS:
        out[what] = None
        for file in files.split():
            path = root / file
            lines = path.read_text().splitlines() if path.is_file() else []
            hits = [n for n, line in enumerate(lines, 1) if re.search(pattern, line)]
            if hits:
                out[what] = f"{file}:{hits[0]}"
                break
    return out


def first_difference(raw: list[float], lit: list[float]) -> int | None:
    """The first optimizer step whose loss differs (or where one run has no more steps), None if none does."""
    for i, (a, b) in enumerate(zip(raw, lit, strict=False)):
        if a != b:
            return i
    return None if len(raw) == len(lit) else min(len(raw), len(lit))


def parity() -> list[dict]:
    """Both workloads in each precision: the raw twin and the Lightning twin, each one epoch of PARITY_BATCHES."""
    from benchmarks.clock.harness import run_module
    from raw_torch.common.config import WORKLOADS, RunConfig

    rows = []
    for workload in WORKLOADS:
        for precision in PARITY_PRECISIONS:
            extra = {"dataset": "synthetic"} if workload == "autoencoder" else {}
            cfg = RunConfig.for_workload(
                workload, epochs=1, limit_train_batches=PARITY_BATCHES, precision=precision, device="cpu",
                progress_bar=False, **extra,
            )  # fmt: skip
            runs = {}
            for impl in ("raw", "lightning"):
                with tempfile.TemporaryDirectory() as out:
                    runs[impl] = run_module(impl, workload).run(cfg.replace(out=out)).to_json()
            raw, lit = runs["raw"], runs["lightning"]
            same = {k: raw[k] == lit[k] for k in ("train_loss", "val_loss", "test_loss", "params_sha256")}
            rows.append(
                {
                    "workload": workload,
                    "precision": precision,
                    "steps": len(raw["train_loss"]),
                    "bitwise": all(same.values()),
                    "equal": same,
                    "first_differing_step": first_difference(raw["train_loss"], lit["train_loss"]),
                    "params_sha256": {"raw": raw["params_sha256"], "lightning": lit["params_sha256"]},
                }
            )
    return rows


def main(argv: list[str]) -> int:
    items_file, out_file = map(Path, argv)
    import torch

    from benchmarks.releases import bridge

    torch.set_num_threads(1)
    bridged = bridge.apply()  # before any twin is imported
    from benchmarks.instructions.measure import opcode_pass

    items = json.loads(items_file.read_text())
    found = versions()
    result = {"versions": found, "bridges": bridged, "findings": findings(Path(found["pytorch_lightning_path"]))}
    result["parity"] = parity()
    result["opcodes"] = {str(i): v for i, v in opcode_pass(items).items()}
    out_file.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    from raw_torch.common.cli import main_guard

    sys.exit(main_guard("benchmarks.releases.worker", main, sys.argv[1:], kept="nothing saved"))
