"""Benchmark settings: fixed thread count, versions in machine_info, smoke mode."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from benchmarks.cases import ROUNDS, THREADS
from benchmarks.harness import versions


def pytest_configure(config):
    torch.set_num_threads(THREADS)
    # Lightning's info lines and tips would fill the log; they are still produced, only not shown.
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["paired"] = versions()
    machine_info["paired"]["bench_rounds"] = ROUNDS


@pytest.fixture
def smoke(benchmark) -> bool:
    """True under --benchmark-disable (nox -s tests): every benchmark runs once, tiny, to stay runnable."""
    return bool(getattr(benchmark, "disabled", False))
