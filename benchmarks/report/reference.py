"""Which saved `nox -s bench` run the report reads for each machine, by a rule it states.

The reference is, among the complete runs holding the most step-cost cases (a newer matrix, such as the GPU's
with its on-device cases, outranks an older one), the one whose floor varied least from round to round: the
floor is the bare training step on batches in memory, pure compute with no framework, so its variation is the
host's noise, not either side's. Its measure: the median, over the run's step-cost cases, of the floor's
standard deviation over its mean. A run more than NOISY times as variable as the reference is labelled noisy.
A run saved in parts counts once, its parts together. Runs a machine folder's `superseded.json` lists (file
name: reason) are never the reference: they were measured before a change of the protocol that moved their
numbers. Ties go to the newest run.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks.store.runs import entries, first_parts, load_session, newest_runs

NOISY = 2.0
SUPERSEDED = "superseded.json"


def floor_variation(data: dict) -> float:
    cases = entries(data, "step_cost")
    return statistics.median(c["step"]["floor"]["sd"] / c["step"]["floor"]["mean"] for c in cases)


def superseded(folder: Path) -> dict[str, str]:
    path = folder / SUPERSEDED
    return json.loads(path.read_text()) if path.is_file() else {}


def candidates(folder: Path) -> list[tuple[Path, float]]:
    """(run, floor variation, step-cost cases) of every complete bench run in a machine folder, in saved order; a
    run saved in parts (`nox -s bench_gpu`) once, by its first part, its parts together."""
    found = []
    for path in first_parts(folder):
        data = load_session(path, say_skipped=False)
        if data is not None and entries(data, "step_cost"):
            found.append((path, floor_variation(data), len(entries(data, "step_cost"))))
    return found


def choose(folder: Path) -> dict | None:
    """{"reference": path, "variation": v, "others": [(path, v, noisy)], "superseded": {name: reason}}."""
    old = superseded(folder)
    runs = candidates(folder)
    most = max((n for p, _, n in runs if p.name not in old), default=0)
    eligible = [(p, v) for p, v, n in runs if p.name not in old and n == most]
    if not eligible:
        return None
    best = min(v for _, v in eligible)
    reference = [p for p, v in eligible if v == best][-1]
    others = [(p, v, v > NOISY * best) for p, v in eligible if p != reference]
    return {"reference": reference, "variation": best, "others": others,
            "superseded": {p.name: old[p.name] for p, _, _ in runs if p.name in old},
            "fewer": [(p, n) for p, _, n in runs if p.name not in old and n < most], "most": most}  # fmt: skip


def reference_words(choice: dict) -> str:
    """The rule and its outcome, for the machine's header in REPORT.md."""
    others = "; ".join(f"`{p.name}` {100 * v:.1f}%{' (noisy)' if noisy else ''}" for p, v, noisy in choice["others"])
    old = "; ".join(f"`{name}` ({reason})" for name, reason in choice["superseded"].items())
    fewer = ", ".join(f"`{p.name}` ({n})" for p, n in choice.get("fewer", []))
    session = "bench_gpu" if choice["reference"].parent.parent.name.startswith("cuda") else "bench"
    sentences = [
        f"Reference run: `{choice['reference'].name}`, the complete `nox -s {session}` run of this machine whose floor "
        f"(the bare step, pure compute) varied least from round to round: {100 * choice['variation']:.1f}% (median "
        f"over its step-cost cases of the floor's standard deviation over its mean; the rule: "
        f"`benchmarks/report/reference.py`).",
        f"The others, labelled noisy above {NOISY:g} times that: {others}." if others else "",
        f"Superseded, never the reference: {old}." if old else "",
        f"Runs of a smaller matrix ({choice['most']} step-cost cases here; theirs in brackets): {fewer}."
        if fewer
        else "",
    ]
    return " ".join(x for x in sentences if x)


def reference_runs(results: Path) -> list[Path]:
    """One run per machine folder: its reference, or where no bench run is complete, its newest file."""
    out = []
    for path in newest_runs(results):
        choice = choose(path.parent)
        out.append(choice["reference"] if choice else path)
    return out
