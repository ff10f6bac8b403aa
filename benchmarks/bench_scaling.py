"""Does Lightning's per-step overhead fade as the model grows? Autoencoder, CPU, 32-true, synthetic data.

Two sweeps from the default (hidden 64, batch 32): hidden width up to 4096 at batch 32, and batch size
up to 1024 at hidden 64. Heavier points run fewer, longer-per-step lengths so each case stays near a
minute; their intervals are wider, and the report shows them.
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from benchmarks.cases import FEW_ROUNDS, base_config

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
