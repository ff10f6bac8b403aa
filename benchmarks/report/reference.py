"""Which saved `nox -s bench` run the report reads for each machine, by a rule it states.

The reference is the complete run (one holding the step-cost cases) whose floor varied least from round to
round: the floor is the bare training step on batches in memory, pure compute with no framework, so its
variation is the host's noise, not either side's. Its measure: the median, over the run's step-cost cases, of
the floor's standard deviation over its mean. A run more than NOISY times as variable as the reference is
labelled noisy. Runs a machine folder's `superseded.json` lists (file name: reason) are never the reference:
they were measured before a change of the protocol that moved their numbers. Ties go to the newest run.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks.store.runs import RUN_GLOB, entries, load_run, newest_runs

NOISY = 2.0
SUPERSEDED = "superseded.json"


def floor_variation(data: dict) -> float:
    cases = entries(data, "step_cost")
    return statistics.median(c["step"]["floor"]["sd"] / c["step"]["floor"]["mean"] for c in cases)


def superseded(folder: Path) -> dict[str, str]:
    path = folder / SUPERSEDED
    return json.loads(path.read_text()) if path.is_file() else {}


def candidates(folder: Path) -> list[tuple[Path, float]]:
    """(run, floor variation) of every complete bench run in a machine folder, in saved order."""
    found = []
    for path in sorted(folder.glob(RUN_GLOB)):
        data = load_run(path, say_skipped=False)
        if data is not None and entries(data, "step_cost"):
            found.append((path, floor_variation(data)))
    return found


def choose(folder: Path) -> dict | None:
    """{"reference": path, "variation": v, "others": [(path, v, noisy)], "superseded": {name: reason}}."""
    old = superseded(folder)
    runs = candidates(folder)
    eligible = [(p, v) for p, v in runs if p.name not in old]
    if not eligible:
        return None
    best = min(v for _, v in eligible)
    reference = [p for p, v in eligible if v == best][-1]
    others = [(p, v, v > NOISY * best) for p, v in eligible if p != reference]
    return {"reference": reference, "variation": best, "others": others,
            "superseded": {p.name: old[p.name] for p, _ in runs if p.name in old}}  # fmt: skip


def reference_words(choice: dict) -> str:
    """The rule and its outcome, for the machine's header in REPORT.md."""
    others = "; ".join(f"`{p.name}` {100 * v:.1f}%{' (noisy)' if noisy else ''}" for p, v, noisy in choice["others"])
    old = "; ".join(f"`{name}` ({reason})" for name, reason in choice["superseded"].items())
    return (
        f"Reference run: `{choice['reference'].name}`, the complete `nox -s bench` run of this machine whose floor "
        f"(the bare step, pure compute) varied least from round to round: {100 * choice['variation']:.1f}% (median "
        f"over its step-cost cases of the floor's standard deviation over its mean; the rule: "
        f"`benchmarks/report/reference.py`). "
        + (f"The others, labelled noisy above {NOISY:g} times that: {others}. " if others else "")
        + (f"Superseded, never the reference: {old}." if old else "")
    ).strip()


def reference_runs(results: Path) -> list[Path]:
    """One run per machine folder: its reference, or where no bench run is complete, its newest file."""
    out = []
    for path in newest_runs(results):
        choice = choose(path.parent)
        out.append(choice["reference"] if choice else path)
    return out
