"""results/REPORT.md and results/plots/ from the saved runs: `nox -s report` (`python -m benchmarks.report`)
runs build.py, one function per section; ddp.py, gpu.py and instructions.py write their instruments'
sections, plots.py draws, fmt.py formats numbers."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.report`'s entry point (`build.main`), imported only when called."""
    from benchmarks.report.build import main as run

    return run(argv)
