"""Lightning with one per-step cost taken out, counted beside Lightning as it is: what a proposed fix would save
each step. A benchmark's ablation, never a setting of the product: `with_lightning/` runs Lightning unchanged.

`pr21769`: since 2.4.0 (#19814) every `self.log` call moves its result metric to the logged value's device,
`_ResultMetric.to`, which walks the metric's whole `__dict__` with `apply_to_collection` and deep-copies its
metadata each time, also when the metric is already there (reported as #20388). Lightning PR #21769 (open)
short-circuits that call: a plain `.to(device)` (one str or torch.device argument, no keyword) on a metric whose
value is already on that device returns the metric as it is; any other call takes the full path. Applied here as
that PR describes it, to pytorch-lightning's own class, for one run at a time. `tests/test_instructions.py` holds
both twins bitwise equal with it in place, and each run must take the short cut at least once a step, or it
fails: a Lightning that renamed or moved the method would otherwise be counted unchanged.
"""

from __future__ import annotations

import contextlib

ABLATIONS = {"pr21769": "self.log without re-moving its metric each call (Lightning PR #21769's short cut)"}


@contextlib.contextmanager
def metric_move_short_cut():
    """PR #21769's `_ResultMetric.to`, in place for the block; yields {"short": n, "full": n}, the calls that
    took the short cut and those that took Lightning's full path."""
    import torch
    from pytorch_lightning.trainer.connectors.logger_connector.result import _ResultMetric

    full_path = _ResultMetric.__dict__["to"]
    calls = {"short": 0, "full": 0}

    def to(self, *args, **kwargs):
        if not kwargs and len(args) == 1 and isinstance(args[0], (str, torch.device)):
            value = getattr(self, "value", None)
            if isinstance(value, torch.Tensor) and value.device == torch.device(args[0]):
                calls["short"] += 1
                return self
        calls["full"] += 1
        return full_path(self, *args, **kwargs)

    _ResultMetric.to = to
    try:
        yield calls
    finally:
        _ResultMetric.to = full_path


def run(item: dict, start, stop) -> None:
    """An instructions item's runner (counting.run_windows): the item as planned, under its ablation."""
    from benchmarks.instructions.counting import run_windows

    if item["ablation"] != "pr21769":
        raise RuntimeError(f"no ablation {item['ablation']!r} (known: {', '.join(ABLATIONS)})")
    plain = {k: v for k, v in item.items() if k not in ("runner", "ablation")}
    with metric_move_short_cut() as calls:
        run_windows(plain, start, stop)
    steps = max(b for _, b in item["windows"])  # the training steps the run makes before its last window ends
    if calls["short"] < steps:
        raise RuntimeError(f"the short cut was taken {calls['short']} times in {steps} steps: Lightning moved it")
