"""`--instructions`: the probe's sides counted under valgrind's callgrind, as `nox -s instructions` counts the
suite's twins (benchmarks/instructions/): the same valgrind processes, windows, attribution and components.

Per side (floor, plain, Lightning, and with --ladder each rung), one run counts three windows of 8, 16 and 24
steps (instructions.counting.WINDOWS: fetches 24-32, 32-48, 48-72, counted across epochs here, so a loader of
few batches still fills them); the per-step count is the slope over the three. The interpreter's share is
split among components by the opcodes each executed in the same windows, counted natively (OpcodeCounter).
The user's module file counts as "model forward and loss"; the plain loop as "raw loop", like the suite's.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.instructions import attribution as A
from benchmarks.instructions.counting import WINDOWS, Windows, WindowsDone, limit_of

RUNNER = "benchmarks.probe.count:run_windows"  # what instructions.counting.run_windows calls for these items


def counted_probe(probe):
    """The probe's settings for a counted run: enough optimizer steps for every window's batches."""
    from dataclasses import replace

    steps = math.ceil((limit_of(WINDOWS) + 1) / probe.accumulate_grad_batches) + 1
    return replace(probe, device="cpu", steps=max(probe.steps, steps))


def run_windows(item: dict, start, stop) -> None:
    """Run one side of the probe with the counter started and stopped at the windows (in valgrind, or natively
    for the opcode pass). Called by instructions.counting.run_windows for the items that name it as their "runner"."""
    from benchmarks.clock import harness
    from benchmarks.instructions import components
    from benchmarks.probe import lightning, plain
    from benchmarks.probe.target import BatchOrder, Probe, build, module_class, training_loader

    probe = Probe(**item["probe"])
    cls = module_class(probe.target)
    components.user_code(sys.modules[cls.__module__].__file__)
    order = BatchOrder(training_loader(probe.data), probe)
    side = item["impl"]
    harness.side_environment("lightning" if side.startswith("lightning") else "plain")
    module = build(cls, probe.init_args, probe.seed)
    device = torch.device("cpu")
    with harness.quiet_heap(), tempfile.TemporaryDirectory() as out, lightning.quiet():
        try:
            if side == "floor":
                batches = list(order.loader())[: limit_of(WINDOWS) + 1]
                windowed = Windows(batches, start, stop)
                plain.fit(module, windowed, probe.steps, probe.precision, device, probe.gradient_clip_val,
                          probe.accumulate_grad_batches)  # fmt: skip
            elif side == "plain":
                loader = order.loader(lambda s: Windows(s, start, stop))
                plain.fit(module, loader, probe.steps, probe.precision, device, probe.gradient_clip_val,
                          probe.accumulate_grad_batches)  # fmt: skip
            else:
                from benchmarks.probe.cost import silent_stdout

                loader = order.loader(lambda s: Windows(s, start, stop))
                with silent_stdout():
                    lightning.fit(module, loader, probe, out, side.partition("+")[2] or None)
        except WindowsDone:
            pass


def items(probe, ladder: bool) -> list[dict]:
    from benchmarks.probe.cost import sides

    pair, rest = sides(ladder)
    counted = counted_probe(probe).as_dict()
    return [
        dict(group="probe", impl=side, probe=counted, both=False, windows=WINDOWS, settings={}, runner=RUNNER)
        for side in [*pair, *rest]
    ]


def measure(probe, ladder: bool, keep: Path | None = None) -> dict:
    """Count every side in two valgrind processes (meanwhile the native opcode pass); per-step instructions per
    side, Lightning's extra by component, and each rung's extra over the bare Trainer."""
    from benchmarks.instructions.measure import layers_per_item, opcode_pass, summarize
    from benchmarks.instructions.valgrind import run_valgrind

    plan = items(probe, ladder)
    work = Path(tempfile.mkdtemp(prefix="paired-probe-callgrind-", dir=keep))
    box: dict = {}
    t0 = time.time()
    thread = threading.Thread(target=lambda: box.update(result=run_valgrind(plan, work)), daemon=True)
    thread.start()
    with np.errstate(divide="ignore", invalid="ignore"):  # a component absent from a window: no linearity figure
        opcodes = opcode_pass(plan, floors=True)
    thread.join()
    if "result" not in box:
        raise RuntimeError(f"the valgrind processes failed; their logs are in {work}")
    manifests, dumps, wall = box["result"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = summarize(plan, layers_per_item(plan, manifests, dumps), opcodes)
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    by = {row["impl"]: row for row in rows}
    extra = A.extra(by["lightning"]["parts"], by["plain"]["parts"])
    result = {
        "windows": [list(w) for w in WINDOWS],
        "valgrind_wall_s": wall,
        "wall_s": time.time() - t0,
        "plain": by["plain"]["per_step"],
        "lightning": by["lightning"]["per_step"],
        "floor": by["floor"]["per_step"],
        "overhead": by["lightning"]["per_step"] - by["plain"]["per_step"],
        "components": dict(sorted(extra.items(), key=lambda kv: -kv[1])),
        "other_share": A.other_share(extra),
        "nonlinearity": {row["impl"]: row["nonlinearity"] for row in rows},
        "parts": {row["impl"]: row["parts"] for row in rows},
    }
    if ladder:
        from benchmarks.probe.lightning import FEATURES

        result["ladder"] = {
            label: by[f"lightning+{f}"]["per_step"] - by["lightning"]["per_step"] for f, label in FEATURES.items()
        }
    return result


def available() -> bool:
    return shutil.which("valgrind") is not None
