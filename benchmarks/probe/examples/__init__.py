"""Two reproducers from Lightning's tracker, re-typed small, for `python -m benchmarks.probe`:

    python -m benchmarks.probe benchmarks.probe.examples.issue6196:LitAutoEncoder \
        --data benchmarks.probe.examples.issue6196:train_dataloader
    python -m benchmarks.probe benchmarks.probe.examples.issue8857:LogisticRegression \
        --data benchmarks.probe.examples.issue8857:train_dataloader

Their measured results are in results/probe/ and in REPORT.md's probe section."""
