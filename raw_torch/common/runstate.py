"""What a run carries through a checkpoint and checks as it goes, the same on both sides: every global
RNG's state, the optimizer's own step count (for GradScaler's skipped steps) and the NaN/inf guard.

Lightning has none of these built in (2.6.6): `fit(ckpt_path=...)` does not restore the global RNG,
nothing counts the steps GradScaler skipped, and a NaN loss trains on. The raw loop calls them inline;
with_lightning calls them from its callbacks (`trainer.RunState`, `trainer.History`).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import distributed as dist

from raw_torch.common.errors import NonFiniteLoss


def rng_state() -> dict:
    """Every global RNG, as tensors and plain numbers, so a checkpoint holding it loads with weights_only=True.

    Lightning: nothing. `trainer.fit(ckpt_path=...)` does not restore the global RNG (2.6.6), so a
    resumed run shuffles differently from an uninterrupted one. A hand-written loop has the same trap.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def every_rank(state: dict) -> dict:
    """What a checkpoint carries of the job: under torchrun, every rank's RNG gathered (`rng_by_rank`, rank 0
    writes the file) and the world size; in one process, only the latter. A collective under torchrun: every
    rank calls it at every checkpoint, as every rank runs Lightning's `on_save_checkpoint`."""
    if not dist.is_initialized():
        return {"world_size": 1}
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return {"world_size": dist.get_world_size(), "rng_by_rank": gathered}


def rng_of_this_rank(ckpt: dict) -> dict:
    """The RNG state this process resumes from: its own rank's under torchrun, else the one saved."""
    by_rank = ckpt.get("rng_by_rank")
    return by_rank[dist.get_rank()] if by_rank and dist.is_initialized() else ckpt["rng"]


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def optimizer_steps(optimizer: torch.optim.Optimizer) -> int:
    """Steps the optimizer really took. Adam counts them per parameter; a step GradScaler skips leaves
    the count alone, so (steps run - steps taken) counts the skips without a sync per step."""
    return max((int(s["step"]) for s in optimizer.state.values() if "step" in s), default=0)


def first_nonfinite(losses: list[torch.Tensor]) -> tuple[int, float] | None:
    """(index, value) of the first NaN/inf loss, or None: one sync per call, not one per step."""
    if not losses:
        return None
    stacked = torch.stack(losses)
    bad = (~torch.isfinite(stacked)).nonzero()
    return None if len(bad) == 0 else (int(bad[0]), float(stacked[bad[0]]))


def check_finite(epoch_losses: list[torch.Tensor], global_step: int, epoch: int) -> None:
    """Stop a run whose loss became NaN/inf, naming the step: after the epoch's last batch, before
    validation and checkpoint, on both sides."""
    found = first_nonfinite(epoch_losses)
    if found is not None:
        index, value = found
        step = global_step - len(epoch_losses) + index
        raise NonFiniteLoss(
            f"train_loss became {value} at step {step} (epoch {epoch}); stopped before validation and checkpoint"
        )
