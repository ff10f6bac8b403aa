"""The benchmark matrix: which runs, of which lengths, and how many rounds.

Environment knobs (the defaults are what `nox -s bench` runs and what results/ holds):
  PAIRED_BENCH_THREADS  torch intra-op threads (default 1: these models are small, and one thread
                        leaves the second core of the 2-core reference machine to the OS)
  PAIRED_BENCH_ROUNDS   rounds of the paired protocol for the 32-true CPU step-cost cases (default 12);
                        the other protocols run a quarter of it (at least 3)
  PAIRED_RESOLVE_TRIPLES  triples (raw, Lightning, raw) of `nox -s resolve`, for every workload
                        (default: RESOLVE_TRIPLES below)
"""

from __future__ import annotations

import os

import pytest
import torch

from raw_torch.common.config import PRECISIONS, WORKLOADS, RunConfig

THREADS = int(os.environ.get("PAIRED_BENCH_THREADS", "1"))
ROUNDS = int(os.environ.get("PAIRED_BENCH_ROUNDS", "12"))
FEW_ROUNDS = max(3, ROUNDS // 4)
# The Trainer features a user can switch off, all off and all on: the feature table (bench_features.py) and the
# instruction ladder (instructions/session.py) start from the same settings
FEATURES_OFF = dict(progress_bar=False, logger=False, checkpoint_every=0, sanity_check=False, model_summary=False)
FEATURES_ON = dict(progress_bar=True, logger=True, checkpoint_every=1, sanity_check=True, model_summary=True)


def need_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine (run `nox -s bench_gpu` on one)")


DEVICES = ("cpu", "cuda")

# Run lengths: n = epochs x limit_train_batches. The epochs stay fixed within a case so that per-epoch
# costs (validation, checkpoint) land in the fixed cost a of t(n) = a + b*n.
LENGTHS = {
    "minimal": dict(epochs=4, limits=[50, 100]),  # 100 batches of 4 per epoch: n = 200, 400
    "autoencoder": dict(epochs=2, limits=[80, 160]),  # synthetic: 172 batches of 32 per epoch: n = 160, 320
}
SMOKE = dict(epochs=1, limits=[2, 3])

# `nox -s resolve`: the longest run length of each workload above, repeated in (raw, Lightning, raw)
# triples, about 14 minutes together on the 2-core reference machine. With a host that held still, the
# bootstrap interval of the CPU 32-true overhead would reach about ±10 µs (the autoencoder's step varies
# more from run to run, hence twice the triples). In simulation (tests/test_benchmarks.py's noise model)
# the 10th-percentile bootstrap interval held the truth 88% of the time at 40 triples and 95% at 160:
# hence no fewer than 80. What the reference host allows: docs/wall-clock.md, "Resolution".
RESOLVE_TRIPLES = {"minimal": 80, "autoencoder": 160}


def resolve_triples(workload: str, smoke: bool) -> int:
    if smoke:
        return 3
    return int(os.environ.get("PAIRED_RESOLVE_TRIPLES", RESOLVE_TRIPLES[workload]))


def base_config(workload: str, device: str, precision: str, **overrides) -> RunConfig:
    """All Trainer features at their defaults except the progress bar, which is measured on its own."""
    extra = {"dataset": "synthetic"} if workload == "autoencoder" else {}
    return RunConfig.for_workload(
        workload, device=device, precision=precision, **{"progress_bar": False, **extra, **overrides}
    )


def case(workload: str, device: str, precision: str, smoke: bool, **overrides) -> tuple[RunConfig, list[int]]:
    lengths = SMOKE if smoke else LENGTHS[workload]
    cfg = base_config(workload, device, precision, epochs=lengths["epochs"], **overrides)
    return cfg, list(lengths["limits"])


def rounds_for(device: str, precision: str, smoke: bool) -> int:
    """The 32-true CPU cases are the headline overhead: they get the most rounds (the ±10 µs question
    itself is `nox -s resolve`'s, see RESOLVE_TRIPLES)."""
    if smoke:
        return 1
    return ROUNDS if (device, precision) == ("cpu", "32-true") else FEW_ROUNDS


MATRIX = [(w, d, p) for d in DEVICES for w in WORKLOADS for p in PRECISIONS]


def case_id(workload: str, device: str, precision: str) -> str:
    return f"{workload}-{device}-{precision}"
