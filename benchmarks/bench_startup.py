"""Start-up and memory: imports, Trainer construction, a one-step run, peak memory of a fresh process."""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from benchmarks.cases import MATRIX, base_config, case_id, need_device
from benchmarks.clock import harness
from raw_torch.common.config import phases
from with_lightning.trainer import History, make_trainer


def test_imports(benchmark, smoke):
    """`import torch`, then `import pytorch_lightning` on top, timed inside a fresh interpreter each round."""
    samples = []

    def probe():
        samples.append(harness.time_imports())

    benchmark.group = "start-up: fresh interpreter (python -c 'import torch, pytorch_lightning')"
    benchmark.pedantic(probe, rounds=1 if smoke else 7, warmup_rounds=0 if smoke else 1)
    benchmark.extra_info.update(kind="imports", torch_s=[t for t, _ in samples], lightning_s=[lt for _, lt in samples])


def test_trainer_construction(benchmark, smoke):
    with tempfile.TemporaryDirectory() as root:
        (phase,) = phases(base_config("autoencoder", "cpu", "32-true", out=root))
        benchmark.group = "start-up: Trainer construction (the default Trainer of the autoencoder)"
        benchmark.extra_info.update(kind="trainer_construction")
        benchmark.pedantic(
            lambda: make_trainer(phase, History()),
            rounds=1 if smoke else 20,
            warmup_rounds=0 if smoke else 2,
        )


@pytest.mark.parametrize("impl", harness.IMPLS)
@pytest.mark.parametrize("workload", ["minimal", "autoencoder"])
def test_one_step_run(benchmark, smoke, workload, impl):
    """A whole run that trains exactly one step (set-up, sanity check, one step, validation, test)."""
    cfg = base_config(workload, "cpu", "32-true", epochs=1, limit_train_batches=1)
    module = harness.run_module(impl, workload)
    with tempfile.TemporaryDirectory() as root:
        runs = itertools.count()
        benchmark.group = f"start-up: a run of one step ({workload}, cpu, 32-true)"
        benchmark.extra_info.update(kind="one_step", workload=workload, impl=impl)
        benchmark.pedantic(
            lambda: module.run(cfg.replace(out=str(Path(root) / str(next(runs))))),
            rounds=1 if smoke else 10,
            warmup_rounds=0 if smoke else 1,
        )


MEMORY_CASES = [c for c in MATRIX if c[1] == "cuda" or c[2] == "32-true"]


@pytest.mark.parametrize("impl", harness.IMPLS)
@pytest.mark.parametrize("workload, device, precision", MEMORY_CASES, ids=[case_id(*c) for c in MEMORY_CASES])
def test_peak_memory(benchmark, smoke, workload, device, precision, impl):
    """CPU: peak RSS of a fresh process running the side's command. CUDA: torch.cuda.max_memory_allocated."""
    need_device(device)
    cfg = base_config(workload, device, precision, epochs=1, limit_train_batches=2 if smoke else 50)
    benchmark.group = f"memory: {case_id(workload, device, precision)} (time of the measuring run)"
    result = {}
    with tempfile.TemporaryDirectory() as root:
        if device == "cpu":
            package = "raw_torch" if impl == "raw" else "with_lightning"
            argv = [
                f"{package}.{workload}",
                "--device",
                "cpu",
                "--precision",
                precision,
                "--epochs",
                "1",
                "--limit-train-batches",
                str(cfg.limit_train_batches),
                "--no-progress-bar",
                "--out",
                root,
            ]
            if workload == "autoencoder":
                argv += ["--dataset", "synthetic"]

            def target():
                result["peak_rss_mb"] = harness.peak_rss_mb(argv)
        else:
            module = harness.run_module(impl, workload)

            def target():
                torch.cuda.reset_peak_memory_stats()
                module.run(cfg.replace(out=root))
                torch.cuda.synchronize()
                result["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20

        benchmark.pedantic(target, rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="memory", case=case_id(workload, device, precision), impl=impl, python=sys.version.split()[0], **result
    )
    assert result
