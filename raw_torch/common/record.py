"""The result record both sides return, built in one place (`run_record`) and written as `metrics.json`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from raw_torch.common.config import RunConfig, dataset_name, resolve_device
from raw_torch.common.files import write_json_atomic
from raw_torch.common.world import world


def params_sha256(model: nn.Module) -> str:
    """sha256 of the raw bytes of every parameter, in `named_parameters()` order."""
    h = hashlib.sha256()
    for _, p in model.named_parameters():
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class RunRecord:
    impl: str  # "raw" or "lightning"
    workload: str  # "minimal" or "autoencoder"
    device: str
    precision: str
    dataset: str
    seed: int
    train_loss: list[float]  # one per optimizer step, in order (float32 values, exact in JSON)
    val_loss: list[float]  # one per epoch, sanity check excluded
    test_loss: float
    params_sha256: str
    skipped_steps: int = 0  # optimizer steps GradScaler skipped (16-mixed); 0 otherwise
    world_size: int = 1  # processes that trained together (torchrun's WORLD_SIZE)
    # under torchrun: every rank's train_loss (rank 0's is train_loss), gathered to rank 0; None in one process
    train_loss_by_rank: list[list[float]] | None = None
    model: nn.Module | None = field(default=None, repr=False)  # the trained shared model (not serialized)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "model"}

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / "metrics.json"
        write_json_atomic(path, self.to_json())
        return path

    def summary(self) -> str:
        last = f"{self.train_loss[-1]:.6g}" if self.train_loss else "none (no gradient step)"
        val = f"{self.val_loss[-1]:.6g}" if self.val_loss else "none"
        return (
            f"[{self.impl}] {self.workload} on {self.device} ({self.precision}, {self.dataset}, seed {self.seed}): "
            f"{len(self.train_loss)} steps, last train_loss {last}, last val_loss {val}, "
            f"test_loss {self.test_loss:.6g}, params sha256 {self.params_sha256[:12]}"
            + (f", {self.skipped_steps} steps skipped by GradScaler" if self.precision == "16-mixed" else "")
        )

    def describe_line(self) -> str:
        """The minimal example, as the note printed it: the learned line and a prediction far outside the data."""
        linear = self.model.linear
        w, b = linear.weight.detach().cpu(), linear.bias.detach().cpu()
        with torch.no_grad():
            far = self.model(torch.tensor([[1e7, 0.0]], device=linear.weight.device))
        return (
            f"weight {w.flatten().tolist()}, bias {b.item():.6f}, model([1e7, 0]) = {far.item():,.1f} "
            "(truth 30,000,004)"
        )


class FitHistory(Protocol):
    """What one fit reports on either side (raw: loop.History; Lightning: trainer.History)."""

    train_loss: list[float]
    val_loss: list[float]
    skipped_steps: int
    train_loss_by_rank: list[list[float]] | None


def run_record(cfg: RunConfig, impl: str, model: nn.Module, test_loss: float, histories: list[FitHistory]) -> RunRecord:
    """The record of a run: its phases' histories joined in order, the test loss, the trained shared model."""
    return RunRecord(
        impl=impl,
        workload=cfg.workload,
        device=resolve_device(cfg.device).type,
        precision=cfg.precision,
        dataset=dataset_name(cfg),
        seed=cfg.seed,
        train_loss=[v for h in histories for v in h.train_loss],
        val_loss=[v for h in histories for v in h.val_loss],
        test_loss=test_loss,
        params_sha256=params_sha256(model),
        skipped_steps=sum(h.skipped_steps for h in histories),
        world_size=world().world_size,
        train_loss_by_rank=_by_rank(histories),
        model=model,
    )


def _by_rank(histories: list[FitHistory]) -> list[list[float]] | None:
    """Each rank's losses over all phases, in order; None in one process."""
    gathered = [h.train_loss_by_rank for h in histories if h.train_loss_by_rank is not None]
    if not gathered:
        return None
    return [[v for g in gathered for v in g[rank]] for rank in range(len(gathered[0]))]
