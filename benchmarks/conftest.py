"""Benchmark settings: fixed thread count, versions in machine_info, smoke mode, runs that did not finish marked.

Saved runs are never lost or left half-written: the nox sessions have pytest write `--benchmark-json` to a
temporary file and then file it with `python -m benchmarks.store save` (write-then-rename, the next number).
A session interrupted with Ctrl-C or stopped by -x exits non-zero, so nox files nothing; and its JSON carries
`"incomplete": true` (through pytest-benchmark's public `pytest_benchmark_update_json` hook), which the store
refuses, so it cannot be filed by hand either. Nothing private of pytest-benchmark is patched.

Ctrl-C during a Lightning fit needs help: Lightning catches the KeyboardInterrupt, ignores SIGINT from
then on and calls sys.exit(1), which pytest records as one failed benchmark before going on with the
rest of the matrix. The SIGINT handler below notes the interrupt, and the session stops after that test.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings

import pytest
import torch

from benchmarks.cases import ROUNDS, THREADS
from benchmarks.store.machine import versions

_interrupted = False


def _on_sigint(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield
    if _interrupted:  # Ctrl-C that a Lightning fit swallowed: stop the session as pytest would have
        raise KeyboardInterrupt


@pytest.hookimpl(trylast=True)  # after pytest-benchmark made its session
def pytest_configure(config):
    signal.signal(signal.SIGINT, _on_sigint)
    torch.set_num_threads(THREADS)
    # Lightning's info lines and tips would fill the log; they are still produced, only not shown.
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")


_incomplete = False


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # before pytest-benchmark's own sessionfinish writes its JSON
def pytest_sessionfinish(session, exitstatus):
    global _incomplete
    _incomplete = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop) or _interrupted
    if _incomplete:
        print("\nbenchmarks: run interrupted, nothing saved; earlier saved runs are untouched", file=sys.stderr)
    yield


def pytest_benchmark_update_json(config, benchmarks, output_json):
    if _incomplete:  # `python -m benchmarks.store save` refuses it
        output_json["incomplete"] = True


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["paired"] = versions()
    machine_info["paired"]["bench_rounds"] = ROUNDS
    # a part of a session saved part by part (`nox -s bench_gpu`): the report puts the parts back together
    if os.environ.get("PAIRED_BENCH_SESSION"):
        machine_info["paired"]["session"] = os.environ["PAIRED_BENCH_SESSION"]
        machine_info["paired"]["part"] = os.environ.get("PAIRED_BENCH_PART", "")
        machine_info["paired"]["parts"] = [p for p in os.environ.get("PAIRED_BENCH_PARTS", "").split(",") if p]


@pytest.fixture
def smoke(benchmark) -> bool:
    """True under --benchmark-disable (nox -s tests): every benchmark runs once, tiny, to stay runnable."""
    return bool(getattr(benchmark, "disabled", False))
