"""`nox -s releases`: the same pair counted on every minor Lightning release from 2.0 to 2.6, torch fixed.

    python -m benchmarks.releases [--smoke] [--releases 2.0.9,2.6.6] [--ladder-on 2.0.9,2.6.6] [--results results]

Per release (install.py: its own folder, first on PYTHONPATH; the venv itself is never changed):
  * one native process (worker.py): the packages it imports, the bridges it needed (bridge.py), parity of both
    twins in 32-true and bf16-mixed (one epoch of 30 batches each), and the opcode pass that splits Lightning's
    Python work into the parts of `nox -s instructions` (instructions/components.py);
  * one valgrind process: Lightning's instructions per step for both workloads, 32-true, features as benchmarked,
    in the windows of `nox -s instructions`, and on the releases of --ladder-on the feature ladder's Lightning
    rungs (short windows). Two valgrind processes at a time, one per core.
The raw twin and the floor are counted once, in the last release's process: torch is the same throughout.
Instructions become µs with the raw step's instructions per µs, timed natively here. Saved as
results/<machine>/<id>/NNNN_releases.json; `--smoke` (two releases, short windows, no ladder) saves to a
temporary folder.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.instructions.counting import SHORT_WINDOWS, WINDOWS
from benchmarks.instructions.session import LADDER
from benchmarks.releases import install
from raw_torch.common.cli import Parser
from raw_torch.common.config import WORKLOADS, check_creatable
from raw_torch.common.errors import UsageError

RUNNER = "benchmarks.releases.count:run_windows"
SMOKE_WINDOWS = ((4, 6), (6, 10), (10, 16))
LADDER_RUNGS = tuple((rung, impl, s) for rung, impl, s in LADDER if impl != "raw")  # raw's do not change
PROCESSES = 2  # valgrind processes at a time: one per core of the reference machine
ROOT = Path(__file__).resolve().parents[2]


def plan(releases: list[str], ladder_on: list[str], smoke: bool) -> list[dict]:
    """Every counted case, each tagged with the release whose process counts it."""
    windows = SMOKE_WINDOWS if smoke else WINDOWS
    items = []
    for release in releases:
        for workload in WORKLOADS:
            items.append(dict(group="main", release=release, workload=workload, precision="32-true",
                              impl="lightning", settings={}, both=False, windows=windows, runner=RUNNER))  # fmt: skip
        if release in ladder_on:
            for rung, impl, settings in LADDER_RUNGS:
                items.append(dict(group="ladder", release=release, rung=rung, workload="autoencoder",
                                  precision="32-true", impl=impl, settings=settings, both=False,
                                  windows=SMOKE_WINDOWS if smoke else SHORT_WINDOWS, runner=RUNNER))  # fmt: skip
    for workload in WORKLOADS:  # once: torch, the raw twin and the floor do not change with Lightning
        for impl in ("raw", "floor"):
            items.append(dict(group="main", release=releases[-1], workload=workload, precision="32-true",
                              impl=impl, settings={}, both=False, windows=windows))  # fmt: skip
    return items


class Children:
    """The processes the session started; all stopped if the session is (Ctrl-C, SIGTERM, an error)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _failed(what: str, log: Path, code: int) -> RuntimeError:
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
    return RuntimeError(f"{what} failed ({code}): {' | '.join(tail)}")


def count_releases(items, targets, work: Path, children: Children, log=print) -> tuple[dict, float]:
    """One valgrind process per release, PROCESSES at a time: {release: (manifest, dump files)}, wall seconds."""
    from benchmarks.instructions.valgrind import valgrind_command

    for package in ("benchmarks", "raw_torch", "with_lightning"):  # every process reads the same .pyc files
        compileall.compile_dir(ROOT / package, quiet=1)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(items))
    # the releases with the most cases first (the ladder's), so that the two processes end near each other
    pending = sorted(targets, key=lambda r: -sum(it["release"] == r for it in items))
    running, done = {}, {}
    t0 = time.time()
    while pending or running:
        while pending and len(running) < PROCESSES:
            release = pending.pop(0)
            out = work / f"cg-{release}"
            out.mkdir()
            job = work / f"job-{release}.json"
            indices = [i for i, it in enumerate(items) if it["release"] == release]
            job.write_text(json.dumps({"indices": indices, "manifest": str(work / f"manifest-{release}.json")}))
            env = {**install.environment(targets[release]), "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
            cmd = valgrind_command(out, plan_file, job)
            running[release] = children.start(cmd, env, work / f"valgrind-{release}.log")
            log(f"releases: counting {release} ({len(indices)} cases) under valgrind")
        time.sleep(1.0)
        for release, proc in list(running.items()):
            if proc.poll() is None:
                continue
            del running[release]
            if proc.returncode != 0:
                raise _failed(f"valgrind for {release}", work / f"valgrind-{release}.log", proc.returncode)
            manifest = json.loads((work / f"manifest-{release}.json").read_text())
            files = [p for p in (work / f"cg-{release}").iterdir() if p.name.count(".") == 2]
            done[release] = (manifest, sorted(files, key=lambda p: int(p.name.rsplit(".", 1)[1])))
            log(f"releases: {release} counted ({time.time() - t0:.0f} s)")
    return done, time.time() - t0


def native_passes(items, targets, work: Path, children: Children, log=print) -> tuple[dict, dict]:
    """Per release, in its environment: versions, bridges, parity, and each case's opcodes per step by part."""
    per_release, opcodes = {}, {}
    for release, target in targets.items():
        indices = [i for i, it in enumerate(items) if it["release"] == release and it["impl"] != "floor"]
        items_file, out_file = work / f"items-{release}.json", work / f"native-{release}.json"
        items_file.write_text(json.dumps([items[i] for i in indices]))
        cmd = [sys.executable, "-m", "benchmarks.releases.worker", str(items_file), str(out_file)]
        env = {**install.environment(target), "OMP_NUM_THREADS": "1"}
        proc = children.start(cmd, env, work / f"native-{release}.log")
        if proc.wait() != 0:
            raise _failed(f"the native pass of {release}", work / f"native-{release}.log", proc.returncode)
        found = json.loads(out_file.read_text())
        opcodes.update({indices[int(k)]: v for k, v in found.pop("opcodes").items()})
        per_release[release] = found
        parity = ", ".join(f"{p['workload']} {p['precision']} {'=' if p['bitwise'] else '≠'}" for p in found["parity"])
        log(f"releases: {release}: imports {found['versions']['pytorch-lightning']}; parity {parity}")
    return per_release, opcodes


def measure(releases, ladder_on, smoke: bool, results: Path, log=print) -> Path:
    from benchmarks.instructions import measure as M
    from benchmarks.store import runs as R

    t0 = time.time()
    before = install.snapshot()
    work = Path(tempfile.mkdtemp(prefix="paired-releases-"))
    children = Children()
    try:
        targets, extras = {}, {}
        for release in releases:
            targets[release], extras[release] = install.install(release, work)
            beside = f" (with {', '.join(extras[release])})" if extras[release] else ""
            log(f"releases: {release} installed in {targets[release]}{beside}")
        items = plan(releases, ladder_on, smoke)
        import threading

        box: dict = {}

        def count() -> None:
            try:
                box["counted"] = count_releases(items, targets, work, children, log)
            except BaseException as e:  # noqa: BLE001 (handed to the main thread)
                box["error"] = e

        thread = threading.Thread(target=count, daemon=True)
        thread.start()  # valgrind counts while the native passes run
        per_release, opcodes = native_passes(items, targets, work, children, log)
        for release in releases:
            per_release[release]["installed_with"] = extras[release]
        thread.join()
        if "error" in box:
            raise box["error"]
        counted, valgrind_wall = box["counted"]
        manifests = [counted[r][0] for r in releases]
        measured = M.layers_per_item(items, manifests, [counted[r][1] for r in releases])  # before the cleanup
    finally:
        children.stop_all()
        shutil.rmtree(work, ignore_errors=True)
        if install.snapshot() != before:
            raise RuntimeError("the venv's packages changed during the session; nothing was meant to install there")
    summary = M.summarize(items, measured, opcodes)
    timing = M.timing_pass([it for it in items if it["impl"] == "raw"])
    extra = {
        "smoke": smoke,
        "releases": list(releases),
        "ladder_on": list(ladder_on),
        "windows": [list(w) for w in (SMOKE_WINDOWS if smoke else WINDOWS)],
        "short_windows": [list(w) for w in (SMOKE_WINDOWS if smoke else SHORT_WINDOWS)],
        "per_release": per_release,
        "venv_unchanged": True,
        **M.counted_fields(summary, timing, valgrind_wall, t0),
    }
    target = R.save(results, "releases", "paired-releases-1", M.machine_info(), extra)
    log(f"releases: saved {target} ({time.time() - t0:.0f} s)")
    for row in summary:
        name = row.get("rung") or row["workload"]
        log(f"  {row['release']:7s} {name:40s} {row['impl']:15s} {row['per_step'] / 1e6:8.3f} M/step")
    return target


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.releases", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="two releases, short windows, no ladder; a temp folder")
    every = ", ".join((install.NOTE_RELEASE, *install.RELEASES))
    ap.add_argument("--releases", default="", metavar="X,Y", help=f"default: {every}")
    ap.add_argument("--ladder-on", default="", metavar="X,Y", help="default: the first and the last 2.x release")
    ap.add_argument(
        "--results", type=Path, default=None, metavar="DIR", help="results folder (default results/; --smoke: a temp)"
    )
    return ap


def _release_list(flag: str, text: str, known: tuple[str, ...]) -> list[str]:
    chosen = [r for r in text.split(",") if r]
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise UsageError(f"{flag} {text}: no release {', '.join(unknown)} here (known: {', '.join(known)})")
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    known = (install.NOTE_RELEASE, *install.RELEASES)
    releases = _release_list("--releases", args.releases, known)
    if not releases:
        releases = list(install.SMOKE_RELEASES if args.smoke else (install.NOTE_RELEASE, *install.RELEASES))
    releases.sort(key=lambda r: tuple(map(int, r.split("."))))
    ladder_on = _release_list("--ladder-on", args.ladder_on, tuple(releases))
    if not args.ladder_on and not args.smoke:  # the first and last 2.x (1.9 has no Trainer(barebones=True))
        two = [r for r in releases if not r.startswith("1.")] or releases
        ladder_on = sorted({two[0], two[-1]})
    if args.results is not None:
        if args.results.exists() and not args.results.is_dir():
            raise UsageError(f"--results {args.results}: is a file, not a folder")
        check_creatable("--results", args.results)
    if shutil.which("valgrind") is None:
        raise UsageError("valgrind is not installed (Debian: apt-get install valgrind)")
    results = args.results or (Path(tempfile.mkdtemp(prefix="paired-smoke-")) if args.smoke else Path("results"))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        measure(releases, ladder_on, args.smoke, results)
    except RuntimeError as e:  # pip, a valgrind process, a release's native pass: one line, nothing saved
        raise UsageError(f"{e}; nothing saved") from None
    return 0
