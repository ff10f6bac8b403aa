"""Where this process stands among the processes of one job: read from the environment torchrun sets.

Both sides read it the same way. `torchrun --nproc-per-node N -m raw_torch.<workload> ...` (or
`with_lightning.<workload>`) starts N processes and gives each RANK, WORLD_SIZE, LOCAL_RANK and
LOCAL_WORLD_SIZE (and MASTER_ADDR/MASTER_PORT for the rendezvous); a plain `python -m ...` sets none of
them: one process, rank 0, and the single-process code paths run unchanged. The raw loop starts its
process group from these; Lightning's TorchElasticEnvironment reads the same variables and refuses a
Trainer whose devices x num_nodes differs from WORLD_SIZE, so `devices` and `num_nodes` come from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from raw_torch.common.errors import UsageError

VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def num_nodes(self) -> int:
        return self.world_size // self.local_world_size

    @property
    def is_zero(self) -> bool:
        """Rank 0 writes what the job writes once (Lightning: `trainer.is_global_zero`, `rank_zero_only`)."""
        return self.rank == 0


def world() -> World:
    """This process's place, from torchrun's environment; one process when WORLD_SIZE is not set."""
    if "WORLD_SIZE" not in os.environ:
        return World()
    values = {}
    for name in VARIABLES:
        raw = os.environ.get(name)
        if raw is None:
            raise UsageError(f"{name} is not set, but WORLD_SIZE is: start the job with torchrun")
        try:
            values[name] = int(raw)
        except ValueError:
            raise UsageError(f"{name}={raw!r} is not a whole number (set by torchrun)") from None
    w = World(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
    if not (0 <= w.rank < w.world_size and 0 <= w.local_rank < w.local_world_size <= w.world_size):
        raise UsageError(f"inconsistent torchrun environment: {w}")
    if w.world_size % w.local_world_size:
        raise UsageError(f"WORLD_SIZE {w.world_size} is not a multiple of LOCAL_WORLD_SIZE {w.local_world_size}")
    return w


def leave_process_group() -> None:
    """Destroy this process's default process group, if it has one; what still refers to it (a
    DistributedDataParallel wrapper in a reference cycle) is collected first: destroyed later, during the
    interpreter's shutdown, gloo's worker threads can abort the process ("terminate called without an active
    exception", SIGABRT). The raw loop leaves its own group at the end of its run (`loop.processes`); Lightning
    2.6.6 leaves its own to the interpreter's shutdown, where that abort hit rank 1 in 5 of 15 runs of the
    minimal torchrun matrix here (pytorch/pytorch#179291), so the commands call this after either side's run."""
    import gc

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
