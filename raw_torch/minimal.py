"""The note's minimal optimization example in plain PyTorch: fit y = 3x + 4.

Two solvers, as in the note:
  adam   Adam(lr=0.1) for --epochs, then optionally a fresh Adam(lr=1e-4) for --finetune-epochs (the note: 500)
  lstsq  the closed form; no gradient step at all (Lightning twin: `training_step` returns None)

Read next to `with_lightning/minimal.py`; the loop itself is `raw_torch/loop.py`.
"""

from __future__ import annotations

import sys
from itertools import islice

import torch
import torch.nn.functional as F
from torch import nn

from raw_torch import loop
from raw_torch.common.checkpoints import load_for_resume
from raw_torch.common.cli import main_guard, train_main
from raw_torch.common.config import Phase, RunConfig, phases, resolve_device
from raw_torch.common.data import check_limits, make_minimal_loaders, num_batches
from raw_torch.common.models import LinearRegression, lstsq_fit_
from raw_torch.common.record import RunRecord, run_record
from raw_torch.common.runstate import set_rng_state

# --- the model's loss (Lightning: the LightningModule's compute_loss / *_step) -------------------


def compute_loss(model: nn.Module, batch: list) -> torch.Tensor:
    x, y = batch
    return F.mse_loss(model(x), y)


def configure_optimizer(model: nn.Module, lr: float, cfg: RunConfig) -> torch.optim.Optimizer:
    """Lightning: `configure_optimizers`."""
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)


# --- the closed-form twin -------------------------------------------------------------------------


def fit_lstsq(model: LinearRegression, loaders: tuple, phase: Phase, resume: dict | None = None) -> loop.History:
    """No optimizer, no backward: gather the training data, solve, validate. Once per epoch, like the twin.

    Lightning needs care here (its sanity check validates before any data was seen, and weight decay
    would act if an optimizer stepped); by hand there is simply no optimizer to misconfigure.
    """
    cfg, (train_loader, val_loader) = phase.cfg, loaders
    device = resolve_device(cfg.device)
    history, first_epoch = loop.History(), 0
    if resume is not None:  # Lightning: fit(ckpt_path=...)
        model.load_state_dict(resume["model"])
        history.global_step, first_epoch = resume["global_step"], resume["epoch"] + 1
        if "rng" in resume:
            set_rng_state(resume["rng"])
    autocast = loop.make_autocast(device, cfg.precision)
    writer = loop.open_writer(cfg, phase.run_dir)
    total = num_batches(cfg.limit_train_batches, train_loader)  # Lightning: limit_train_batches
    val_batches = num_batches(cfg.limit_val_batches, val_loader)
    # no sanity check: Lightning's runs (and shows its bar) but must solve nothing; by hand there is nothing to skip
    train_bar = loop.progress_bar(cfg, "Training", total, leave=True)
    try:
        for epoch in range(first_epoch, phase.epochs):
            train_bar.reset(total)
            train_bar.set_description(f"Epoch {epoch}")
            xs, ys = [], []
            for x, y in islice(train_loader, total):  # Lightning: training_step returns None
                xs.append(x.to(device))
                ys.append(y.to(device))
                history.global_step += 1
                train_bar.update(1)
            lstsq_fit_(model.linear, torch.cat(xs), torch.cat(ys))  # Lightning: on_validation_start
            with loop.progress_bar(cfg, "Validation", val_batches, leave=False, position=1) as bar:
                val_loss = loop.evaluate(model, val_loader, compute_loss, device, autocast, val_batches, bar).item()
            history.val_loss.append(val_loss)
            loop.show_losses(train_bar, {"val_loss": val_loss})  # Lightning: self.log("val_loss", ..., prog_bar=True)
            loop.log_validation(writer, val_loss, history, epoch)
            history.epoch = epoch + 1
            loop.save_epoch_checkpoint(phase, epoch, history, model)
    finally:
        train_bar.close()
        if writer:
            writer.close()
    return history


# --- run: the same record as with_lightning.minimal.run -------------------------------------------


def run(cfg: RunConfig, loaders: tuple | None = None) -> RunRecord:
    """Train, validate and test; `loaders` (train, val, test) replaces the shared construction (benchmarks)."""
    loop.seed_everything(cfg.seed)  # Lightning: pl.seed_everything
    device = resolve_device(cfg.device)
    with loop.processes(cfg):  # under torchrun: join the job, leave it at the end (Lightning: strategy="ddp")
        resume = load_for_resume(cfg, "raw")  # Lightning: the same check, then fit(ckpt_path=cfg.resume)
        train_loader, val_loader, test_loader = loop.distributed_loaders(loaders or make_minimal_loaders(cfg), cfg)
        check_limits(cfg, train_loader, val_loader)  # both sides: Lightning alone would cap a limit silently
        model = LinearRegression().to(device)  # Lightning: the Trainer moves the module

        plan = phases(cfg, start=resume["phase"] if resume else 0)  # a finetune checkpoint resumes the finetune phase
        histories = []
        for phase in plan:
            phase_resume = resume if phase is plan[0] else None
            if cfg.solver == "lstsq":
                histories.append(fit_lstsq(model, (train_loader, val_loader), phase, phase_resume))
            else:  # the note's "finetuning" is a second phase: a fresh Adam with a small lr
                optimizer = configure_optimizer(model, phase.lr, cfg)
                histories.append(
                    loop.fit(model, optimizer, compute_loss, (train_loader, val_loader), phase, phase_resume)
                )
        test_loss = loop.test(model, test_loader, compute_loss, plan[-1], histories[-1])
    return run_record(cfg, "raw", model, test_loss, histories)


def main(argv: list[str] | None = None) -> int:
    return train_main("minimal", "raw", run, argv)


if __name__ == "__main__":
    sys.exit(main_guard("raw_torch.minimal", main))
