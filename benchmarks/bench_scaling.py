"""Does Lightning's per-step overhead fade as the model grows? Autoencoder, synthetic data.

CPU, 32-true: two sweeps from the default (hidden 64, batch 32): hidden width up to 4096 at batch 32, and
batch size up to 1024 at hidden 64. Heavier points run fewer, longer-per-step lengths so each case stays
near a minute; their intervals are wider, and the report shows them.

CUDA (`test_scaling_gpu`, in `nox -s bench_gpu`): eight points from hidden 64 to 16384 and batch 32 to 1024,
32-true and bf16-mixed, on the on-device input path (`--data-on-device`), so that the raw step is the GPU's
work and not the DataLoader's; raw, Lightning and the floor, so the report can show how close raw comes to
the floor; one checkpoint per run, at its end. The points start from the H200 probe of 2026-11-30
(docs/gpu.md); part "sweep" of `nox -s bench_gpu`.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.cases import FEW_ROUNDS, base_config
from benchmarks.clock import harness

# (hidden, batch, epochs, limits): synthetic has 5,500 training images
POINTS = [
    (64, 32, 2, [80, 160]),
    (1024, 32, 2, [40, 80]),
    (4096, 32, 1, [20, 40]),
    (64, 512, 5, [5, 10]),
    (64, 1024, 5, [3, 5]),
]


@pytest.mark.parametrize("hidden, batch, epochs, limits", POINTS, ids=[f"h{h}-b{b}" for h, b, _, _ in POINTS])
def test_scaling(benchmark, smoke, hidden, batch, epochs, limits):
    if smoke:
        epochs, limits = 1, [2, 3]
    cfg = base_config("autoencoder", "cpu", "32-true", hidden=hidden, batch_size=batch, epochs=epochs)
    rounds = 1 if smoke else FEW_ROUNDS
    benchmark.group = "protocol (wall time of the whole protocol)"
    result = benchmark.pedantic(harness.protocol, args=(cfg, limits, rounds, ("raw", "lightning")), rounds=1)
    benchmark.extra_info.update(
        kind="scaling", hidden=hidden, limits=limits, rounds=rounds, config=cfg.as_dict(), **result
    )
    assert "overhead" in result


# (hidden, batch, precision, epochs, limits): 5,500 training images, so 172 batches of 32, 21 of 256, 5 of 1024
GPU_POINTS = [
    (64, 32, "32-true", 1, [20, 40]),
    (1024, 32, "32-true", 1, [20, 40]),
    (4096, 32, "32-true", 1, [20, 40]),
    (4096, 256, "32-true", 2, [10, 20]),
    (4096, 256, "bf16-mixed", 2, [10, 20]),
    (16384, 256, "bf16-mixed", 2, [10, 20]),
    (4096, 1024, "bf16-mixed", 8, [3, 5]),
    (16384, 1024, "bf16-mixed", 8, [3, 5]),
]


@pytest.mark.parametrize(
    "hidden, batch, precision, epochs, limits", GPU_POINTS, ids=[f"cuda-h{h}-b{b}-{p}" for h, b, p, _, _ in GPU_POINTS]
)
def test_scaling_gpu(benchmark, smoke, hidden, batch, precision, epochs, limits):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not (smoke and (hidden, batch, precision) == GPU_POINTS[0][:3]):
        pytest.skip("the GPU sweep needs CUDA (its first point runs on the CPU in smoke mode, for the wiring)")
    if smoke:
        epochs, limits = 1, [2, 3]
    # one checkpoint per run, after the last epoch: the callback's per-step work is the same as with one every
    # epoch (the step clock's intervals are within an epoch), but the widest model writes 197 MiB a checkpoint,
    # and one every epoch would take most of the sweep's time (docs/gpu.md, "The plan")
    cfg = base_config(
        "autoencoder", device, precision, hidden=hidden, batch_size=batch, epochs=epochs, data_on_device=True,
        checkpoint_every=epochs,
    )  # fmt: skip
    rounds = 1 if smoke else FEW_ROUNDS
    benchmark.group = "protocol (wall time of the whole protocol)"
    result = benchmark.pedantic(harness.protocol, args=(cfg, limits, rounds), rounds=1)
    benchmark.extra_info.update(
        kind="scaling_gpu", hidden=hidden, precision=precision, limits=limits, rounds=rounds, config=cfg.as_dict(),
        **result,
    )  # fmt: skip
    assert set(result["step"]) == {"raw", "lightning", "floor"}
