"""The step clock: wall time per training step, raw against Lightning against the floor (the bare step), in
the paired protocol (harness.py) and its statistics (stats.py), plus peak memory (peak_rss.py). Run by the
pytest-benchmark cases beside this package: `nox -s bench` (CPU), `nox -s bench_gpu`, `nox -s resolve`."""
