"""Per-step and fixed cost of raw PyTorch, Lightning and the floor, for every case of the matrix.

test_step_cost  the paired interleaved protocol (benchmarks/clock/harness.py): per-step time (step clock), fixed
                cost (t(n) = a + b*n) and Lightning's overhead, with 95% confidence intervals, stored in
                extra_info. pytest-benchmark's own number for it is the wall time of the whole protocol.
test_fit        pytest-benchmark's native measurement: one whole run at the longest length, per
                implementation, grouped per case (raw, lightning and floor side by side); these are the
                entries `--benchmark-compare-fail` checks for regressions.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest

from benchmarks.cases import MATRIX, case, case_id, need_device, rounds_for
from benchmarks.clock import harness
from raw_torch.common.config import PRECISIONS, WORKLOADS, dataset_name, resolve_device

IDS = [case_id(*c) for c in MATRIX]


def measure_step_cost(benchmark, smoke, workload, device, precision, suffix: str = "", **overrides) -> None:
    """One step-cost case: the paired protocol, its estimates into extra_info (`suffix` and `overrides` name
    and set a variant of the case, such as the on-device input path)."""
    cfg, limits = case(workload, device, precision, smoke, **overrides)
    rounds = rounds_for(device, precision, smoke)
    benchmark.group = "protocol (wall time of the whole protocol)"
    result = benchmark.pedantic(harness.protocol, args=(cfg, limits, rounds), rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="step_cost",
        case=case_id(workload, device, precision) + suffix,
        workload=workload,
        device=device,
        precision=precision,
        dataset=dataset_name(cfg),
        **overrides,
        limits=limits,
        rounds=rounds,
        config=cfg.as_dict(),
        **result,
    )
    assert set(result["step"]) == {"raw", "lightning", "floor"}


@pytest.mark.parametrize("workload, device, precision", MATRIX, ids=IDS)
def test_step_cost(benchmark, smoke, workload, device, precision):
    need_device(device)
    measure_step_cost(benchmark, smoke, workload, device, precision)


# The on-device input path (--data-on-device): measured on CUDA, where the plain path's per-sample indexing,
# collation and pageable copies can bound the step; on the CPU the data is in memory on both paths, so the CPU
# case runs in smoke mode only (the wiring, in `nox -s tests`).
DEVICE_DATA = [(w, "cuda", p) for w in WORKLOADS for p in PRECISIONS] + [(w, "cpu", "32-true") for w in WORKLOADS]


@pytest.mark.parametrize(
    "workload, device, precision", DEVICE_DATA, ids=[f"{case_id(*c)}-data-on-device" for c in DEVICE_DATA]
)
def test_step_cost_data_on_device(benchmark, smoke, workload, device, precision):
    need_device(device)
    if device == "cpu" and not smoke:
        pytest.skip("the on-device input path is measured on CUDA (on the CPU both paths read memory)")
    measure_step_cost(benchmark, smoke, workload, device, precision, "-data-on-device", data_on_device=True)


@pytest.mark.parametrize("impl", ["raw", "lightning", "floor"])
@pytest.mark.parametrize("workload, device, precision", MATRIX, ids=IDS)
def test_fit(benchmark, smoke, workload, device, precision, impl):
    need_device(device)
    cfg, limits = case(workload, device, precision, smoke)
    cfg = cfg.replace(limit_train_batches=max(limits))
    dev = resolve_device(device)
    benchmark.group = f"fit {case_id(workload, device, precision)} ({cfg.epochs * max(limits)} steps)"
    benchmark.extra_info.update(
        kind="fit",
        case=case_id(workload, device, precision),
        impl=impl,
        steps=cfg.epochs * max(limits),
        config=cfg.as_dict(),
    )
    rounds, warmup = (1, 0) if smoke else (3, 1)
    if impl == "floor":  # set-up (data on the device, model) untimed, then the step loop alone
        benchmark.pedantic(
            lambda steps: steps(),
            setup=lambda: ((harness.prepare_floor(cfg),), {}),
            rounds=rounds,
            warmup_rounds=warmup,
        )
        return
    module = harness.run_module(impl, workload)
    with tempfile.TemporaryDirectory() as root:
        runs = itertools.count()

        def target():
            module.run(cfg.replace(out=str(Path(root) / str(next(runs)))))
            harness.sync(dev)

        benchmark.pedantic(target, rounds=rounds, warmup_rounds=warmup, iterations=1)
