"""Saved runs: results/<machine>/<pytest-benchmark id>/NNNN_<name>.json. Finding the newest of each kind (a file
that is not complete JSON is named and passed over, and never hides the run before it), and saving the runs that
pytest-benchmark does not save itself (`nox -s instructions`, `nox -s bench_ddp`) under the next free number."""

from __future__ import annotations

import json
import subprocess
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


def commit_info() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    return {"id": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def save(results: Path, kind: str, version: str, machine_info: dict, extra_info: dict) -> Path:
    """One measurement as a saved run, in pytest-benchmark's shape (one entry named `kind`, its numbers in
    extra_info), as results/<machine>/<id>/NNNN_<kind>.json with the next free number (CPU machine folder);
    never overwrites."""
    import datetime

    from benchmarks.store.machine import machine_id, machine_name
    from raw_torch.common.files import atomic_write

    payload = {
        "machine_info": machine_info,
        "commit_info": commit_info(),
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": version,
        "benchmarks": [{"name": kind, "group": kind, "extra_info": {"kind": kind, **extra_info}}],
    }

    folder = results / machine_name("cpu") / machine_id()
    numbers = [int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9]_*.json")] if folder.exists() else []
    target = folder / f"{max(numbers, default=0) + 1:04d}_{kind}.json"
    if target.exists():
        raise FileExistsError(f"{target}: already there; a saved run is never overwritten")
    with atomic_write(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    return target
