"""Instructions per step under valgrind's callgrind, raw against Lightning, split by layer, by Python component
and by feature: deterministic where the wall clock is not. `nox -s instructions` (`python -m
benchmarks.instructions`) runs session.py, which starts the valgrind processes (valgrind.py), counts
(counting.py, callgrind.py), attributes (components.py, attribution.py) and saves (measure.py)."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.instructions`'s entry point (`session.main`), imported only when called."""
    from benchmarks.instructions.session import main as run

    return run(argv)
