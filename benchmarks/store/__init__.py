"""Saved runs: where each instrument writes its JSON (results/<machine>/<id>/NNNN_<kind>.json) in which of the
two formats, how the report finds the newest of each kind (runs.py), which machine a run is from (machine.py),
and `python -m benchmarks.store save` (save.py), which `nox -s bench`, `bench_gpu` and `resolve` run to file
pytest's JSON. Every instrument and `nox -s report` use it."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.store`'s entry point (`save.main`), imported only when called."""
    from benchmarks.store.save import main as run

    return run(argv)
