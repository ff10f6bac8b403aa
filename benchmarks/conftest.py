"""Benchmark settings: fixed thread count, versions in machine_info, smoke mode, safe saving.

Saved runs are never lost or left half-written: pytest-benchmark's file storage writes in place, so its
save is replaced by write-then-rename, and a run interrupted with Ctrl-C (or stopped by -x) saves
nothing at all instead of a partial run under the next number.

Ctrl-C during a Lightning fit needs help: Lightning catches the KeyboardInterrupt, ignores SIGINT from
then on and calls sys.exit(1), which pytest records as one failed benchmark before going on with the
rest of the matrix. The SIGINT handler below notes the interrupt, and the session stops after that test.
"""

from __future__ import annotations

import logging
import signal
import sys
import warnings

import pytest
import torch
from pytest_benchmark.storage.file import FileStorage
from pytest_benchmark.utils import safe_dumps

from benchmarks.cases import ROUNDS, THREADS
from benchmarks.store.machine import versions
from raw_torch.common.files import atomic_write


def _atomic_save(storage: FileStorage):
    def save(output_json: dict, save: str) -> None:
        target = storage.get(f"{storage._next_num}_{save}.json")  # pytest-benchmark's own numbering
        if target.exists():
            raise FileExistsError(f"{target}: already there; a saved run is never overwritten")
        with atomic_write(target) as tmp:
            tmp.write_bytes(safe_dumps(output_json, ensure_ascii=True, indent=4).encode())
        storage.logger.info(f"Saved benchmark data in: {target}")

    return save


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
    session = getattr(config, "_benchmarksession", None)
    if session is not None and isinstance(session.storage, FileStorage):
        session.storage.save = _atomic_save(session.storage)
    torch.set_num_threads(THREADS)
    # Lightning's info lines and tips would fill the log; they are still produced, only not shown.
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # before pytest-benchmark's own sessionfinish saves
def pytest_sessionfinish(session, exitstatus):
    bench = getattr(session.config, "_benchmarksession", None)
    incomplete = exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or _interrupted
    if bench is not None and incomplete and (bench.save or bench.autosave or bench.json):
        bench.save = bench.autosave = bench.json = None
        print("\nbenchmarks: run interrupted, nothing saved; earlier saved runs are untouched", file=sys.stderr)
    yield


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["paired"] = versions()
    machine_info["paired"]["bench_rounds"] = ROUNDS


@pytest.fixture
def smoke(benchmark) -> bool:
    """True under --benchmark-disable (nox -s tests): every benchmark runs once, tiny, to stay runnable."""
    return bool(getattr(benchmark, "disabled", False))
