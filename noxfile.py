"""The front door. `nox -s tests` proves the twins equal; `nox -s bench` then `nox -s report` measure them."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"  # the venv holds a ~5 GB torch: reuse it, `--reuse-venv=no` to rebuild
nox.options.error_on_missing_interpreters = True

PYTEST_BENCH = ["--benchmark-columns=min,median,iqr,stddev,rounds", "--benchmark-sort=name"]


def _machine(session: nox.Session, device: str) -> str:
    code = f"from benchmarks.machine import machine_name; print(machine_name({device!r}))"
    return session.run("python", "-c", code, silent=True).strip().splitlines()[-1]


@nox.session
def tests(session: nox.Session) -> None:
    """Parity, feature and bad-input tests, plus every benchmark once in smoke mode (two workers, one per core)."""
    session.install("-e", ".[test,bench]")
    # one pytest-xdist worker per core, each test file on one worker (so a file's shared runs are not redone)
    session.run("pytest", "--benchmark-disable", "-n", "2", "--dist", "loadfile", *session.posargs)


def _bench(session: nox.Session, device: str, select: str, marks: str = "not resolve", save: str = "bench") -> None:
    session.install("-e", ".[bench]")
    machine = _machine(session, device)
    session.run(
        "pytest",
        "benchmarks",
        "-k",
        select,
        "-m",
        marks,
        f"--benchmark-storage=file://results/{machine}",
        f"--benchmark-save={save}",
        *PYTEST_BENCH,
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """CPU benchmark matrix (~10 min); saves a new numbered run under results/<machine>/. Posargs go to pytest."""
    _bench(session, "cpu", "not cuda")


@nox.session
def bench_gpu(session: nox.Session) -> None:
    """CUDA cases only (one GPU, ~5 min); saves a new numbered run under results/cuda-<gpu>/."""
    _bench(session, "cuda", "cuda")


@nox.session
def resolve(session: nox.Session) -> None:
    """CPU 32-true per-step overhead, finely resolved (~14 min); saves results/<machine>/<id>/NNNN_resolve.json."""
    _bench(session, "cpu", "not cuda", marks="resolve", save="resolve")


@nox.session
def instructions(session: nox.Session) -> None:
    """Instructions per step under valgrind, raw vs Lightning, by part (~15 min); saves NNNN_instructions.json."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks.instructions", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Write results/REPORT.md and results/plots/ from the newest saved run of each machine."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks.report", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
