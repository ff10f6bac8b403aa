"""The report's section on Lightning's releases (`nox -s releases`): per release, parity and Lightning's instructions
per step by part, torch and the raw twin fixed; every step between adjacent releases above JUMP with the part that
moved and the Lightning change behind it; the ladder on the first and last 2.x release; where each 2.6.6 finding
started; the docs' "0.06 s per epoch" placed."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import plots as P
from benchmarks.report.fmt import commit_words
from benchmarks.report.instructions import find, rates
from benchmarks.store.runs import load_run, newest_of_kind, result

JUMP = 0.2e6  # instructions per step between adjacent releases that the section explains
OTHER = "Python: Lightning: other"
OTHER_MAX = 0.10  # the catch-all's share of Lightning's own parts, at most, in every release
DOCS_EPOCH_S = 0.06  # Lightning's docs: "about 0.06 s slower per epoch" than a plain loop
DOCS_EPOCH_STEPS = 938  # an MNIST epoch at batch 64 (60,000 / 64 steps), to put the figure per step
DOCS_CHART_DATE = "2020-12-16"  # the docs' chart (docs/source-pytorch/benchmarking/benchmarks.rst)
DOCS_CHART_RELEASE = "1.1.1"  # released 2020-12-15 (the CHANGELOG every wheel ships), the newest on that date

# Each step above JUMP between adjacent releases, as found in the releases' source and changelogs:
# {(from, to, workload): words}; tests/test_releases.py checks that the committed run's every jump has one.
_TO_2_0 = (
    "Lightning 2.0 cut four kinds of per-step work that 1.9.5 did (counted natively, minimal, per step): "
    "(a) the `TrainerFn`/`RunningStage` enums of 1.9 called `deprecate()` on every member access "
    "(`trainer/states.py:__getattribute__`; their deprecated `TUNING` members went in #16379), and compared twice as "
    "often; (b) half of the `inspect.signature` work: with several optimizers in automatic optimization gone "
    "(#16539), no more `optimizer_idx` checks of `training_step` every step (`loops/utilities.py:135`, "
    "`loops/optimization/optimizer_loop.py:361` in 1.9.5); (c) the generic loop machinery of 1.x, `Loop.run` and its "
    "`trainer` property on every nested loop (`TrainingBatchLoop`, `OptimizerLoop`), removed with loop customisation "
    "(#16384) and the old data loops (#16726); (d) the fault-tolerant fetcher of `utilities/fetching.py` (#16516). "
    "Hook dispatch moved from `trainer/trainer.py` to `trainer/call.py` and got a little cheaper."
)
_TO_2_4 = (
    "Lightning 2.4.0 \"fixed `_LoggerConnector`'s `_ResultMetric` to move all registered keys to the device of the "
    'logged value if needed" (#19814, its CHANGELOG): since then `_ResultCollection.log` calls '
    "`self[key].to(value.device)` on every `self.log` call (`logger_connector/result.py:411` in 2.4.0; 2.3.3 moved "
    "a metric once, when it was created, `:421`), and `_ResultMetric.to` walks the metric's whole `__dict__` with "
    "`apply_to_collection`, which deep-copies its `_Metadata` dataclass every time (`:307-309`): the "
    "`_apply_to_collection_slow` and `copy.deepcopy` that dominate the part from 2.4.0 on. Still in 2.6.6; the "
    "slowdown was reported as #20388, and PR #21769 (open) proposes to skip the walk when the metric is already on "
    "the device."
)
EXPLAINED: dict[tuple[str, str, str], str] = {
    ("1.9.5", "2.0.9", "minimal"): _TO_2_0,
    ("1.9.5", "2.0.9", "autoencoder"): _TO_2_0,
    ("2.3.3", "2.4.0", "minimal"): _TO_2_4,
    ("2.3.3", "2.4.0", "autoencoder"): _TO_2_4,
}


def releases_part(path: Path, plot: Path, rel: Path) -> list[str]:
    """The newest `nox -s releases` run beside this one (a smoke run is never saved there)."""
    source = newest_of_kind(path.parent, "releases")
    data = load_run(source) if source else None
    if not data:
        return []
    return releases_section(result(data), data, source, plot, rel)


def m(n: float) -> str:
    return f"{n / 1e6:,.2f}"


def lightning_parts(parts: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in parts.items() if k.startswith("Python: Lightning")}


def rows(info: dict) -> list[dict]:
    """Per release: its two Lightning counts, overheads over the raw twin, parts, parity, versions and bridges."""
    raw = {w: find(info["items"], group="main", workload=w, impl="raw") for w in ("minimal", "autoencoder")}
    out = []
    for release in info["releases"]:
        row = {"release": release, **info["per_release"][release]}
        for w in ("minimal", "autoencoder"):
            lit = find(info["items"], group="main", workload=w, impl="lightning", release=release)
            row[w] = {
                "per_step": lit["per_step"],
                "overhead": lit["per_step"] - raw[w]["per_step"],
                "parts": lit["parts"],
                "other_share": lit["parts"].get(OTHER, 0.0) / max(sum(lightning_parts(lit["parts"]).values()), 1.0),
            }
        out.append(row)
    return out


def jumps(table: list[dict]) -> list[dict]:
    """Every change above JUMP between adjacent releases, per workload, with the parts that moved most."""
    found = []
    for a, b in zip(table, table[1:], strict=False):
        for w in ("minimal", "autoencoder"):
            delta = b[w]["per_step"] - a[w]["per_step"]
            if abs(delta) <= JUMP:
                continue
            keys = set(a[w]["parts"]) | set(b[w]["parts"])
            moved = sorted(((b[w]["parts"].get(k, 0.0) - a[w]["parts"].get(k, 0.0), k) for k in keys),
                           key=lambda t: -abs(t[0]))  # fmt: skip
            found.append({"from": a["release"], "to": b["release"], "workload": w, "delta": delta, "moved": moved[:4]})
    return found


def _parity(rows_: list[dict]) -> str:
    same = [p for p in rows_ if p["bitwise"]]
    if len(same) == len(rows_):
        return f"bitwise ({len(rows_)}/{len(rows_)})"
    bad = [f"{p['workload']} {p['precision']} from step {p['first_differing_step']}" for p in rows_ if not p["bitwise"]]
    return f"**differs**: {'; '.join(bad)}"


def releases_section(info: dict, data: dict, source: Path, plot: Path, rel: Path) -> list[str]:
    table = rows(info)
    rate = rates(info)
    P.plot_releases(table, plot)
    torch = data["machine_info"].get("paired", {}).get("torch", "?")
    raw = {w: find(info["items"], group="main", workload=w, impl="raw") for w in ("minimal", "autoencoder")}
    floor = {w: find(info["items"], group="main", workload=w, impl="floor") for w in ("minimal", "autoencoder")}
    out = [
        "### Lightning across its releases",
        "",
        f"Source: `{source.as_posix()}` ({data.get('datetime', '?')}, {commit_words(data)}), made by "
        "`nox -s releases` ([releases.md](../docs/releases.md)). Each release installed with `pip install --no-deps "
        "--target` into a folder of its own, first on `PYTHONPATH` for the processes that measure it; torch "
        f"{torch}, the raw twin and the floor fixed (raw {m(raw['minimal']['per_step'])} M and "
        f"{m(raw['autoencoder']['per_step'])} M instructions per step, floor {m(floor['minimal']['per_step'])} M "
        f"and {m(floor['autoencoder']['per_step'])} M, minimal and autoencoder, counted once). Lightning's "
        "instructions per step in the windows of `nox -s instructions` (32-true, features as benchmarked: all "
        "on but the progress bar); ≈ µs at the raw step's rate, timed natively in the same session "
        f"({rate.get('minimal', float('nan')):,.0f} and {rate.get('autoencoder', float('nan')):,.0f} instructions "
        "per µs). Parity: both workloads in 32-true and bf16-mixed, one epoch of 30 batches, against the unchanged "
        "raw twin: losses, validation, test and the final parameters' hash.",
        "",
        "| release | minimal: Lightning M/step | overhead M (≈ µs) | autoencoder: Lightning M/step | overhead M (≈ µs) "
        "| Lightning: other | parity | bridged |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in table:
        cells = []
        for w in ("minimal", "autoencoder"):
            us = r[w]["overhead"] / rate[w] if w in rate else float("nan")
            cells += [m(r[w]["per_step"]), f"{m(r[w]['overhead'])} ({us:,.0f})"]
        share = max(r[w]["other_share"] for w in ("minimal", "autoencoder"))
        out.append(
            f"| {r['release']} | {' | '.join(cells)} | {100 * share:.1f}% | {_parity(r['parity'])} | "
            f"{len(r['bridges'])} |"
        )
    worst = max(max(r[w]["other_share"] for w in ("minimal", "autoencoder")) for r in table)
    out += [
        "",
        f'The catch-all "Lightning: other" is at most {100 * worst:.1f}% of Lightning\'s own parts in any release '
        f"(the rules hold if it stays under {100 * OTHER_MAX:.0f}%: files that moved between releases still land in "
        "their part).",
        "",
        f"![components per release]({(rel / plot.name).as_posix()})",
        "",
        *_jumps_lines(jumps(table)),
        *_ladder_lines(info),
        *_findings_lines(table),
        *_docs_epoch_lines(table, rate),
        *_versions_lines(table),
    ]
    return out


def _jumps_lines(found: list[dict]) -> list[str]:
    if not found:
        return [f"No step between adjacent releases is above {m(JUMP)} M instructions per step.", ""]
    out = [
        f"**Every step above {m(JUMP)} M instructions per step between adjacent releases**, with the parts that moved "
        "most and the change behind it:",
        "",
    ]
    for j in found:
        moved = ", ".join(f"{k.removeprefix('Python: ')} {d / 1e6:+.2f}" for d, k in j["moved"])
        why = EXPLAINED.get((j["from"], j["to"], j["workload"]), "not yet explained")
        out.append(f"- {j['from']} → {j['to']}, {j['workload']}: {j['delta'] / 1e6:+.2f} M ({moved}). {why}")
    return out + [""]


def _ladder_lines(info: dict) -> list[str]:
    ladder = [i for i in info["items"] if i["group"] == "ladder"]
    ends = [r for r in info["ladder_on"]]
    if not ladder or not ends:
        return []
    out = [
        f"The feature ladder (autoencoder, 32-true; M instructions per step), on {' and '.join(ends)}:",
        "",
        "| rung | " + " | ".join(ends) + (" | change |" if len(ends) == 2 else ""),
        "| --- | " + " | ".join("---:" for _ in ends) + (" | ---: |" if len(ends) == 2 else ""),
    ]
    for rung in dict.fromkeys(i["rung"] for i in ladder):
        counts = [find(ladder, rung=rung, release=r) for r in ends]
        cells = [m(c["per_step"]) if c else "–" for c in counts]
        change = ""
        if len(ends) == 2:
            change = f" | {(counts[1]['per_step'] - counts[0]['per_step']) / 1e6:+.2f}" if all(counts) else " | –"
        out.append(f"| {rung} | {' | '.join(cells)}{change} |")
    return out + [""]


def _findings_lines(table: list[dict]) -> list[str]:
    names = list(table[-1].get("findings", {}))
    if not names:
        return []
    out = [
        "Where each cost found in 2.6.6 sits in each release's own source (file:line; – where the line is absent). "
        "The first two are not counted here (one process, on the CPU): this table dates them.",
        "",
        "| finding | " + " | ".join(r["release"] for r in table) + " |",
        "| --- | " + " | ".join("---" for _ in table) + " |",
    ]
    for name in names:
        cells = [f"`{(r['findings'].get(name) or '–').rsplit('/', 1)[-1]}`" for r in table]
        out.append(f"| {name} | {' | '.join(cells)} |")
    return out + [""]


def _docs_epoch_lines(table: list[dict], rate: dict) -> list[str]:
    if "autoencoder" not in rate:
        return []
    us = [(r["release"], r["autoencoder"]["overhead"] / rate["autoencoder"]) for r in table]
    steps = ", ".join(f"{release} {DOCS_EPOCH_S / (u * 1e-6):,.0f}" for release, u in us)
    epoch = ", ".join(f"{release} {DOCS_EPOCH_STEPS * u * 1e-6:,.2f} s" for release, u in us)
    return [
        f'Lightning\'s docs still say it is "about {DOCS_EPOCH_S:g} s slower per epoch" than a plain loop '
        f'(benchmarking page, an MNIST CNN on a GPU; its chart is "created on {DOCS_CHART_DATE}", when the newest '
        f'release was {DOCS_CHART_RELEASE}, older than every release here), and its README "about 300 ms per '
        f"epoch\". At this machine's raw rate, {DOCS_EPOCH_S:g} s is Lightning's overhead over this many "
        f"autoencoder steps: {steps}; over an MNIST epoch at batch 64 ({DOCS_EPOCH_STEPS} steps) the overhead "
        f"would be {epoch}. The figure belongs to {DOCS_CHART_RELEASE} and a GPU step; none of these releases "
        "comes near it per step on this CPU.",
        "",
    ]


BRIDGE_PART = "Python: bridges to older Lightning releases' names"


def _versions_lines(table: list[dict]) -> list[str]:
    most = max(r[w]["parts"].get(BRIDGE_PART, 0.0) for r in table for w in ("minimal", "autoencoder"))
    out = [
        "What each release imported, and what it needed bridged (bridge.py; its calls come before the first step, "
        f"and its own part of the count is {most:,.0f} instructions a step at most, in every release):",
        "",
    ]
    for r in table:
        v = r["versions"]
        deps = ", ".join(f"{k} {v.get(k)}" for k in ("lightning-utilities", "torchmetrics", "setuptools"))
        extra = ", ".join(r.get("installed_with", [])) or "nothing"
        bridged = "; ".join(r["bridges"]) or "nothing"
        out.append(f"- {r['release']}: {deps}; installed beside it: {extra}; bridged: {bridged}.")
    return out + [""]
