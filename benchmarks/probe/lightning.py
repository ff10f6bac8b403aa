"""Lightning's side of a probe: the user's module under a Trainer with the probe's settings and nothing the user
did not ask for (no progress bar, logger, checkpointing, model summary or sanity check; no validation).
The ladder's rungs switch one of the first three back on (`FEATURES`)."""

from __future__ import annotations

import contextlib
import logging
import warnings

import torch

# The ladder: each rung is the bare Trainer with one feature switched back on, at its default settings
# (TensorBoard when tensorboard is installed, which it is here; TQDM; a ModelCheckpoint saving every epoch).
FEATURES = {
    "logger": "+ logger (TensorBoard)",
    "progress_bar": "+ progress bar",
    "checkpointing": "+ checkpointing",
}


@contextlib.contextmanager
def quiet():
    """Lightning's start-up lines (GPU available, the CPU fp16 note) and its advice on workers and logging
    intervals are left out of the probe's output: one summary line is what it prints."""
    from pytorch_lightning.utilities.warnings import PossibleUserWarning

    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PossibleUserWarning)
            warnings.filterwarnings("ignore", message=r".*does not have many workers")
            warnings.filterwarnings("ignore", message=r".*`training_step` returned `None`")
            # torch 2.14 deprecates the LeafSpec that Lightning 2.6.6's batch flattening (utilities/_pytree.py)
            # builds for a tuple batch; the user cannot act on it
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def trainer(probe, out: str, feature: str | None = None):
    import pytorch_lightning as pl

    from with_lightning.trainer import precision_flags

    device = torch.device(probe.device)
    return pl.Trainer(
        accelerator=device.type,
        devices=1,
        **precision_flags(device, probe.precision),  # 16-mixed on CPU: real fp16 with a GradScaler, as plain.py
        max_steps=probe.steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        gradient_clip_val=probe.gradient_clip_val,
        accumulate_grad_batches=probe.accumulate_grad_batches,
        logger=feature == "logger",
        enable_progress_bar=feature == "progress_bar",
        enable_checkpointing=feature == "checkpointing",
        enable_model_summary=False,
        default_root_dir=out,
    )


def fit(module, loader, probe, out: str, feature: str | None = None) -> None:
    with quiet():
        trainer(probe, out, feature).fit(module, train_dataloaders=loader)
