"""Your own LightningModule beside a plain loop: are they bitwise equal, what does Lightning cost this model per
step, in which parts, and what would a Trainer setting save. `nox -s probe -- PKG.MODULE:CLASS --data ...`
(`python -m benchmarks.probe`) runs session.py: target.py loads the module and data and fixes the batch order,
plain.py is the hand-written loop, lightning.py the Trainer, parity.py compares, cost.py clocks, count.py counts
under valgrind, write.py writes probe.json and probe.md. examples/ holds two modules from Lightning's tracker."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.probe`'s entry point (`session.main`), imported only when called."""
    from benchmarks.probe.session import main as run

    return run(argv)
