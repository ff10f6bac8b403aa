"""pytest-benchmark suite: what Lightning costs per step, per feature and per model size."""
