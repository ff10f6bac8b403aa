"""Turn saved pytest-benchmark runs into results/REPORT.md and PNG plots.

    python -m benchmarks.report [--results results] [RUN.json ...]

Without files, it takes the newest full saved run (highest pytest-benchmark number holding the
step-cost cases) of every machine folder under --results. A file that is not valid pytest-benchmark
JSON is named and skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

from raw_torch.record import atomic_write  # noqa: E402

IMPL_COLORS = {"floor": "#9e9e9e", "raw": "#1f77b4", "lightning": "#792ee5"}


def step_us(m: dict) -> str:
    """A mean_ci dict in µs: mean ± half-width."""
    if math.isnan(m.get("ci", float("nan"))):
        return f"{m['mean'] * 1e6:,.1f}"
    return f"{m['mean'] * 1e6:,.1f} ± {m['ci'] * 1e6:,.1f}"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def ci_us(fit: dict, key: str = "b") -> str:
    value, half = fit[key], fit.get(f"{key}_ci", float("nan"))
    if math.isnan(half):
        return f"{us(value)}"
    return f"{us(value)} ± {us(half)}"


def ms_ci(fit: dict, key: str = "a") -> str:
    value, half = fit[key], fit.get(f"{key}_ci", float("nan"))
    return f"{value * 1e3:,.1f} ± {half * 1e3:,.1f}" if not math.isnan(half) else f"{value * 1e3:,.1f}"


def load_run(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "benchmarks" not in data or "machine_info" not in data:
            raise ValueError("no 'benchmarks' or 'machine_info' key")
        return data
    except (OSError, ValueError) as e:
        print(f"report: skipping {path}: not a complete pytest-benchmark file ({e})", file=sys.stderr)
        return None


def _complete_runs(paths, say_skipped: bool = True):
    """(path, text) of each file that parses as JSON, in the order given; a broken one is passed over."""
    for path in paths:
        try:
            text = path.read_text()
            json.loads(text)
        except (OSError, ValueError) as e:  # a broken newest file never hides the run before it
            if say_skipped:
                print(f"report: skipping {path}: not a complete pytest-benchmark file ({e})", file=sys.stderr)
            continue
        yield path, text


def newest_runs(results: Path) -> list[Path]:
    """The newest full run in each machine folder (results/<machine>/<pytest-benchmark id>/NNNN_*.json).

    A run is full when it holds the step-cost protocol; partial runs (a regression check with -k, say)
    are passed over here but can be named on the command line.
    """
    newest, fallback = {}, {}
    for path, text in _complete_runs(sorted(results.glob("*/*/[0-9][0-9][0-9][0-9]_*.json"))):  # ascending
        fallback[path.parent] = path
        if '"kind": "step_cost"' in text:
            newest[path.parent] = path
    return [newest.get(folder, path) for folder, path in fallback.items()]


def newest_resolve(folder: Path) -> Path | None:
    """The newest saved `nox -s resolve` run in a machine folder, if any (newest_runs named broken files)."""
    found = None
    for path, text in _complete_runs(sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.json")), say_skipped=False):
        if '"kind": "resolve"' in text:
            found = path
    return found


# --- plots ----------------------------------------------------------------------------------------


def save_figure(fig, path: Path) -> None:
    with atomic_write(path) as tmp:  # an interrupted report never leaves half a plot
        fig.savefig(tmp, dpi=110, format="png")


def plot_step_time(cases: list[dict], path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    labels = [c["case"] for c in cases]
    width = 0.27
    for k, impl in enumerate(("floor", "raw", "lightning")):
        vals = [c["step"][impl]["mean"] * 1e6 for c in cases]
        errs = [_nan0(c["step"][impl]["ci"]) * 1e6 for c in cases]
        xs = [i + (k - 1) * width for i in range(len(cases))]
        ax1.bar(xs, vals, width, yerr=errs, capsize=3, label=impl, color=IMPL_COLORS[impl])
    ax1.set_xticks(range(len(cases)), labels, rotation=30, ha="right", fontsize=8)
    ax1.set_ylabel("time per training step (µs)")
    ax1.set_title("Per-step time (step clock), 95% CI")
    ax1.legend()
    over = [c["overhead"]["step"]["mean"] * 1e6 for c in cases]
    errs = [_nan0(c["overhead"]["step"]["ci"]) * 1e6 for c in cases]
    ax2.bar(range(len(cases)), over, yerr=errs, capsize=4, color=IMPL_COLORS["lightning"])
    for i, c in enumerate(cases):
        ax2.annotate(f"{c['overhead']['pct']:+.0f}%", (i, 0), ha="center", va="bottom", fontsize=9, color="white",
                     xytext=(0, 6), textcoords="offset points")  # fmt: skip
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_xticks(range(len(cases)), labels, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("Lightning − raw, per step (µs)")
    ax2.set_title("Lightning's per-step overhead (paired), 95% CI; label: % of raw step")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_resolve(rows: list[dict], path: Path) -> None:
    """Per triple, in run order (dots): top, Lightning's median step minus raw's (the mean of its two runs);
    bottom, raw's second run minus its first (A/A). Lines and bands: the estimates over all triples, 95%."""
    fig, axes = plt.subplots(2, len(rows), figsize=(6.5 * len(rows), 7), squeeze=False, sharex="col")
    for col, r in enumerate(rows):
        med = r["per_run_median"]
        raw_mean = [(a + b) / 2 for a, b in zip(med["raw"], med["raw_again"], strict=True)]
        dots = {
            "overhead": [(lt - r0) * 1e6 for lt, r0 in zip(med["lightning"], raw_mean, strict=True)],
            "control": [(b - a) * 1e6 for a, b in zip(med["raw"], med["raw_again"], strict=True)],
        }
        panels = (
            ("overhead", IMPL_COLORS["lightning"], "Lightning − raw"),
            ("control", IMPL_COLORS["raw"], "raw again − raw (A/A)"),
        )
        for row, (key, color, what) in enumerate(panels):
            ax = axes[row][col]
            xs = range(1, len(dots[key]) + 1)
            dots_line = ax.plot(xs, dots[key], ".", color=color, alpha=0.6, label=f"one triple, median step: {what}")
            bounds = []  # every estimate's interval stays on the scale
            for q, style, name in (("q10", "-", "10th percentile"), ("q50", "--", "median")):
                est = r[q][key]
                value, half = est["value"] * 1e6, est.get("ci_drift", float("nan")) * 1e6
                which = "drift-aware"
                if math.isnan(half):  # one batch only (a single triple): no drift-aware interval
                    half, which = est["ci"] * 1e6, "bootstrap"
                label = f"all triples, {name}: {value:,.1f} ± {half:.1f} µs ({which})"
                ax.axhline(value, color="black", ls=style, lw=1, label=label)
                ax.axhspan(value - half, value + half, color="black", alpha=0.12 if q == "q10" else 0.06, lw=0)
                bounds += [value - half, value + half]
            edges, batches = r.get("batch_edges"), r["q10"][key].get("batches")
            if edges and batches:  # the 10th-percentile estimate of each batch of consecutive triples
                for b, (x0, x1) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                    ax.hlines(batches[b] * 1e6, x0 + 0.5, x1 + 0.5, color="#d62728", lw=2,
                              label="one batch of triples, 10th percentile" if b == 0 else None)  # fmt: skip
            # the scale follows the bulk of the triples and every estimate; a few wild triples fall off it
            lo, hi = sorted(dots[key])[len(dots[key]) // 50], sorted(dots[key])[-1 - len(dots[key]) // 50]
            lo, hi = min(lo, *bounds), max(hi, *bounds)
            pad = 0.08 * (hi - lo or 1)
            ax.set_ylim(lo - pad, hi + pad)
            off = sum(not lo - pad <= d <= hi + pad for d in dots[key])
            if off:
                dots_line[0].set_label(f"one triple, median step: {what} ({off} off the scale)")
            ax.set_ylabel(f"{what}, per step (µs)")
            ax.legend(fontsize=7, loc="best")
        axes[0][col].set_title(f"{r['workload']}: {r['triples']} triples × {r['steps_per_run']} steps, cpu 32-true")
        axes[1][col].set_xlabel("triple (in run order)")
    fig.suptitle("Lightning's per-step overhead (top) and the A/A control (bottom): estimates with 95% bands")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_features(rows: list[dict], path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    names = [r["feature"] for r in rows]
    for ax, get, unit, title in (
        (ax1, lambda o: (o["step"]["mean"] * 1e6, o["step"]["ci"] * 1e6), "µs per step", "Per-step: Lightning − raw"),
        (ax2, lambda o: (o["fit"]["a"] * 1e3, o["fit"]["a_ci"] * 1e3), "ms per run", "Fixed cost: Lightning − raw"),
    ):
        vals = [get(r["overhead"])[0] for r in rows]
        errs = [_nan0(get(r["overhead"])[1]) for r in rows]
        ax.barh(names, vals, xerr=errs, capsize=3, color=IMPL_COLORS["lightning"])
        ax.axvline(0, color="black", lw=0.8)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(title + ", 95% CI")
    fig.suptitle("Trainer features (autoencoder, cpu, 32-true): barebones, one feature added, default")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_scaling(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for sweep, marker in (("width", "o"), ("batch", "s")):
        pts = [r for r in rows if r["sweep"] in (sweep, "both")]
        pts.sort(key=lambda r: r["step"]["raw"]["mean"])
        xs = [r["step"]["raw"]["mean"] * 1e3 for r in pts]
        ys = [r["overhead"]["pct"] for r in pts]
        es = [_nan0(r["overhead"]["pct_ci"]) for r in pts]
        ax.errorbar(xs, ys, yerr=es, marker=marker, capsize=3, label=f"{sweep} sweep")
        for r, x, y in zip(pts, xs, ys, strict=False):
            ax.annotate(
                f"h{r['hidden']} b{r['batch_size']}",
                (x, y),
                fontsize=7,
                xytext=(4, 4 if sweep == "width" else -12),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.5, 1, 2, 5, 10, 20, 50, 100, 200]))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("raw step time (ms, log scale)")
    ax.set_ylabel("Lightning per-step overhead (% of raw step)")
    ax.set_title("Overhead fades as the step grows (autoencoder, cpu, 32-true), 95% CI")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_startup_memory(startup: dict, memory: list[dict], path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    names, vals, errs = [], [], []
    for name, (median, spread) in startup.items():
        names.append(name)
        vals.append(median * 1e3)
        errs.append(spread * 1e3)
    ax1.barh(names, vals, xerr=errs, capsize=3, color="#555")
    for y, (v, e) in enumerate(zip(vals, errs, strict=True)):
        ax1.annotate(f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms", (v + e, y), va="center", fontsize=8,
                     xytext=(6, 0), textcoords="offset points")  # fmt: skip
    ax1.set_xlim(0, max(vals + [1]) * 1.2)
    ax1.invert_yaxis()
    ax1.set_xlabel("ms (median; bar: interquartile range / 2)")
    ax1.set_title("Start-up")
    cases = sorted({m["case"] for m in memory})
    width = 0.4
    top = 0.0
    for k, impl in enumerate(("raw", "lightning")):
        vals = [_mem(memory, c, impl) for c in cases]
        top = max([top] + vals)
        ax2.bar([i + (k - 0.5) * width for i in range(len(cases))], vals, width, label=impl, color=IMPL_COLORS[impl])
    ax2.set_xticks(range(len(cases)), cases, rotation=20, ha="right", fontsize=8)
    ax2.set_ylabel("MiB (CPU: peak RSS of the process; CUDA: max allocated)")
    ax2.set_title("Peak memory")
    ax2.set_ylim(0, top * 1.2)  # headroom, so the legend covers no bar
    ax2.legend(loc="upper left", ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _mem(memory: list[dict], case: str, impl: str) -> float:
    for m in memory:
        if m["case"] == case and m["impl"] == impl:
            return m.get("peak_rss_mb", m.get("cuda_max_allocated_mb", float("nan")))
    return float("nan")


def _nan0(x: float) -> float:
    return 0.0 if x is None or math.isnan(x) else x


def _median_iqr(values: list[float]) -> tuple[float, float]:
    v = sorted(values)
    q = lambda p: v[min(len(v) - 1, max(0, round(p * (len(v) - 1))))]  # noqa: E731
    return q(0.5), (q(0.75) - q(0.25)) / 2


# --- the report -----------------------------------------------------------------------------------


def machine_section(path: Path, data: dict, plots: Path, rel: Path) -> list[str]:
    mi = data["machine_info"]
    p = mi.get("paired", {})
    benches = data["benchmarks"]
    by_kind: dict[str, list[dict]] = {}
    for b in benches:
        by_kind.setdefault(b.get("extra_info", {}).get("kind", "?"), []).append(b)
    machine = path.parent.parent.name
    tag = machine
    out = [
        f"## {machine}",
        "",
        f"Source: `{path.as_posix()}` (pytest-benchmark {data.get('version', '?')}, {data.get('datetime', '?')}, "
        f"commit {data.get('commit_info', {}).get('id', '?')[:10]}"
        f"{' (dirty)' if data.get('commit_info', {}).get('dirty') else ''}).",
        "",
        f"Machine: {p.get('cpu_model', mi.get('cpu', {}).get('brand_raw', '?'))}, {p.get('cpu_count', '?')} cores, "
        f"torch threads {p.get('torch_threads', '?')}; GPU: {p.get('gpu') or 'none'}. "
        f"Python {p.get('python', mi.get('python_version'))}, torch {p.get('torch')}, "
        f"pytorch-lightning {p.get('pytorch_lightning')}, CUDA runtime {p.get('cuda')}.",
        "",
    ]

    steps = [b["extra_info"] for b in by_kind.get("step_cost", [])]
    if steps:
        rounds = sorted({s["rounds"] for s in steps})
        plot_step_time(steps, plots / f"{tag}-step_time.png")
        out += [
            "### Per-step cost and Lightning's overhead",
            "",
            f"Protocol: {' or '.join(map(str, rounds))} rounds per case (the 32-true cases the most); each round runs "
            "every length once per implementation (raw and Lightning back to back, alternating which goes first, "
            "then the floor); one untimed warm-up run of each first; before every run `gc.collect()` then "
            "`gc.freeze()`, so the collector (still on) does not walk the benchmark process's own heap. Lengths "
            "n = epochs × limit_train_batches (minimal: 4 epochs × 50 or 100 batches of 4; autoencoder: 2 epochs "
            "× 80 or 160 batches of 32, synthetic data). **Per-step** times come from the step clock (the time "
            "each training batch is fetched, by a wrapper around the shared DataLoader's batch sampler: the mean "
            "interval within epochs); the overhead is the mean of the paired Lightning − raw differences. The "
            "slope of the paired wall-time differences against n is shown as a cross-check, and their "
            "intercept is the **fixed** overhead. The floor is the same training step on batches already on the "
            "device, no DataLoader, no loop. All intervals are 95% (Student t). All Trainer features on except "
            "the progress bar (its cost is in the feature table). `16-mixed` on CPU is real fp16 autocast with a "
            "GradScaler on both sides (Lightning through `MixedPrecision('16-mixed', 'cpu')`, since "
            "`precision='16-mixed'` on CPU silently becomes bf16).",
            "",
            "| case | floor µs/step | raw µs/step | Lightning µs/step | overhead µs/step | overhead % of raw | "
            "overhead from t(n) slope | raw − floor µs/step | fixed overhead ms | samples/s raw / Lightning |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in steps:
            st, o = s["step"], s["overhead"]
            out.append(
                f"| {s['case']} | {step_us(st['floor'])} | {step_us(st['raw'])} | {step_us(st['lightning'])} | "
                f"**{step_us(o['step'])}** | {o['pct']:+.1f} ± {_nan0(o['pct_ci']):.1f} | {ci_us(o['fit'])} | "
                f"{step_us(s['raw_over_floor']['step'])} | {ms_ci(o['fit'])} | "
                f"{s['throughput']['raw']:,.0f} / {s['throughput']['lightning']:,.0f} |"
            )
        fp32 = [s for s in steps if s["precision"] == "32-true"]
        if fp32:
            res = ", ".join(f"±{s['overhead']['step']['ci'] * 1e6:.0f} µs ({s['workload']})" for s in fp32)
            cv = ", ".join(f"{100 * s['step']['floor']['sd'] / s['step']['floor']['mean']:.0f}%" for s in fp32)
            out += [
                "",
                f"**Resolution.** The 95% interval of the 32-true per-step overhead is {res}; the suite's target "
                f"is ±10 µs. What limits it here is the host, not the method: the floor, which is pure compute "
                f"with no framework at all, varies by {cv} (standard deviation over mean) from run to run on "
                "this machine. The interval narrows with the square root of the rounds (`PAIRED_BENCH_ROUNDS`); "
                "`nox -s resolve` asks the same question with about ten times the runs and an estimator that "
                "leaves the host's interference out (next section, where a saved run exists).",
            ]
        out += ["", f"![per-step time and overhead]({(rel / f'{tag}-step_time.png').as_posix()})", ""]
        out += [
            "Fixed cost a per implementation (ms, a whole run minus its steps: data, model, set-up, sanity "
            "check, per-epoch validation and checkpoints, test):",
            "",
            "| case | raw a (ms) | Lightning a (ms) | residual sd raw / Lightning (ms) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for s in steps:
            f = s["fits"]
            out.append(
                f"| {s['case']} | {ms_ci(f['raw'])} | {ms_ci(f['lightning'])} | "
                f"{f['raw'].get('resid_sd', float('nan')) * 1e3:.1f} / "
                f"{f['lightning'].get('resid_sd', float('nan')) * 1e3:.1f} |"
            )
        out.append("")

    out += resolve_section(path, by_kind, plots / f"{tag}-resolve.png", rel)

    feats = [b["extra_info"] for b in by_kind.get("feature", [])]
    if feats:
        plot_features(feats, plots / f"{tag}-features.png")
        out += [
            "### What each Trainer feature costs",
            "",
            f"Autoencoder, cpu, 32-true, synthetic data, {feats[0]['rounds']} rounds. Each row: both sides with "
            "that feature alone on (barebones: all off; default: all on). The raw side has no model summary. "
            "With this few rounds the rows' intervals overlap: read a feature's cost as its row minus barebones "
            "only where the intervals separate; the Lightning µs/step column shows what the feature adds to "
            "Lightning alone. Lightning's progress bar redraws every step (`refresh_rate=1`); the raw loop's "
            "tqdm redraws at most every 0.1 s (its default).",
            "",
            "| feature | raw µs/step | Lightning µs/step | overhead µs/step | raw a (ms) | Lightning a (ms) | "
            "fixed overhead ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in feats:
            f, st, o = r["fits"], r["step"], r["overhead"]
            out.append(
                f"| {r['feature']} | {step_us(st['raw'])} | {step_us(st['lightning'])} | **{step_us(o['step'])}** | "
                f"{ms_ci(f['raw'])} | {ms_ci(f['lightning'])} | {ms_ci(o['fit'])} |"
            )
        out += ["", f"![feature costs]({(rel / f'{tag}-features.png').as_posix()})", ""]

    scal = [b["extra_info"] for b in by_kind.get("scaling", [])]
    if scal:
        for r in scal:
            r["sweep"] = (
                "both"
                if (r["hidden"], r["batch_size"]) == (64, 32)
                else ("width" if r["batch_size"] == 32 else "batch")
            )
        plot_scaling(scal, plots / f"{tag}-scaling.png")
        out += [
            "### Scaling: overhead against model and batch size",
            "",
            f"Autoencoder, cpu, 32-true, synthetic data, {scal[0]['rounds']} rounds per point.",
            "",
            "| hidden | batch | raw µs/step | Lightning µs/step | overhead µs/step | overhead % |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in sorted(scal, key=lambda r: (r["batch_size"], r["hidden"])):
            st, o = r["step"], r["overhead"]
            out.append(
                f"| {r['hidden']} | {r['batch_size']} | {step_us(st['raw'])} | {step_us(st['lightning'])} | "
                f"{step_us(o['step'])} | {o['pct']:+.1f} ± {_nan0(o['pct_ci']):.1f} |"
            )
        out += ["", f"![scaling]({(rel / f'{tag}-scaling.png').as_posix()})", ""]

    startup = {}
    for b in by_kind.get("imports", []):
        e = b["extra_info"]
        startup["import torch"] = _median_iqr(e["torch_s"])
        startup["import pytorch_lightning (after torch)"] = _median_iqr(e["lightning_s"])
    for b in by_kind.get("trainer_construction", []):
        startup["Trainer(...) construction"] = (b["stats"]["median"], b["stats"]["iqr"] / 2)
    for b in by_kind.get("one_step", []):
        e = b["extra_info"]
        startup[f"one-step run, {e['workload']}, {e['impl']}"] = (b["stats"]["median"], b["stats"]["iqr"] / 2)
    memory = [b["extra_info"] for b in by_kind.get("memory", [])]
    if startup or memory:
        plot_startup_memory(startup, memory, plots / f"{tag}-startup_memory.png")
        out += [
            "### Start-up and memory",
            "",
            "| what | median ms | IQR/2 ms |",
            "| --- | ---: | ---: |",
        ]
        out += [f"| {k} | {m * 1e3:,.1f} | {s * 1e3:,.1f} |" for k, (m, s) in startup.items()]
        out += ["", "| case | raw MiB | Lightning MiB | measured as |", "| --- | ---: | ---: | --- |"]
        for c in sorted({m["case"] for m in memory}):
            how = "peak RSS, fresh process" if "-cpu-" in c else "torch.cuda.max_memory_allocated"
            out.append(f"| {c} | {_mem(memory, c, 'raw'):,.0f} | {_mem(memory, c, 'lightning'):,.0f} | {how} |")
        out += ["", f"![start-up and memory]({(rel / f'{tag}-startup_memory.png').as_posix()})", ""]

    fits = by_kind.get("fit", [])
    if fits:
        out += [
            "### pytest-benchmark entries: one whole run at the longest length",
            "",
            "What `--benchmark-compare-fail` checks. Floor rows time the step loop alone.",
            "",
            "| group | impl | rounds | min s | median s | IQR s | stddev s |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for b in fits:
            st = b["stats"]
            out.append(
                f"| {b['group']} | {b['extra_info']['impl']} | {st['rounds']} | {st['min']:.4f} | "
                f"{st['median']:.4f} | {st['iqr']:.4f} | {st['stddev']:.4f} |"
            )
        out.append("")
    return out


def resolve_section(path: Path, by_kind: dict, plot: Path, rel: Path) -> list[str]:
    """The `nox -s resolve` run: from this file, or else the newest one beside it."""
    source, data = path, None
    rows = [b["extra_info"] for b in by_kind.get("resolve", [])]
    if not rows:
        source = newest_resolve(path.parent)
        data = load_run(source) if source else None
        rows = (
            [b["extra_info"] for b in data["benchmarks"] if b.get("extra_info", {}).get("kind") == "resolve"]
            if data
            else []
        )
    if not rows:
        return []
    rederived = [r["workload"] for r in rows if _rederive(r)]
    plot_resolve(rows, plot)
    commit = ""
    if source != path and data:
        ci = data.get("commit_info", {})
        commit = (
            f" ({data.get('datetime', '?')}, commit {ci.get('id', '?')[:10]}{' (dirty)' if ci.get('dirty') else ''})"
        )
    out = [
        "### Resolution: the 32-true per-step overhead to ±10 µs",
        "",
        f"Source: `{source.as_posix()}`{commit}, made by `nox -s resolve`. Protocol (`harness.resolve`): "
        "for a number of triples fixed before the first run, raw, Lightning, then raw again, back to back, "
        "each a whole run at the longest length of the step-cost case; every step interval recorded by the "
        f"step clock, less the first {rows[0]['warmup']} of each epoch. Per step position, a percentile "
        "over runs: the **10th percentile** is the step's cost with the host's interference left out as far "
        "as the data allow (interference only adds time; whatever the code does at a position, such as "
        "logging every 50 steps, is in every run and stays in); the median is shown beside it. Overhead = "
        "the mean over positions of Lightning's percentile minus raw's. A/A control: raw's second runs against "
        "its first, the same code against itself. Two 95% intervals: **drift-aware** (batch means: the "
        "estimate in each of "
        f"{len(rows[0].get('batch_edges', [0, 0])) - 1} consecutive batches of triples, Student t on their "
        "spread; a host that speeds up and slows down over minutes widens it) and, beside it, the percentile "
        f"bootstrap over triples ({rows[0]['boot']} draws), which is right only if the triples were "
        "independent. The last column is the default "
        "protocol's estimator (mean interval per run, paired, Student t) on the same runs.",
        "",
        "| workload | triples × steps | raw µs/step (p10) | Lightning µs/step (p10) | **overhead p10, drift-aware** | "
        "overhead p10, bootstrap | p10 per batch, min – max | A/A control p10, drift-aware | overhead median, "
        "drift-aware | overhead, mean per run |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def iv(m: dict, key: str = "ci_drift") -> str:
        half = m.get(key, float("nan"))
        return f"{m['value'] * 1e6:,.1f}" + ("" if math.isnan(half) else f" ± {half * 1e6:.1f}")

    for r in rows:
        q10, q50 = r["q10"], r["q50"]
        batches = q10["overhead"].get("batches") or [float("nan")]
        out.append(
            f"| {r['workload']} | {r['triples']} × {r['steps_per_run']} | {iv(q10['raw'])} | {iv(q10['lightning'])} "
            f"| **{iv(q10['overhead'])}** | {iv(q10['overhead'], 'ci')} | "
            f"{min(batches) * 1e6:,.1f} – {max(batches) * 1e6:,.1f} | {iv(q10['control'])} | {iv(q50['overhead'])} "
            f"| {step_us(r['mean_paired'])} |"
        )
    met = []
    for r in rows:
        o = r["q10"]["overhead"]
        half = o.get("ci_drift", float("nan"))
        if math.isnan(half):
            met.append(f"{r['workload']}: no drift-aware interval, one batch only (bootstrap ±{o['ci'] * 1e6:.1f} µs)")
        else:
            verdict = "met" if half <= 10e-6 else "not met"
            met.append(f"{r['workload']} {verdict} (±{half * 1e6:.1f} µs; the bootstrap alone: ±{o['ci'] * 1e6:.1f})")
    out += ["", f"**Target ±10 µs (95% half-width, 10th percentile, drift-aware):** {'; '.join(met)}.", ""]
    if rederived:
        out += [
            f"This run was saved before the drift-aware interval existed: its estimates ({', '.join(rederived)}) "
            "are re-derived here from the step intervals it stored, by today's `harness.analyse_resolve`.",
            "",
        ]
    out += [f"![overhead resolution]({(rel / plot.name).as_posix()})", ""]
    return out


def _rederive(row: dict) -> bool:
    """A resolve entry saved before the drift-aware interval: recompute its estimates from its stored step
    intervals (all of them are in the JSON), with the current estimator. True if it did."""
    if "ci_drift" in row["q10"]["overhead"] or "intervals_us" not in row:
        return False
    import numpy as np

    from benchmarks.harness import analyse_resolve

    intervals = {
        key: np.array([r.split() if isinstance(r, str) else r for r in runs], float) * 1e-6
        for key, runs in row["intervals_us"].items()
    }
    row.update(analyse_resolve(intervals, boot=row.get("boot", 2000)))
    return True


def build_report(paths: list[Path], results: Path) -> str:
    plots = results / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmark report",
        "",
        "Made by `nox -s report` from the newest saved run of each machine folder in `results/`; every number "
        "below is read from that JSON (written by `nox -s bench`). How it is measured: `benchmarks/harness.py`.",
        "",
    ]
    for path in paths:
        data = load_run(path)
        if data is not None:
            lines += machine_section(path, data, plots, Path("plots"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path, help="pytest-benchmark JSON files (default: newest per machine)")
    ap.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results/)")
    args = ap.parse_args(argv)
    paths = args.runs or newest_runs(args.results)
    if not paths:
        print(f"report: no saved runs under {args.results}/ (run `nox -s bench` first)", file=sys.stderr)
        return 2
    text = build_report(paths, args.results)
    target = args.results / "REPORT.md"
    with atomic_write(target) as tmp:  # never half a report
        tmp.write_text(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
