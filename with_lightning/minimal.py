"""The note's minimal optimization example with PyTorch Lightning: fit y = 3x + 4.

Two solvers, as in the note:
  adam   `configure_optimizers` returns Adam(lr=0.1); a second `fit` with a fresh Adam(lr=1e-4) finetunes
  lstsq  `training_step` returns None, so Lightning takes no gradient step; the closed form is solved in
         `on_validation_start`, which must survive the sanity check (validation before any training data)

Read next to `raw_torch/minimal.py`; the Trainer is built in `with_lightning/trainer.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from raw_torch.checkpoints import load_for_resume
from raw_torch.config import RunConfig, config_from_argv, main_guard, resolve_device
from raw_torch.data import check_limits, dataset_name, make_minimal_loaders
from raw_torch.minimal import report
from raw_torch.models import LinearRegression, lstsq_fit_
from raw_torch.record import RunRecord, params_sha256
from with_lightning.trainer import CarriesRunState, History, make_trainer, sigterm_reported

# --- the model's loss and steps -------------------------------------------------------------------


class LitLinearRegression(CarriesRunState):
    def __init__(self, cfg: RunConfig, lr: float) -> None:
        super().__init__()
        self.model = LinearRegression()  # the shared nn.Module
        self.cfg = cfg
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def compute_loss(self, batch) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.model(x), y)

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
    device = resolve_device(cfg.device)
    run_dir = Path(cfg.out)
    resume = load_for_resume(cfg, "lightning")  # checked before anything is written (weights_only, layout, flags)
    train_loader, val_loader, test_loader = loaders or make_minimal_loaders(cfg)
    check_limits(cfg, train_loader, val_loader)
    module = (LitLstsq if cfg.solver == "lstsq" else LitLinearRegression)(cfg, lr=cfg.lr)

    phases = [(cfg.lr, cfg.epochs, run_dir)]
    if cfg.solver == "adam" and cfg.finetune_epochs:  # the note's "finetuning": a fresh Adam, small lr
        phases.append((cfg.finetune_lr, cfg.finetune_epochs, run_dir / "finetune"))
    start_phase = resume["phase"] if resume else 0  # a finetune checkpoint resumes the finetune phase
    train_loss, val_loss, skipped = [], [], 0
    for phase, (lr, epochs, phase_dir) in enumerate(phases[start_phase:], start_phase):
        module.lr, module.phase = lr, phase  # a new fit calls configure_optimizers again: a fresh Adam
        history = History()
        trainer = make_trainer(cfg, device, epochs, phase_dir, history)
        ckpt_path = cfg.resume if phase == start_phase else None
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
        train_loss += history.train_loss
        val_loss += history.val_loss
        skipped += history.skipped_steps

    (test_metrics,) = trainer.test(module, test_loader, verbose=False)
    return RunRecord(
        impl="lightning",
        workload="minimal",
        device=device.type,
        precision=cfg.precision,
        dataset=dataset_name(cfg),
        seed=cfg.seed,
        train_loss=train_loss,
        val_loss=val_loss,
        test_loss=test_metrics["test_loss"],
        params_sha256=params_sha256(module.model),
        skipped_steps=skipped,
        model=module.model,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_argv("minimal", "lightning", argv)
    with sigterm_reported():
        record = run(cfg)
    record.save(cfg.out)
    print(record.summary())
    print(report(record))
    print(f"wrote {cfg.out}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main_guard("with_lightning.minimal", main, catch_sigterm=False))  # SIGTERM: Lightning's own handler
