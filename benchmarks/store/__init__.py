"""Saved runs: where each instrument writes its JSON (results/<machine>/<id>/NNNN_<kind>.json) in which of the
two formats, how the report finds the newest of each kind (runs.py), which machine a run is from (machine.py),
`python -m benchmarks.store save` (save.py), which `nox -s bench` and `resolve` run to file pytest's JSON, and
`python -m benchmarks.store parts` (parts.py), a session in parts each saved as it ends (`nox -s bench_gpu`).
Every instrument and `nox -s report` use it."""

import sys


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.store`'s entry point (`save.main`, or `parts.main`), imported only when called."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["parts"]:
        from benchmarks.store.parts import main as run_parts

        return run_parts(argv[1:])
    from benchmarks.store.save import main as run

    return run(argv)
