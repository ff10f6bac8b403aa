"""Does Lightning compute what the plain loop computes? Three runs from one start: the plain loop twice (is the
module deterministic at all?) and Lightning once, every training_step's loss and the final state compared.

Both sides start from the same weights (the module is built under one seed for each run, and every build is
checked equal to the first before training) and read the same batches in the same order (target.BatchOrder).
Compared: the loss each training_step returned, as it returned it (Lightning divides it by
accumulate_grad_batches only for backward), and the final state_dict (parameters and buffers).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping

import torch

from benchmarks.probe import lightning, plain
from benchmarks.probe.target import build, check_module, where
from raw_torch.common.errors import UsageError


def recording(module, losses: list) -> None:
    """Note every loss training_step returns (None where it returned None), on the instance, the same on both
    sides; the signature Lightning inspects (does it take batch_idx?) is kept."""
    step = module.training_step

    def note(out):
        loss = out.get("loss") if isinstance(out, Mapping) else out
        losses.append(None if loss is None else loss.detach().clone())
        return out

    if plain.takes_batch_idx(module):

        def training_step(batch, batch_idx):
            return note(step(batch, batch_idx))

    else:

        def training_step(batch):
            return note(step(batch))

    module.training_step = training_step


def snapshot(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def run(side: str, cls, probe, order, initial: dict | None) -> tuple[list, dict, dict]:
    """One run from the probe's start: (losses, final state, initial state)."""
    module = build(cls, probe.init_args, probe.seed)
    check_module(module)
    start = snapshot(module)
    if initial is not None and not equal_states(start, initial)[0]:
        raise UsageError(f"{cls.__name__} built twice under seed {probe.seed} gave different weights: its "
                         "initialization does not follow torch's seeded RNG")  # fmt: skip
    losses: list = []
    recording(module, losses)
    try:
        if side == "plain":
            plain.fit(module, order.loader(), probe.steps, probe.precision, torch.device(probe.device),
                      probe.gradient_clip_val, probe.accumulate_grad_batches)  # fmt: skip
        else:
            with tempfile.TemporaryDirectory() as out:
                lightning.fit(module, order.loader(), probe, out)
    except UsageError:
        raise
    except Exception as e:  # the user's training_step (or setup, configure_optimizers) raised
        raise UsageError(f"{side} run: {where(e)}") from None
    return [None if v is None else v.cpu() for v in losses], snapshot(module), start


def equal_states(a: dict, b: dict) -> tuple[bool, float]:
    if a.keys() != b.keys():
        return False, float("nan")
    diff = 0.0
    same = True
    for k in a:
        if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype:
            return False, float("nan")
        if not torch.equal(a[k], b[k]):
            same = False
            if a[k].is_floating_point():
                diff = max(diff, float((a[k].double() - b[k].double()).abs().max()))
    return same, diff


def compare(a_losses: list, a_state: dict, b_losses: list, b_state: dict) -> dict:
    """{bitwise, first_difference, max_abs_diff}: first_difference is the first batch whose loss differs (or
    "final state" when only the weights do), max_abs_diff the largest difference over losses and weights."""
    first, diff = None, 0.0
    for i in range(max(len(a_losses), len(b_losses))):
        a = a_losses[i] if i < len(a_losses) else "missing"
        b = b_losses[i] if i < len(b_losses) else "missing"
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape:
            if not torch.equal(a, b):
                first = i if first is None else first
                diff = max(diff, float((a.double() - b.double()).abs().max()))
        elif not (a is None and b is None):
            first = i if first is None else first
    same_state, state_diff = equal_states(a_state, b_state)
    if not same_state and first is None:
        first = "final state"
    diff = max(diff, state_diff) if state_diff == state_diff else float("nan")
    return {"bitwise": first is None, "first_difference": first, "max_abs_diff": diff,
            "batches": len(a_losses)}  # fmt: skip


def parity(cls, probe, order) -> dict:
    plain_losses, plain_state, start = run("plain", cls, probe, order, None)
    again_losses, again_state, _ = run("plain", cls, probe, order, start)
    light_losses, light_state, _ = run("lightning", cls, probe, order, start)
    control = compare(plain_losses, plain_state, again_losses, again_state)
    result = compare(plain_losses, plain_state, light_losses, light_state)
    module = build(cls, probe.init_args, probe.seed)
    result["deterministic"] = control["bitwise"]
    result["control"] = control  # the plain loop against itself
    result["hooks_not_replayed"] = plain.hooks_not_replayed(module)
    result["verdict"] = verdict(result)
    result["final_loss"] = {"plain": last_loss(plain_losses), "lightning": last_loss(light_losses)}
    return result


def last_loss(losses: list) -> float | None:
    found = [v for v in losses if v is not None]
    return float(found[-1].float().mean()) if found else None


def verdict(r: dict) -> str:
    if not r["deterministic"]:
        return ("non-deterministic: the plain loop differs from itself (first at batch "
                f"{r['control']['first_difference']}), so no difference is Lightning's")  # fmt: skip
    if r["bitwise"]:
        return "bitwise"
    where_ = r["first_difference"]
    at = "in the final weights" if where_ == "final state" else f"first at batch {where_}"
    if r["hooks_not_replayed"]:
        return (
            f"differs ({at}, max |diff| {r['max_abs_diff']:.3g}); the module overrides hooks the plain loop "
            f"does not replay ({', '.join(r['hooks_not_replayed'])}): the probe's gap, not Lightning's"
        )
    return f"differs ({at}, max |diff| {r['max_abs_diff']:.3g})"
