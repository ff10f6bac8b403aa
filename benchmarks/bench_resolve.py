"""Lightning's CPU 32-true per-step overhead, resolved as finely as the host allows: `nox -s resolve` (~14 min).

Not part of `nox -s bench` (marker `resolve`): it is the same question as test_step_cost asked with
about ten times the runs and a finer estimator (harness.resolve and stats.analyse_resolve: the 10th
percentile per step position over (raw, Lightning, raw) triples, a drift-aware and a bootstrap interval,
and an A/A control). `nox -s tests` still runs it once, tiny, so it stays runnable.
"""

from __future__ import annotations

import pytest

from benchmarks.cases import WORKLOADS, case, case_id, resolve_triples
from benchmarks.clock import harness
from raw_torch.common.config import dataset_name


@pytest.mark.resolve
@pytest.mark.parametrize("workload", WORKLOADS)
def test_resolve(benchmark, smoke, workload):
    cfg, limits = case(workload, "cpu", "32-true", smoke)
    cfg = cfg.replace(limit_train_batches=6 if smoke else max(limits))  # smoke: 3 intervals left after warm-up
    triples = resolve_triples(workload, smoke)
    benchmark.group = "resolve (wall time of the whole protocol)"
    result = benchmark.pedantic(harness.resolve, args=(cfg, triples), rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="resolve",
        case=case_id(workload, "cpu", "32-true"),
        workload=workload,
        dataset=dataset_name(cfg),
        steps_per_run=cfg.epochs * cfg.limit_train_batches,
        config=cfg.as_dict(),
        **result,
    )
    assert result["triples"] == triples and result["positions"] > 0
