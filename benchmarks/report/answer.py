"""The answer, first: what Lightning costs per step against the raw step's time, for every point the saved
runs measured (CPU cases and scaling points, GPU cases and sweep, DDP world size 2), with the instruction count,
its largest parts and what a user can turn off. The same block opens REPORT.md and README.md; every number is
read from the saved JSON."""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.instructions import attribution as A
from benchmarks.report import plots as P
from benchmarks.report.instructions import LIGHTNING_BASES, PRODUCT_OFF, find, rates
from benchmarks.store.runs import entries, load_run, load_session, newest_of_kind, result

BEGIN, END = "<!-- answer: written by `nox -s report` from results/ -->", "<!-- answer: end -->"
SHARES = (0.10, 0.01)  # the overhead's share of the raw step the answer names a threshold for
ALT = "Lightning's overhead per step against the raw step"
# Lightning features the instruction ladder adds one at a time, as a user switches them off
OFF_SWITCHES = (
    ("+ self.log", "`self.log`"),
    ("+ progress bar", "the progress bar (`enable_progress_bar=False`)"),
    ("+ checkpoint callback", "the checkpoint callback"),
    ("+ model summary", "the model summary"),
)


def _point(machine: str, source: Path, kind: str, label: str, raw: dict, overhead: dict) -> dict:
    return {
        "machine": machine,
        "source": source,
        "kind": kind,
        "label": label,
        "raw_us": raw["mean"] * 1e6,
        "overhead_us": overhead["mean"] * 1e6,
        "ci_us": overhead.get("ci", float("nan")) * 1e6,
    }


def points(paths: list[Path]) -> list[dict]:
    """Every measured (raw step, Lightning's overhead) pair in the runs the report reads, each with its file."""
    out = []
    for path in paths:
        data = load_session(path)
        if data is None:
            continue
        machine = path.parent.parent.name
        for b in data.get("benchmarks", []):  # an instrument run alone holds none
            e = b.get("extra_info", {})
            source = path.parent / b.get("saved_in", path.name)  # a run saved in parts: the part's own file
            if e.get("kind") == "step_cost":
                label = e["case"].replace("-cpu-", "-").replace("-cuda-", "-")  # the colour names the machine
                out.append(_point(machine, source, "cases", label, e["step"]["raw"], e["overhead"]["step"]))
            elif e.get("kind") in ("scaling", "scaling_gpu"):
                label = f"h{e['hidden']} b{e['batch_size']}" + (f" {e['precision']}" if "precision" in e else "")
                out.append(_point(machine, source, "sweep", label, e["step"]["raw"], e["overhead"]["step"]))
        ddp = newest_of_kind(path.parent, "ddp")
        data = load_run(ddp) if ddp else None
        info = result(data) if data else None
        for c in (info or {}).get("cases", []):
            w = c["worlds"]["2"]
            label = f"{c['workload']}-ddp2-{c['precision']}"
            out.append(_point(machine, ddp, "DDP, 2 ranks", label, w["step"]["raw"], w["overhead"]["step"]))
    return out


def resolved_words(paths: list[Path]) -> tuple[str, list[Path]]:
    """The finest CPU estimate, `nox -s resolve`'s drift-aware 10th percentile, where a saved run has one."""
    for path in paths:
        source = newest_of_kind(path.parent, "resolve")
        data = load_run(source) if source else None
        rows = [r for r in entries(data or {}, "resolve") if "ci_drift" in r["q10"]["overhead"]]
        if rows:
            each = ", ".join(
                f"{r['q10']['overhead']['value'] * 1e6:,.0f} ± {r['q10']['overhead']['ci_drift'] * 1e6:,.0f} µs "
                f"({r['workload']})"
                for r in rows
            )
            return f"The finest measurement, `nox -s resolve` on {path.parent.parent.name}: {each}. ", [source]
    return "", []


def thresholds(pts: list[dict]) -> dict[str, dict]:
    """Per machine: the median overhead of its points, and the raw step time above which that overhead is below
    each share in SHARES (overhead / share)."""
    out = {}
    for machine in dict.fromkeys(p["machine"] for p in pts):
        over = statistics.median(p["overhead_us"] for p in pts if p["machine"] == machine)
        n = sum(p["machine"] == machine for p in pts)
        out[machine] = {"median_us": over, "n": n, "above_us": {s: over / s for s in SHARES}}
    return out


def reference_rate(path: Path, items: list[dict]) -> float | None:
    """Instructions per µs of the autoencoder's raw 32-true step: the instructions run's count over the reference
    bench run's time for the same step. The answer's µs all come from that one run, chosen by its stated rule; the
    instruction session's own native timing (its report section's rate line) has no such rule, and a busy host
    inflates it (0019: 1,787 µs against the reference's 1,165)."""
    raw = find(items, group="main", workload="autoencoder", precision="32-true", impl="raw")
    timed = next((p for p in points([path]) if p["kind"] == "cases" and p["label"] == "autoencoder-32-true"), None)
    return raw["per_step"] / timed["raw_us"] if raw and timed else None


def instructions_words(paths: list[Path]) -> tuple[list[str], list[Path]]:
    """The count, its largest parts and the ladder's switches, from the newest instructions run, if any."""
    for path in paths:
        source = newest_of_kind(path.parent, "instructions")
        data = load_run(source) if source else None
        if not data:
            continue
        info = result(data)
        items, rate = info["items"], rates(info)
        per = {}
        for w in ("minimal", "autoencoder"):
            raw = find(items, group="main", workload=w, precision="32-true", impl="raw")
            lit = find(items, group="main", workload=w, precision="32-true", impl="lightning")
            if raw and lit:
                per[w] = (lit["per_step"] - raw["per_step"], A.extra(lit["parts"], raw["parts"]))
        if not per:
            continue
        count = " and ".join(f"**+{d / 1e6:.2f} M** ({w})" for w, (d, _) in per.items())
        w0, (_, extra) = next(iter(per.items()))
        total = sum(extra.values())
        top = sorted(extra, key=lambda k: -extra[k])[:3]
        parts = ", ".join(f"{k.removeprefix('Python: ').removeprefix('Lightning: ')} {100 * extra[k] / total:.0f}%"
                          for k in top)  # fmt: skip
        lines = [
            f"- In instructions per step, which a busy host cannot blur: {count}, 32-true, every feature on but the "
            f"progress bar. The largest parts ({w0}): {parts}.",
        ]
        ladder = [i for i in items if i["group"] == "ladder" and i["impl"].startswith("lightning")]
        ae_rate = reference_rate(path, items) or rate.get("autoencoder")
        saves = []
        for rung, words in OFF_SWITCHES:
            r = find(ladder, rung=rung)
            base = find(ladder, rung=LIGHTNING_BASES.get(rung, PRODUCT_OFF))
            if r and base:
                d = r["per_step"] - base["per_step"]
                us = f" (≈{d / ae_rate:,.0f} µs here)" if ae_rate else ""
                saves.append(f"{words} {d / 1e6:.2f} M{us}")
        bare = find(ladder, rung="barebones=True, no self.log")
        floor = find(items, group="main", workload="autoencoder", precision="32-true", impl="floor")
        if saves:
            rest = (
                f"; even `Trainer(barebones=True)` adds {(bare['per_step'] - floor['per_step']) / 1e6:.2f} M over "
                "the bare step"
                if bare and floor
                else ""
            )
            lines.append(f"- What turning a feature off saves per step (autoencoder): {'; '.join(saves)}{rest}.")
        fix = find(items, group="ablation", workload="autoencoder", ablation="pr21769")
        lit = find(items, group="main", workload="autoencoder", precision="32-true", impl="lightning")
        if fix and lit and lines[-1].startswith("- What turning"):  # a clause of the same line: at most 8 lines
            d = lit["per_step"] - fix["per_step"]
            us = f" (≈{d / ae_rate:,.0f} µs here)" if ae_rate else ""
            lines[-1] = (f"{lines[-1][:-1]}; without turning anything off, Lightning's open PR #21769 (`self.log` "
                         f"without re-moving its metric each call) would save {d / 1e6:.2f} M{us}, bitwise the "
                         "same.")  # fmt: skip
        return lines, [source]
    return [], []


def answer_section(paths: list[Path], plot: Path, rel: Path, heading: str = "##") -> list[str]:
    """The block: at most 8 lines and one plot. `rel`: the plot's folder as the reader's file links to it."""
    pts = points(paths)
    if not pts:
        return []
    shown = P.plot_answer(pts, plot, SHARES)
    left_out = len(pts) - shown  # Lightning no slower there: a log scale cannot hold it
    words, more = instructions_words(paths)
    finest, more_resolved = resolved_words(paths)
    more += more_resolved
    th = thresholds(pts)
    per_machine = " and ".join(
        f"{t['median_us'] / 1e3:.1f} ms on {m} ({min(p['overhead_us'] for p in pts if p['machine'] == m) / 1e3:.1f}-"
        f"{max(p['overhead_us'] for p in pts if p['machine'] == m) / 1e3:.1f} ms over {t['n']} points)"
        for m, t in th.items()
    )
    above = (
        "; ".join(
            f"{t['above_us'][SHARES[0]] / 1e3:,.0f} ms and {t['above_us'][SHARES[1]] / 1e3:,.0f} ms ({m})"
            for m, t in th.items()
            if t["median_us"] > 0
        )
        or "none (no machine's median overhead is above zero)"
    )
    sources = sorted({p["source"].as_posix() for p in pts} | {s.as_posix() for s in more})
    return [
        f"{heading} The answer: what Lightning costs per step",
        "",
        f"- Lightning adds a roughly fixed time to every training step, whatever the model: a median of {per_machine}. "
        f"{finest}So its share falls as the step grows: it matters for small, fast steps and fades for large ones "
        "(the plot).",
        *words,
        f"- It falls below {100 * SHARES[0]:.0f}% and {100 * SHARES[1]:.0f}% of the step for raw steps longer than "
        f"{above}: each machine's median overhead over the share. Lightning computes the same numbers as the raw "
        "loop, bit for bit: this is the price of its features, not of other arithmetic.",
        f"- Sources: {', '.join(f'`{s}`' for s in sources)}."
        + (f" {left_out} point(s) where Lightning was no slower are not on the log plot." if left_out else ""),
        "",
        *(
            [f"![Lightning's overhead per step against the raw step]({(rel / plot.name).as_posix()})", ""]
            if shown
            else []
        ),
    ]


def splice(text: str, block: list[str]) -> str:
    """`text` with the block between the BEGIN and END markers replaced; refused where the markers are not there."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"no single {BEGIN!r} ... {END!r} pair to fill")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return head + BEGIN + "\n" + "\n".join(block) + END + tail
