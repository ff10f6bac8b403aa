"""Saved runs: results/<machine>/<interpreter id>/NNNN_<name>.json, numbered in the order they were saved.

Two formats, each where it belongs:
  * pytest-benchmark's own JSON, for what pytest-benchmark measures (`nox -s bench`, `bench_gpu`, `resolve`):
    pytest writes it with `--benchmark-json`, and `save_pytest_run` files it under the next number, whole or
    not at all (a run that did not finish is refused);
  * the instruments' own small schema (`nox -s instructions`, `bench_ddp`, and the probe and release runs to
    come): {"schema": "paired-run", "schema_version": 1, "kind", "tool", "datetime", "commit_info",
    "machine_info", "result"}.
Runs saved before the schema (an instrument's result in pytest-benchmark's shape: one entry named after its
kind, the result in its extra_info) are read as they are. A run's kinds come from its parsed JSON, never from
a search of its text. A file that is not a complete run is named and passed over, and never hides the run
before it.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

SCHEMA, SCHEMA_VERSION = "paired-run", 1
RUN_GLOB = "[0-9][0-9][0-9][0-9]_*.json"


class NotARun(ValueError):
    """A file that is not a complete saved run (broken JSON, or neither format)."""


def _check(data) -> dict:
    if not isinstance(data, dict):
        raise NotARun("not a JSON object")
    if data.get("schema") == SCHEMA:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise NotARun(f"schema_version {data.get('schema_version')!r}; this reader knows {SCHEMA_VERSION}")
        missing = [k for k in ("kind", "machine_info", "result") if k not in data]
        if missing:
            raise NotARun(f"no {', '.join(map(repr, missing))} key")
        return data
    if "benchmarks" not in data or "machine_info" not in data:
        raise NotARun("no 'benchmarks' or 'machine_info' key")
    if data.get("incomplete"):
        raise NotARun("the pytest session that wrote it did not finish")
    return data


def read(path: Path) -> dict:
    """The saved run at `path`, parsed and checked; NotARun if it is not one."""
    try:
        return _check(json.loads(path.read_text()))
    except OSError as e:
        raise NotARun(e.strerror or str(e)) from None
    except json.JSONDecodeError as e:
        raise NotARun(str(e)) from None


@lru_cache(maxsize=512)
def _kinds_of_file(path: Path, stamp: tuple[int, int]) -> frozenset[str]:
    """The kinds a file holds, while it is unchanged (the report looks for several kinds in one folder)."""
    return frozenset(kinds(read(path)))


def kinds_of(path: Path) -> frozenset[str]:
    try:
        stat = path.stat()
    except OSError as e:
        raise NotARun(e.strerror or str(e)) from None
    return _kinds_of_file(path, (stat.st_mtime_ns, stat.st_size))


def say_skipping(path: Path, reason: Exception) -> None:
    print(f"report: skipping {path}: not a complete saved run ({reason})", file=sys.stderr)


def load_run(path: Path, say_skipped: bool = True) -> dict | None:
    """The saved run, or None with one line naming the file where it is not one."""
    try:
        return read(path)
    except NotARun as e:
        if say_skipped:
            say_skipping(path, e)
        return None


def session_of(data: dict) -> str | None:
    """The session a run is a part of (`nox -s bench_gpu` saves each of its parts as it ends), or None."""
    return (data.get("machine_info", {}).get("paired") or {}).get("session")


def load_session(path: Path, say_skipped: bool = True) -> dict | None:
    """The saved run at `path`; where it is one part of a session, the session: every part of it saved in the same
    folder, their entries together (each with "saved_in": its file's name), with "parts" ({part: file name}) and
    "parts_missing" (the parts the session meant to run and did not save: it was cut, or a part failed)."""
    data = load_run(path, say_skipped)
    session = session_of(data) if data is not None else None
    if session is None:
        return data
    parts, merged = {}, []
    for other, _ in _runs(path.parent, RUN_GLOB, say_skipped=False):
        part = load_run(other, say_skipped=False)
        if part is not None and session_of(part) == session:
            parts[part["machine_info"]["paired"].get("part") or other.stem[5:]] = other.name
            merged += [{**b, "saved_in": other.name} for b in part.get("benchmarks", [])]
    planned = data["machine_info"]["paired"].get("parts") or list(parts)
    return {**data, "benchmarks": merged, "parts": parts, "parts_missing": [p for p in planned if p not in parts]}


def first_parts(folder: Path) -> list[Path]:
    """Each complete run of a folder once, in saved order: a session saved in parts by its first part's file."""
    seen, out = set(), []
    for path, _ in _runs(folder, RUN_GLOB, say_skipped=False):
        data = load_run(path, say_skipped=False)
        session = session_of(data) if data is not None else None
        if session is None or session not in seen:
            seen.add(session)
            out.append(path)
    return out


def is_instrument_run(data: dict) -> bool:
    return data.get("schema") == SCHEMA


def kinds(data: dict) -> set[str]:
    """What a run holds: its kind (the schema), or the kinds of its entries (pytest-benchmark's JSON)."""
    if is_instrument_run(data):
        return {data["kind"]}
    return {b.get("extra_info", {}).get("kind") for b in data["benchmarks"]} - {None}


def entries(data: dict, kind: str) -> list[dict]:
    """The extra_info of a pytest-benchmark run's entries of one kind (none for an instrument's run)."""
    return [b["extra_info"] for b in data.get("benchmarks", []) if b.get("extra_info", {}).get("kind") == kind]


def result(data: dict) -> dict:
    """An instrument's result, from either format (a run from before the schema: its one entry's extra_info)."""
    if is_instrument_run(data):
        return data["result"]
    return data["benchmarks"][0]["extra_info"]


def _runs(folder: Path, pattern: str, say_skipped: bool):
    """(path, kinds) of each complete run, in saved order; broken ones named (if asked) and passed over."""
    for path in sorted(folder.glob(pattern)):
        try:
            yield path, kinds_of(path)
        except NotARun as e:
            if say_skipped:
                say_skipping(path, e)


def newest_runs(results: Path) -> list[Path]:
    """The newest full run in each machine folder (results/<machine>/<interpreter id>/NNNN_*.json).

    A run is full when it holds the step-cost protocol; partial runs (a regression check with -k, say)
    are passed over here but can be named on the command line.
    """
    newest, fallback = {}, {}
    for path, found in _runs(results, f"*/*/{RUN_GLOB}", say_skipped=True):
        fallback[path.parent] = path
        if "step_cost" in found:
            newest[path.parent] = path
    return [newest.get(folder, path) for folder, path in fallback.items()]


def newest_of_kind(folder: Path, kind: str) -> Path | None:
    """The newest saved run in a machine folder holding a kind (`resolve`, `instructions`, `ddp`), if any
    (newest_runs already named the broken files)."""
    found = None
    for path, held in _runs(folder, RUN_GLOB, say_skipped=False):
        if kind in held:
            found = path
    return found


def commit_info() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    return {"id": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _next_target(results: Path, device: str, name: str) -> Path:
    from benchmarks.store.machine import machine_id, machine_name

    folder = results / machine_name(device) / machine_id()
    numbers = [int(p.name[:4]) for p in folder.glob(RUN_GLOB)] if folder.exists() else []
    target = folder / f"{max(numbers, default=0) + 1:04d}_{name}.json"
    if target.exists():
        raise FileExistsError(f"{target}: already there; a saved run is never overwritten")
    return target


def _write(target: Path, text: str) -> Path:
    from raw_torch.common.files import atomic_write

    with atomic_write(target) as tmp:  # whole or not at all
        tmp.write_text(text)
    return target


def save(results: Path, kind: str, tool: str, machine_info: dict, result: dict) -> Path:
    """An instrument's run in the schema, as results/<machine>/<id>/NNNN_<kind>.json with the next free number
    (CPU machine folder); never overwrites."""
    payload = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "tool": tool,
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "commit_info": commit_info(),
        "machine_info": machine_info,
        "result": result,
    }
    return _write(_next_target(results, "cpu", kind), json.dumps(payload, indent=1) + "\n")


def save_pytest_run(run_json: Path, results: Path, name: str, device: str) -> Path:
    """File pytest-benchmark's `--benchmark-json` output as results/<machine>/<id>/NNNN_<name>.json, the same
    bytes, with the next free number; refused (NotARun) unless the pytest session that wrote it finished."""
    text = run_json.read_text()
    try:
        data = _check(json.loads(text))
    except json.JSONDecodeError as e:
        raise NotARun(str(e)) from None
    if is_instrument_run(data) or not data["benchmarks"]:
        raise NotARun("no benchmark in it")
    return _write(_next_target(results, device, name), text)
