"""The runner of a release's cases inside valgrind (and in the opcode pass): bridge the release's names, then run
the case as `nox -s instructions` does (instructions/counting.run_windows)."""

from __future__ import annotations


def run_windows(item: dict, start, stop) -> None:
    from benchmarks.instructions import counting
    from benchmarks.releases import bridge

    bridge.apply()  # once per process, before the twin is imported; never inside a window
    counting.run_windows({k: v for k, v in item.items() if k != "runner"}, start, stop)
