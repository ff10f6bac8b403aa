"""What each Trainer feature costs, against the raw loop with its hand-written counterpart switched on.

Autoencoder, CPU, 32-true, synthetic data. "barebones" switches every optional feature off on both
sides (progress bar, TensorBoard logger, checkpoints, model summary, sanity check); each following row
adds one feature alone; "default" has them all on. Lightning's `Trainer(barebones=True)` is not used:
it forbids the `self.log` calls the modules report their losses with. The raw loop has no model
summary, so that row measures Lightning's summary against an unchanged raw loop.
"""

from __future__ import annotations

import pytest

from benchmarks.cases import FEATURES_OFF as OFF
from benchmarks.cases import FEATURES_ON, FEW_ROUNDS, case
from benchmarks.clock import harness

FEATURES = {
    "barebones": {},
    "progress_bar": dict(progress_bar=True),
    "logger": dict(logger=True),
    "checkpoint": dict(checkpoint_every=1),
    "model_summary": dict(model_summary=True),
    "sanity_check": dict(sanity_check=True),
    "default": FEATURES_ON,
}


@pytest.mark.parametrize("feature", FEATURES)
def test_feature_cost(benchmark, smoke, feature):
    cfg, limits = case("autoencoder", "cpu", "32-true", smoke, **{**OFF, **FEATURES[feature]})
    rounds = 1 if smoke else FEW_ROUNDS
    benchmark.group = "protocol (wall time of the whole protocol)"
    result = benchmark.pedantic(harness.protocol, args=(cfg, limits, rounds, ("raw", "lightning")), rounds=1)
    benchmark.extra_info.update(
        kind="feature",
        feature=feature,
        case="autoencoder-cpu-32-true",
        limits=limits,
        rounds=rounds,
        config=cfg.as_dict(),
        **result,
    )
    assert "overhead" in result
