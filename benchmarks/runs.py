"""Finding saved runs: results/<machine>/<pytest-benchmark id>/NNNN_<name>.json, the newest of each kind;
a file that is not complete JSON is named and passed over, and never hides the run before it."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load_run(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "benchmarks" not in data or "machine_info" not in data:
            raise ValueError("no 'benchmarks' or 'machine_info' key")
        return data
    except (OSError, ValueError) as e:
        print(f"report: skipping {path}: not a complete pytest-benchmark file ({e})", file=sys.stderr)
        return None


def _complete_runs(paths, say_skipped: bool = True):
    """(path, text) of each file that parses as JSON, in the order given; a broken one is passed over."""
    for path in paths:
        try:
            text = path.read_text()
            json.loads(text)
        except (OSError, ValueError) as e:  # a broken newest file never hides the run before it
            if say_skipped:
                print(f"report: skipping {path}: not a complete pytest-benchmark file ({e})", file=sys.stderr)
            continue
        yield path, text


def newest_runs(results: Path) -> list[Path]:
    """The newest full run in each machine folder (results/<machine>/<pytest-benchmark id>/NNNN_*.json).

    A run is full when it holds the step-cost protocol; partial runs (a regression check with -k, say)
    are passed over here but can be named on the command line.
    """
    newest, fallback = {}, {}
    for path, text in _complete_runs(sorted(results.glob("*/*/[0-9][0-9][0-9][0-9]_*.json"))):  # ascending
        fallback[path.parent] = path
        if '"kind": "step_cost"' in text:
            newest[path.parent] = path
    return [newest.get(folder, path) for folder, path in fallback.items()]


def newest_of_kind(folder: Path, kind: str) -> Path | None:
    """The newest saved run in a machine folder holding entries of one kind (`resolve`, `instructions`), if any
    (newest_runs already named the broken files)."""
    found = None
    for path, text in _complete_runs(sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.json")), say_skipped=False):
        if f'"kind": "{kind}"' in text:
            found = path
    return found
