"""The plain loop: any LightningModule with automatic optimization, trained by hand, the way a user writes it.

Read it beside lightning.py; each block names the Trainer feature it replaces. What it replays of Lightning's
hooks: setup("fit"), configure_model(), configure_optimizers() (one optimizer, any of its return forms, and
its schedulers' interval and frequency) and training_step(batch, batch_idx). What it does not replay is named
by `hooks_not_replayed` and reported with the result. `self.log` is left as it is: outside a Trainer it warns
and returns, and the warning is silenced here. The plain loop does not log.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Mapping, Sequence

import torch

from raw_torch.common.errors import UsageError

# Hooks the plain loop calls, and hooks it does not: a module that overrides one of the latter may train
# differently under Lightning for a reason that is the probe's, not Lightning's.
REPLAYED = ("setup", "configure_model", "configure_optimizers", "training_step")
NOT_REPLAYED = (
    "on_fit_start", "on_train_start", "on_train_epoch_start", "on_train_batch_start", "on_before_batch_transfer",
    "transfer_batch_to_device", "on_after_batch_transfer", "on_before_zero_grad", "optimizer_zero_grad",
    "on_before_backward", "backward", "on_after_backward", "on_before_optimizer_step", "configure_gradient_clipping",
    "optimizer_step", "lr_scheduler_step", "on_train_batch_end", "on_train_epoch_end", "on_train_end",
    "configure_callbacks",
)  # fmt: skip


def hooks_not_replayed(module) -> list[str]:
    from pytorch_lightning.utilities.model_helpers import is_overridden

    return [name for name in NOT_REPLAYED if is_overridden(name, module)]


# --- configure_optimizers, in each of its return forms ------------------------------------------------------


def optimizer_and_schedulers(conf) -> tuple[torch.optim.Optimizer, list[dict]]:
    """(the optimizer, [{"scheduler", "interval", "frequency"}]) from what configure_optimizers returned:
    an optimizer; a list or tuple of one; a dict {"optimizer", "lr_scheduler"} (a scheduler, or a dict with its
    "interval" and "frequency"); a list of one such dict; or the two lists ([optimizer], [schedulers])."""
    if isinstance(conf, torch.optim.Optimizer):
        return conf, []
    if isinstance(conf, Mapping):
        if "optimizer" not in conf:
            raise UsageError("configure_optimizers returned a dict without an 'optimizer' key")
        scheduler = conf.get("lr_scheduler")
        return conf["optimizer"], [] if scheduler is None else [scheduler_config(scheduler)]
    if (
        isinstance(conf, Sequence)
        and len(conf) == 2
        and isinstance(conf[0], Sequence)
        and not isinstance(conf[0], torch.optim.Optimizer)
    ):  # ([optimizers], [schedulers])
        optimizers, schedulers = list(conf[0]), list(conf[1])
        one(optimizers)
        return optimizers[0], [scheduler_config(s) for s in schedulers]
    if isinstance(conf, Sequence):
        one(conf)
        return optimizer_and_schedulers(conf[0])
    if conf is None:
        raise UsageError("configure_optimizers returned None: there is no optimizer to step")
    raise UsageError(f"configure_optimizers returned a {type(conf).__name__}, which Lightning does not accept either")


def one(optimizers) -> None:
    if len(optimizers) != 1:
        raise UsageError(
            f"configure_optimizers returned {len(optimizers)} optimizers: several optimizers are not supported "
            "(Lightning 2 needs manual optimization for them)"
        )


def scheduler_config(scheduler) -> dict:
    conf = dict(scheduler) if isinstance(scheduler, Mapping) else {"scheduler": scheduler}
    if isinstance(conf["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau) or conf.get("reduce_on_plateau"):
        raise UsageError("ReduceLROnPlateau is not supported: it steps on a logged metric, and the plain loop does "
                         "not log")  # fmt: skip
    return {"scheduler": conf["scheduler"], "interval": conf.get("interval", "epoch"),
            "frequency": conf.get("frequency", 1)}  # fmt: skip


# --- the loop -------------------------------------------------------------------------------------------------


def to_device(batch, device: torch.device):
    """Lightning: the strategy's batch_to_device, every tensor of the batch (nested lists, tuples, dicts)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def takes_batch_idx(module) -> bool:
    """Lightning passes batch_idx when training_step has a second parameter (or *args)."""
    spec = inspect.getfullargspec(module.training_step)
    args = spec.args[1:] if inspect.ismethod(module.training_step) else spec.args
    return "batch_idx" in args or spec.varargs is not None or len(args) >= 2


def fit(module, loader, steps: int, precision: str, device: torch.device, gradient_clip_val=None,
        accumulate_grad_batches: int = 1) -> None:  # fmt: skip
    """Train `module` for `steps` optimizer steps over `loader` (epoch after epoch, as Lightning's max_steps)."""
    K = accumulate_grad_batches
    with warnings.catch_warnings():  # self.log outside a Trainer warns and returns: the plain loop does not log
        warnings.filterwarnings("ignore", message=r".*self\.log\(\)` but the `self\.trainer` reference")
        # Lightning: the setup hook, configure_model, the module moved to the device, configure_optimizers
        module.setup("fit")
        module.configure_model()
        module.to(device)
        optimizer, schedulers = optimizer_and_schedulers(module.configure_optimizers())
        # Lightning: Trainer(precision=...): autocast around training_step, a GradScaler for 16-mixed
        autocast = contextlib.nullcontext()
        if precision != "32-true":
            autocast = torch.autocast(device.type, dtype=torch.float16 if precision == "16-mixed" else torch.bfloat16)
        scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
        with_idx = takes_batch_idx(module)
        module.train()
        module.zero_grad()
        global_step, epoch = 0, 0
        while global_step < steps:  # Lightning: max_steps, as many epochs as it takes
            batches = len(loader)
            for batch_idx, batch in enumerate(loader):
                batch = to_device(batch, device)
                with autocast:
                    out = module.training_step(batch, batch_idx) if with_idx else module.training_step(batch)
                loss = out["loss"] if isinstance(out, Mapping) else out  # None: Lightning skips backward
                last = batch_idx + 1 == batches
                if batch_idx % K == 0:  # the first batch of an accumulation: Lightning zeroes after training_step
                    optimizer.zero_grad()
                if loss is not None:  # Lightning divides by accumulate_grad_batches before backward
                    (scaler.scale(loss / K) if scaler else loss / K).backward()
                if (batch_idx + 1) % K == 0 or last:  # Lightning steps every K batches and on an epoch's last
                    if scaler is None:
                        clip(optimizer, gradient_clip_val)
                        optimizer.step()  # Lightning steps even when training_step returned None (no gradient)
                    elif loss is not None:  # Lightning's GradScaler path skips the step on None
                        if not getattr(optimizer, "_step_supports_amp_scaling", False):
                            scaler.unscale_(optimizer)  # before clipping, as Lightning does
                        clip(optimizer, gradient_clip_val)
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        clip(optimizer, gradient_clip_val)
                    global_step += 1
                    for s in schedulers:  # interval "step": frequency counts this epoch's batches, as Lightning's
                        if s["interval"] == "step" and (batch_idx + 1) % s["frequency"] == 0:
                            s["scheduler"].step()
                if last:
                    for s in schedulers:
                        if s["interval"] == "epoch" and (epoch + 1) % s["frequency"] == 0:
                            s["scheduler"].step()
                if global_step >= steps:
                    break
            epoch += 1


def clip(optimizer, gradient_clip_val) -> None:
    """Lightning: Trainer(gradient_clip_val=...), by norm, over the optimizer's parameters in their order."""
    if gradient_clip_val:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
