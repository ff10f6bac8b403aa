"""Equivalence under random configurations: hypothesis draws small runs, both sides must agree bitwise.

EXAMPLES configurations per CI run (env PAIRED_HYPOTHESIS_EXAMPLES to change it), derandomized: every CI
run checks the same ones, and a failure prints the configuration that broke it. About 20 s here (50 examples).
"""

from __future__ import annotations

import math
import os
import tempfile

from conftest import assert_params_equal, run_side
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from raw_torch.common.config import RunConfig
from raw_torch.common.data import least_share
from raw_torch.common.errors import NonFiniteLoss, UsageError

EXAMPLES = int(os.environ.get("PAIRED_HYPOTHESIS_EXAMPLES", "50"))


def limit(draw, samples: int, batch_size: int, most: int, least: int = 1) -> int | float:
    """A batch limit: a count, or (half the time) a share whose rounding down (Lightning's rule) leaves
    `least` to `most` batches: hypothesis probes the float edges of int(len(loader) * share)."""
    if draw(st.booleans()):
        return draw(st.integers(least, most))
    n = math.ceil(samples / batch_size)
    return draw(st.floats(min_value=least * least_share(n), max_value=min(1.0, (most + 0.99) / n)))


@st.composite
def configs(draw) -> RunConfig:
    workload = draw(st.sampled_from(["minimal", "autoencoder"]))
    batch_size = draw(st.integers(1, 64))
    train_samples, val_samples = (400, 400) if workload == "minimal" else (5500, 500)  # synthetic: 6,000 split 11:1
    common = dict(
        seed=draw(st.integers(0, 2**31 - 1)),
        batch_size=batch_size,
        lr=draw(st.sampled_from([1e-4, 3e-4, 1e-3, 1e-2, 0.1])),
        weight_decay=draw(st.sampled_from([0.0, 0.01])),
        precision=draw(st.sampled_from(["32-true", "bf16-mixed", "16-mixed"])),
        epochs=draw(st.integers(1, 3)),
        limit_train_batches=limit(draw, train_samples, batch_size, 6),
        limit_val_batches=limit(draw, val_samples, batch_size, 3),
        sanity_check=draw(st.booleans()),
        log_every_n_steps=draw(st.integers(1, 5)),
        device="cpu",
        progress_bar=False,
    )
    if workload == "minimal":
        extra = dict(solver=draw(st.sampled_from(["adam", "adam", "lstsq"])))
    else:
        extra = dict(dataset="synthetic", hidden=draw(st.integers(1, 128)))
    return RunConfig.for_workload(workload, **common, **extra)


def outcome(impl: str, cfg: RunConfig):
    try:
        return run_side(impl, cfg)
    except (NonFiniteLoss, UsageError) as e:  # a share that leaves no batch is refused, by both sides alike
        return str(e)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cfg=configs())
def test_random_configurations_are_bitwise_equal(cfg):
    note(repr(cfg))
    with tempfile.TemporaryDirectory() as root:
        raw, lit = (outcome(impl, cfg.replace(out=f"{root}/{impl}")) for impl in ("raw", "lightning"))
    if isinstance(raw, str) or isinstance(lit, str):  # a diverged run: both sides stop at the same step
        assert raw == lit
        return
    assert raw.train_loss == lit.train_loss
    assert raw.val_loss == lit.val_loss
    assert raw.test_loss == lit.test_loss
    assert raw.skipped_steps == lit.skipped_steps
    assert raw.params_sha256 == lit.params_sha256
    assert_params_equal(raw.model, lit.model)
