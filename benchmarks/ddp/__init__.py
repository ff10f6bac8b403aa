"""Raw DistributedDataParallel against Lightning's strategy="ddp", per step, at world size 1 and 2 under
torchrun (CPU, gloo): `nox -s bench_ddp` (`python -m benchmarks.ddp`) runs session.py, which launches
rank.py in every process."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.ddp`'s entry point (`session.main`), imported only when called."""
    from benchmarks.ddp.session import main as run

    return run(argv)
