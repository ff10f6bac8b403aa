"""A benchmark session in parts, each one pytest run saved as soon as it ends: what `nox -s bench_gpu` runs.

    python -m benchmarks.store parts [--device cuda] [--only PART,...] [--part NAME:FILE:SELECT ...]
                                     [--results results] [-- PYTEST ARGS]

pytest-benchmark writes its JSON only when its session ends, so a GPU lease that runs out mid-session would keep
nothing. Here each part (by default GPU_PARTS, in the order that keeps the most when a run is cut) is its own
pytest run, filed as results/<machine>/<id>/NNNN_gpu-<part>.json by `store.save` the moment it ends; a run cut
at any point keeps every part before it. The parts of one session carry one id in their machine_info
("paired": session, part, parts), and the report puts them back together and names the parts a session lacks.
A part whose pytest run fails is not saved; the others still run, and the exit code is the first failure's.
Without CUDA (device cuda), each part is skipped with that reason, and nothing is saved.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from raw_torch.common.cli import Parser
from raw_torch.common.errors import UsageError

# (name, test file, -k selection): the step cases, the on-device cases, the sweep, peak memory. The plan, case by
# case from the H200's measured times: `python -m benchmarks.clock.gpu_plan` (docs/gpu.md, "The plan").
GPU_PARTS = (
    ("steps", "benchmarks/bench_steps.py", "test_step_cost and cuda and not data_on_device"),
    ("device", "benchmarks/bench_steps.py", "test_step_cost_data_on_device and cuda"),
    ("sweep", "benchmarks/bench_scaling.py", "test_scaling_gpu"),
    ("memory", "benchmarks/bench_startup.py", "test_peak_memory and cuda"),
)
PREFIX = {"cuda": "gpu", "cpu": "cpu"}  # a part's saved name: NNNN_gpu-steps.json
PYTEST_BENCH = ["--benchmark-columns=min,median,iqr,stddev,rounds", "--benchmark-sort=name"]


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.store parts", description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda", help="the machine folder (default cuda)")
    ap.add_argument("--only", default="", metavar="PART,...", help="these parts only, in the session's order")
    ap.add_argument(
        "--part", action="append", default=[], metavar="NAME:FILE:SELECT",
        help="a part of your own instead of the GPU parts (repeatable): a name, a test file, a -k selection",
    )  # fmt: skip
    ap.add_argument("--results", type=Path, default=Path("results"), metavar="DIR", help="default results/")
    ap.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARGS", help="after --: passed to each part's pytest")
    return ap


def parse_parts(specs: list[str], only: str) -> list[tuple[str, str, str]]:
    parts = list(GPU_PARTS)
    if specs:
        parts = []
        for spec in specs:
            name, _, rest = spec.partition(":")
            path, _, select = rest.partition(":")
            if not (name.isidentifier() and path and select):
                raise UsageError(f"--part {spec}: expected NAME:FILE:SELECT, say steps:benchmarks/bench_steps.py:cuda")
            if not Path(path).is_file():
                raise UsageError(f"--part {spec}: {path}: no such file")
            parts.append((name, path, select))
    names = [name for name, _, _ in parts]
    chosen = [n for n in only.split(",") if n]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise UsageError(f"--only {only}: no part {', '.join(unknown)} (the parts: {', '.join(names)})")
    return [p for p in parts if not chosen or p[0] in chosen]


def machine_or_none(device: str) -> str | None:
    """The results/ folder of this machine; None for cuda where there is no CUDA device (nothing to save)."""
    import torch

    from benchmarks.store.machine import machine_name

    if device == "cuda" and not torch.cuda.is_available():
        return None
    return machine_name(device)


def run_parts(parts, device: str, results: Path, pytest_args: list[str]) -> int:
    from benchmarks.store.runs import NotARun, save_pytest_run

    machine = machine_or_none(device)
    if machine is None:  # every case of these parts needs CUDA: pytest would only skip them one by one
        for name, _, _ in parts:
            print(f"parts: {name}: skipped (no CUDA device on this machine: nothing measured, nothing saved)")
        return 0
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {**os.environ, "PAIRED_BENCH_SESSION": f"parts {stamp}", "PAIRED_BENCH_PARTS": ",".join(p[0] for p in parts)}
    status, times = 0, []
    with tempfile.TemporaryDirectory(prefix="paired-parts-") as tmp:
        for name, path, select in parts:
            start = time.monotonic()
            run_json = Path(tmp) / f"{name}.json"
            store = [f"--benchmark-storage=file://{results}/{machine}", f"--benchmark-json={run_json}"]
            cmd = [sys.executable, "-m", "pytest", path, "-k", select, "-m", "not resolve", *store, *PYTEST_BENCH,
                   *pytest_args]  # fmt: skip
            print(f"parts: {name}: {' '.join(cmd)}", flush=True)
            done = subprocess.run(cmd, env={**env, "PAIRED_BENCH_PART": name})
            if done.returncode not in (0, 5):  # 5: pytest selected nothing
                print(f"parts: {name} failed (pytest exit {done.returncode}): not saved; going on", flush=True)
                status = status or done.returncode
            elif run_json.is_file():
                try:
                    saved = save_pytest_run(run_json, results, f"{PREFIX[device]}-{name}", device)
                    print(f"parts: {name} saved {saved}")
                except NotARun as e:
                    print(f"parts: {name}: not saved: {e}")
            took = f"{time.monotonic() - start:.0f} s"
            times.append(f"{name} {took}")
            print(f"parts: {name} took {took}", flush=True)
    print(f"parts: done ({', '.join(times)})")
    return status


OWNED = ("--benchmark-json", "--benchmark-storage", "--benchmark-save", "--benchmark-autosave")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    parts = parse_parts(args.part, args.only)
    for arg in args.pytest_args:
        if arg.split("=")[0] in OWNED:
            raise UsageError(f"PYTEST_ARGS {arg}: the parts runner saves each part itself (results/, one file a part)")
        if arg.startswith("-k"):
            names = ", ".join(name for name, _, _ in parts)
            raise UsageError(f"PYTEST_ARGS {arg}: each part has its own -k; choose parts by name ({names})")
    if args.results.exists() and not args.results.is_dir():
        raise UsageError(f"--results {args.results}: is a file, not a folder")
    return run_parts(parts, args.device, args.results, args.pytest_args)
