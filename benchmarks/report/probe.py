"""The report's probe section: the shipped examples' probe runs (results/probe/<name>/probe.json, written by
`python -m benchmarks.probe ... --out results/probe/<name>`), next to what their threads concluded."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report.fmt import us_whole
from benchmarks.store.runs import NotARun, read, say_skipping

# What each thread in Lightning's tracker asked and how it ended (its labels and the last maintainers' word).
THREADS = {
    "issue6196": (
        "[#6196](https://github.com/Lightning-AI/pytorch-lightning/issues/6196): an autoencoder on dummy data "
        'on CPU, "Lightning runs much slower"; closed as *won\'t fix / working as intended*, with no number '
        "for what Lightning adds per step."
    ),
    "issue8857": (
        "[#8857](https://github.com/Lightning-AI/pytorch-lightning/issues/8857): logistic regression with SGD "
        'on CPU, "much slower than native PyTorch"; closed as *won\'t fix*, with no number for where the time '
        "goes."
    ),
}


def probe_runs(results: Path) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted((results / "probe").glob("*/probe.json")):
        try:
            data = read(path)
        except NotARun as e:
            say_skipping(path, e)
            continue
        if data.get("kind") == "probe":
            found.append((path, data))
    return found


def probe_section(results: Path, rel: Path) -> list[str]:
    runs = probe_runs(results)
    if not runs:
        return []
    lines = [
        "## Your own model: the probe",
        "",
        "`python -m benchmarks.probe PKG.MODULE:CLASS --data PKG.MODULE:NAME` (`nox -s probe -- ...`, "
        "[docs/probe.md](../docs/probe.md)) puts any LightningModule beside a plain loop over the same module: "
        "bitwise parity, µs per step by the paired protocol, and with `--instructions` Lightning's extra "
        "instructions by part. The plain loop does not log (`self.log` returns at once outside a Trainer), so "
        "Lightning's logging is part of the overhead below. Here, the two reproducers from Lightning's tracker "
        "that ship in `benchmarks/probe/examples/`, each in `results/probe/<name>/` with its own probe.md.",
        "",
        "| example | the thread | parity | plain µs/step | Lightning µs/step | overhead µs/step (% of plain) | "
        "M instructions/step (largest parts) |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for path, data in runs:
        r, name = data["result"], path.parent.name
        p = r["probe"]
        same = "not checked" if r["parity"] is None else r["parity"]["verdict"]
        counted = "—"
        if r["instructions"]:
            c = r["instructions"]
            top = [(k.split(": ", 1)[-1], v) for k, v in list(c["components"].items())[:3]]
            parts = ", ".join(f"{k} {100 * v / c['overhead']:.0f} %" for k, v in top)
            counted = f"+{c['overhead'] / 1e6:.2f} ({parts})"
        lines.append(
            f"| [{p['class']}]({rel}/probe/{name}/probe.md) ({p['steps']} steps, {p['precision']}) | "
            f"{THREADS.get(name, '')} | {same} | {us_whole(r['step_us']['plain'])} | "
            f"{us_whole(r['step_us']['lightning'])} | "
            f"{us_whole(r['overhead_us'])} ({r['overhead_pct']:.0f} %) | {counted} |"
        )
    lines.append("")
    for _, data in runs:
        ladder = data["result"].get("ladder_us")
        if ladder:
            words = "; ".join(f"{k}: {m['mean']:+,.0f} ± {m['ci']:,.0f} µs" for k, m in ladder.items())
            lines.append(f"- {data['result']['probe']['class']}, what each Trainer feature adds per step: {words}.")
    sources = ", ".join(f"`{p}`" for p, _ in runs)
    lines += ["", f"Sources: {sources}, made by the commands in [docs/probe.md](../docs/probe.md#the-shipped-examples) "
              "(`--device cpu --ladder --instructions`, the default 200 steps and 10 rounds).", ""]  # fmt: skip
    return lines
