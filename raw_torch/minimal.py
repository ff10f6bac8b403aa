"""The note's minimal optimization example in plain PyTorch: fit y = 3x + 4.

Two solvers, as in the note:
  adam   Adam(lr=0.1) for --epochs, then optionally a fresh Adam(lr=1e-4) for --finetune-epochs (the note: 500)
  lstsq  the closed form; no gradient step at all (Lightning twin: `training_step` returns None)

Read next to `with_lightning/minimal.py`; the loop itself is `raw_torch/loop.py`.
"""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from raw_torch import loop
from raw_torch.checkpoints import checkpoint_name, load_for_resume, save_checkpoint
from raw_torch.config import RunConfig, config_from_argv, main_guard, resolve_device
from raw_torch.data import check_limits, dataset_name, make_minimal_loaders
from raw_torch.models import LinearRegression, lstsq_fit_
from raw_torch.record import RunRecord, params_sha256

# --- the model's loss (Lightning: the LightningModule's compute_loss / *_step) -------------------


def compute_loss(model: nn.Module, batch: list) -> torch.Tensor:
    x, y = batch
    return F.mse_loss(model(x), y)


def configure_optimizer(model: nn.Module, lr: float, cfg: RunConfig) -> torch.optim.Optimizer:
    """Lightning: `configure_optimizers`."""
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)


# --- the closed-form twin -------------------------------------------------------------------------


def fit_lstsq(model: LinearRegression, train_loader, val_loader, cfg: RunConfig, device, run_dir: Path, resume=None):
    """No optimizer, no backward: gather the training data, solve, validate. Once per epoch, like the twin.

    Lightning needs care here (its sanity check validates before any data was seen, and weight decay
    would act if an optimizer stepped); by hand there is simply no optimizer to misconfigure.
    """
    history = loop.History()
    start_epoch = 0
    if resume is not None:  # Lightning: fit(ckpt_path=...)
        model.load_state_dict(resume["model"])
        history.global_step, start_epoch = resume["global_step"], resume["epoch"] + 1
        if "rng" in resume:
            loop.set_rng_state(resume["rng"])
    writer = SummaryWriter(Path(run_dir) / "tensorboard") if cfg.logger else None
    for epoch in range(start_epoch, cfg.epochs):
        xs, ys = [], []
        for x, y in islice(train_loader, cfg.limit_train_batches):  # Lightning: training_step returns None
            xs.append(x.to(device))
            ys.append(y.to(device))
            history.global_step += 1
        lstsq_fit_(model.linear, torch.cat(xs), torch.cat(ys))  # Lightning: on_validation_start
        val_loss = loop.evaluate(model, val_loader, compute_loss, device, cfg.precision, cfg.limit_val_batches)
        history.val_loss.append(val_loss.item())
        if writer:
            writer.add_scalar("val_loss", val_loss.item(), history.global_step - 1)
            writer.add_scalar("epoch", epoch, history.global_step - 1)
        history.epoch = epoch + 1
        if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0:
            state = {"epoch": epoch, "global_step": history.global_step, "phase": 0, "model": model.state_dict()}
            state.update(rng=loop.rng_state(), run_config=cfg.as_dict())
            save_checkpoint(Path(run_dir) / "checkpoints" / checkpoint_name(epoch, history.global_step), state)
    if writer:
        writer.close()
    return history


# --- run: the same record as with_lightning.minimal.run -------------------------------------------


def run(cfg: RunConfig, loaders: tuple | None = None) -> RunRecord:
    """Train, validate and test; `loaders` (train, val, test) replaces the shared construction (benchmarks)."""
    loop.seed_everything(cfg.seed)  # Lightning: pl.seed_everything
    device = resolve_device(cfg.device)
    run_dir = Path(cfg.out)
    resume = load_for_resume(cfg, "raw")  # Lightning: the same check, then fit(ckpt_path=cfg.resume)
    train_loader, val_loader, test_loader = loaders or make_minimal_loaders(cfg)
    check_limits(cfg, train_loader, val_loader)  # both sides: Lightning alone would cap a limit silently
    model = LinearRegression().to(device)  # Lightning: the Trainer moves the module

    if cfg.solver == "lstsq":
        history = fit_lstsq(model, train_loader, val_loader, cfg, device, run_dir, resume)
        train_loss, val_loss, last_dir, skipped = [], history.val_loss, run_dir, 0
    else:
        phases = [(cfg.lr, cfg.epochs, run_dir)]
        if cfg.finetune_epochs:  # the note's "finetuning": a fresh Adam with a small lr
            phases.append((cfg.finetune_lr, cfg.finetune_epochs, run_dir / "finetune"))
        start_phase = resume["phase"] if resume else 0  # a finetune checkpoint resumes the finetune phase
        train_loss, val_loss, skipped = [], [], 0
        for phase, (lr, epochs, last_dir) in enumerate(phases[start_phase:], start_phase):
            optimizer = configure_optimizer(model, lr, cfg)
            history = loop.fit(
                model, optimizer, compute_loss, train_loader, val_loader, cfg, device, epochs, last_dir,
                resume=resume if phase == start_phase else None, phase=phase,
            )  # fmt: skip
            train_loss += history.train_loss
            val_loss += history.val_loss
            skipped += history.skipped_steps

    test_loss = loop.test(model, test_loader, compute_loss, cfg, device, history, last_dir)
    return RunRecord(
        impl="raw",
        workload="minimal",
        device=device.type,
        precision=cfg.precision,
        dataset=dataset_name(cfg),
        seed=cfg.seed,
        train_loss=train_loss,
        val_loss=val_loss,
        test_loss=test_loss,
        params_sha256=params_sha256(model),
        skipped_steps=skipped,
        model=model,
    )


def report(record: RunRecord) -> str:
    """What the note printed: the learned line and the prediction far outside the data."""
    model = record.model
    w, b = model.linear.weight.detach().cpu(), model.linear.bias.detach().cpu()
    with torch.no_grad():
        far = model(torch.tensor([[1e7, 0.0]], device=next(model.parameters()).device))
    return f"weight {w.flatten().tolist()}, bias {b.item():.6f}, model([1e7, 0]) = {far.item():,.1f} (truth 30,000,004)"


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_argv("minimal", "raw", argv)
    record = run(cfg)
    record.save(cfg.out)
    print(record.summary())
    print(report(record))
    print(f"wrote {cfg.out}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main_guard("raw_torch.minimal", main))
