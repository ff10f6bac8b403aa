"""The valgrind processes of `nox -s instructions`: how they are started (callgrind, no address-space
randomization, the same .pyc files), which cases each one measures, and what runs inside them."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def split(items: list[dict], workers: int = 2) -> list[list[int]]:
    """Item indices per valgrind process: the `both` items in every process, the rest dealt out in turn."""
    shared = [i for i, it in enumerate(items) if it["both"]]
    rest = [i for i, it in enumerate(items) if not it["both"]]
    return [shared + rest[k::workers] for k in range(workers)]


# --- inside valgrind ----------------------------------------------------------------------------------


def worker(plan_file: Path, job_file: Path) -> None:
    """Run the job's items one after the other; callgrind writes one dump per window, in manifest order.
    The job comes in a file, not on the command line, so both processes start with the same arguments
    (byte for byte but one digit): their heaps then evolve alike, and so do object ids and the hashes
    built on them."""
    import torch

    from benchmarks.instructions.counting import callgrind_counter, run_windows

    torch.set_num_threads(1)
    items = json.loads(plan_file.read_text())
    job = json.loads(job_file.read_text())
    indices, manifest_file = job["indices"], Path(job["manifest"])
    manifest: list = []
    for i in indices:
        start, stop = callgrind_counter(manifest)
        before = len(manifest)
        run_windows(items[i], start, stop)
        for entry in manifest[before:]:
            entry.insert(0, i)  # [item, a, b]
    manifest_file.write_text(json.dumps(manifest))


def no_aslr() -> list[str]:
    """`setarch <arch> -R`: address-space randomization off for the valgrind processes. With it on, two
    processes running the same cases differ by up to 0.25%, all of it in glibc's malloc and memset, whose
    paths depend on where the heap and stack land; with it off they agree to a few parts in 100,000."""
    if shutil.which("setarch") is None:
        return []
    return ["setarch", platform.machine(), "-R"]


def valgrind_command(out: Path, plan_file: Path, job_file: Path) -> list[str]:
    return [
        *no_aslr(),
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",  # counted only between the toggles (--instr-atstart=no would count nothing)
        f"--callgrind-out-file={out}/cg.%p",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "worker",
        str(plan_file),
        str(job_file),
    ]


def run_valgrind(items: list[dict], work: Path) -> tuple[list[list], list[list[Path]], float]:
    """Run the valgrind processes side by side; (manifests, dump files per process, wall seconds)."""
    import compileall

    root = Path(__file__).resolve().parents[2]
    for package in ("benchmarks", "raw_torch", "with_lightning"):  # the processes then read the same .pyc files,
        compileall.compile_dir(root / package, quiet=1)  # rather than one compiling what the other reads
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(items))
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    t0 = time.time()
    procs = []
    for k, indices in enumerate(split(items)):
        out = work / f"p{k}"
        out.mkdir()
        log = open(work / f"p{k}.log", "w")
        job = work / f"p{k}.job.json"
        job.write_text(json.dumps({"indices": indices, "manifest": str(work / f"p{k}.manifest.json")}))
        cmd = valgrind_command(out, plan_file, job)
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log, out))
    for proc, log, _ in procs:
        proc.wait()
        log.close()
    wall = time.time() - t0
    manifests, dumps = [], []
    for k, (proc, _, out) in enumerate(procs):
        if proc.returncode != 0:
            tail = (work / f"p{k}.log").read_text().strip().splitlines()[-5:]
            raise RuntimeError(f"valgrind process {k} failed ({proc.returncode}): {tail}")
        manifests.append(json.loads((work / f"p{k}.manifest.json").read_text()))
        files = [p for p in out.iterdir() if p.name.count(".") == 2]  # cg.<pid>.<n>: one per dump
        dumps.append(sorted(files, key=lambda p: int(p.name.rsplit(".", 1)[1])))
    return manifests, dumps, wall
