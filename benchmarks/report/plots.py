"""The report's plots, one function per figure, each written atomically (never half a PNG)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

from raw_torch.common.files import atomic_write  # noqa: E402

IMPL_COLORS = {"floor": "#9e9e9e", "raw": "#1f77b4", "lightning": "#792ee5"}


def save_figure(fig, path: Path) -> None:
    with atomic_write(path) as tmp:  # an interrupted report never leaves half a plot
        fig.savefig(tmp, dpi=110, format="png")


def plot_step_time(cases: list[dict], path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    labels = [c["case"] for c in cases]
    width = 0.27
    for k, impl in enumerate(("floor", "raw", "lightning")):
        vals = [c["step"][impl]["mean"] * 1e6 for c in cases]
        errs = [nan0(c["step"][impl]["ci"]) * 1e6 for c in cases]
        xs = [i + (k - 1) * width for i in range(len(cases))]
        ax1.bar(xs, vals, width, yerr=errs, capsize=3, label=impl, color=IMPL_COLORS[impl])
    ax1.set_xticks(range(len(cases)), labels, rotation=30, ha="right", fontsize=8)
    ax1.set_ylabel("time per training step (µs)")
    ax1.set_title("Per-step time (step clock), 95% CI")
    ax1.legend()
    over = [c["overhead"]["step"]["mean"] * 1e6 for c in cases]
    errs = [nan0(c["overhead"]["step"]["ci"]) * 1e6 for c in cases]
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


def plot_gpu_scaling(rows: list[dict], path: Path) -> None:
    """Lightning's overhead in % (left) and in µs (right) against the raw step's time, one marker per precision."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for precision, marker in (("32-true", "o"), ("bf16-mixed", "s"), ("16-mixed", "^")):
        pts = sorted((r for r in rows if r["precision"] == precision), key=lambda r: r["step"]["raw"]["mean"])
        if not pts:
            continue
        xs = [r["step"]["raw"]["mean"] * 1e3 for r in pts]
        for ax, ys, es in (
            (axes[0], [r["overhead"]["pct"] for r in pts], [nan0(r["overhead"]["pct_ci"]) for r in pts]),
            (
                axes[1],
                [r["overhead"]["step"]["mean"] * 1e6 for r in pts],
                [nan0(r["overhead"]["step"]["ci"]) * 1e6 for r in pts],
            ),
        ):
            ax.errorbar(xs, ys, yerr=es, marker=marker, capsize=3, label=precision)
            for r, x, y in zip(pts, xs, ys, strict=True):
                ax.annotate(f"h{r['hidden']} b{r['batch_size']}", (x, y), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")  # fmt: skip
    for ax, label in ((axes[0], "Lightning overhead (% of raw step)"), (axes[1], "Lightning − raw per step (µs)")):
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("raw step time (ms, log scale)")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle("Overhead against the raw step on the GPU (autoencoder, data on the device), 95% CI")
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
        errs = [nan0(get(r["overhead"])[1]) for r in rows]
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
        es = [nan0(r["overhead"]["pct_ci"]) for r in pts]
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
    if not startup:  # a run with memory cases only (the CUDA matrix): one panel
        fig, ax2 = plt.subplots(figsize=(8, 6))
        _plot_memory(ax2, memory)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
        return
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
    _plot_memory(ax2, memory)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _plot_memory(ax2, memory: list[dict]) -> None:
    cases = sorted({m["case"] for m in memory})
    width = 0.4
    top = 0.0
    for k, impl in enumerate(("raw", "lightning")):
        vals = [peak_mb(memory, c, impl) for c in cases]
        top = max([top] + vals)
        ax2.bar([i + (k - 0.5) * width for i in range(len(cases))], vals, width, label=impl, color=IMPL_COLORS[impl])
    ax2.set_xticks(range(len(cases)), cases, rotation=20, ha="right", fontsize=8)
    ax2.set_ylabel("MiB (CPU: peak RSS of the process; CUDA: max allocated)")
    ax2.set_title("Peak memory")
    if top > 0:  # a run saved in parts may hold no memory case
        ax2.set_ylim(0, top * 1.2)  # headroom, so the legend covers no bar
    ax2.legend(loc="upper left", ncol=2)


def peak_mb(memory: list[dict], case: str, impl: str) -> float:
    for m in memory:
        if m["case"] == case and m["impl"] == impl:
            return m.get("peak_rss_mb", m.get("cuda_max_allocated_mb", float("nan")))
    return float("nan")


def nan0(x: float) -> float:
    return 0.0 if x is None or math.isnan(x) else x


# Parts grouped for the stacked bars (the report's table has every part): (group, parts it holds, colour).
# A part named nowhere lands in the last group, so each bar's height is the measured total.
INSTRUCTION_GROUPS = (
    ("tensor work: torch operators, MKL", ("native: torch operators", "native: MKL and OpenMP"), "#4c72b0"),
    ("native glue: bindings, libc, other", ("native: torch Python bindings", "native: libc and loader",
                                            "native: other native"), "#8da0cb"),
    ("Python: model forward and loss", ("Python: model forward and loss",), "#55a868"),
    ("Python: torch (optimizer, autograd, DataLoader)", ("Python: optimizer and GradScaler (Python)",
     "Python: other torch Python (autograd, tensor methods)", "Python: DataLoader"), "#a6d854"),
    ("Python: raw loop", ("Python: raw loop",), "#1f77b4"),
    ("Python: Lightning self.log and results", ("Python: Lightning: self.log and results",), "#c44e52"),
    ("Python: Lightning hook dispatch, profiler, signature checks", ("Python: Lightning: hook dispatch",
     "Python: Lightning: profiler (PassThroughProfiler)", "Python: Lightning: hook signature checks (inspect)"),
     "#dd8452"),
    ("Python: Lightning loops, fetcher, closure, Trainer, other", ("Python: Lightning: loops and progress tracking",
     "Python: Lightning: data fetcher", "Python: Lightning: optimizer closure, strategy, precision",
     "Python: Lightning: batch transfer to the device", "Python: Lightning: Trainer state and properties",
     "Python: Lightning: other", "Python: Lightning: other callbacks (checkpoint, summary)"), "#792ee5"),
    ("Python: our callbacks", ("Python: our callbacks (History, RunState)",), "#937860"),
    ("Python: CUDA availability check (NVML), set off by importing Lightning",
     ("Python: CUDA availability check (NVML, every optimizer step)",), "#e5ae38"),
    ("interpreter: the floor's (not split), the garbage collector", ("interpreter",
     "interpreter: cyclic garbage collector"), "#666666"),
    ("Python: progress bar, TensorBoard, other", (), "#bbbbbb"),  # everything else
)  # fmt: skip


def _grouped(parts: dict[str, float]) -> list[float]:
    named = {k for _, keys, _ in INSTRUCTION_GROUPS for k in keys}
    values = [sum(parts.get(k, 0.0) for k in keys) for _, keys, _ in INSTRUCTION_GROUPS]
    values[-1] += sum(v for k, v in parts.items() if k not in named)
    return values


def plot_instructions(info: dict, path: Path) -> None:
    """Stacked bars of instructions per step by part: per workload, the floor, raw, Lightning's leanest
    (barebones) where measured, Lightning as benchmarked, and Lightning with every feature on."""

    def pick(**match):
        return next((i for i in info["items"] if all(i.get(k) == v for k, v in match.items())), None)

    bars = []
    for w in ("minimal", "autoencoder"):
        main = dict(group="main", workload=w, precision="32-true")
        for label, item in (
            ("floor", pick(**main, impl="floor")),
            ("raw", pick(**main, impl="raw")),
            ("Lightning\nbarebones", pick(group="ladder", workload=w, rung="barebones=True, no self.log")),
            ("Lightning\nas benchmarked", pick(**main, impl="lightning")),
            ("Lightning\nall features", pick(group="ladder", workload=w, impl="lightning", rung="default (all on)")),
        ):
            if item is not None:
                bars.append((f"{w}\n{label}", item["parts"]))
    fig, ax = plt.subplots(figsize=(13, 5.5))
    bottoms = [0.0] * len(bars)
    grouped = [_grouped(parts) for _, parts in bars]
    for g, (name, _, color) in enumerate(INSTRUCTION_GROUPS):
        vals = [row[g] / 1e6 for row in grouped]
        if any(vals):
            ax.bar(range(len(bars)), vals, 0.6, bottom=bottoms, label=name, color=color)
            bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    for i, top in enumerate(bottoms):
        ax.annotate(f"{top:,.1f} M", (i, top), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")  # fmt: skip
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.set_ylabel("instructions per training step (millions)")
    ax.set_ylim(0, max(bottoms + [1]) * 1.12)
    ax.set_title("Instructions per step by part (callgrind; cpu, 32-true): what Lightning adds, and where")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_ddp(cases: list[dict], path: Path) -> None:
    """Per case, µs per step (rank 0) of the floor, raw and Lightning at world size 1 and 2 (left), and what DDP
    adds to each, world size 2 minus 1 (right); 95% intervals."""
    impls = ("floor", "raw", "lightning")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.13
    labels = [f"{c['workload']} {c['precision']}" for c in cases]
    for k, impl in enumerate(impls):
        for j, w in enumerate(("1", "2")):
            vals = [c["worlds"][w]["step"][impl]["mean"] * 1e6 for c in cases]
            errs = [nan0(c["worlds"][w]["step"][impl]["ci"]) * 1e6 for c in cases]
            xs = [i + (2 * k + j - 2.5) * width for i in range(len(cases))]
            ax1.bar(xs, vals, width, yerr=errs, capsize=2, color=IMPL_COLORS[impl], alpha=0.55 if w == "1" else 1.0,
                    label=f"{impl}, {w} rank{'s' if w == '2' else ''}")  # fmt: skip
    ax1.set_xticks(range(len(cases)), labels)
    ax1.set_ylabel("time per training step (µs), rank 0")
    ax1.set_title("Per-step time at world size 1 (pale) and 2, 95% CI")
    ax1.set_ylim(top=ax1.get_ylim()[1] * 1.25)  # room for the legend above the bars
    ax1.legend(fontsize=7, ncol=3, loc="upper right")
    bars = [(f"{impl}: 2 − 1", lambda c, i=impl: c["ddp"][i], dict(color=IMPL_COLORS[impl])) for impl in impls]
    bars += [
        ("the all-reduce alone", lambda c: c.get("allreduce"),
         dict(color="white", edgecolor=IMPL_COLORS["floor"], hatch="//")),
        ("Lightning − raw: 2 − 1", lambda c: c["overhead_change"], dict(color="#c9b3f0")),
        ("Lightning's SIGTERM broadcast alone", lambda c: c.get("sigterm_broadcast"),
         dict(color="white", edgecolor=IMPL_COLORS["lightning"], hatch="//")),
        ("what leaving the broadcast out saves Lightning (paired)",
         lambda c: c.get("without_broadcast", {}).get("saves"),
         dict(color="white", edgecolor=IMPL_COLORS["lightning"], hatch="xx")),
        ("Lightning without the broadcast − raw: 2 − 1",
         lambda c: c.get("without_broadcast", {}).get("overhead_change"), dict(color="#e6dcf7", edgecolor="#c9b3f0")),
    ]  # fmt: skip
    width = 0.8 / len(bars)
    for k, (label, pick, style) in enumerate(bars):
        if any(pick(c) is None for c in cases):
            continue  # a run saved before that part was measured
        vals = [pick(c)["mean"] * 1e6 for c in cases]
        errs = [nan0(pick(c)["ci"]) * 1e6 for c in cases]
        xs = [i + (k - (len(bars) - 1) / 2) * width for i in range(len(cases))]
        ax2.bar(xs, vals, width, yerr=errs, capsize=2, label=label, **style)
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_xticks(range(len(cases)), labels)
    ax2.set_ylabel("world size 2 − world size 1, per step (µs)")
    ax2.set_title("What DDP adds to a step, and its parts timed alone, 95% CI")
    ax2.set_ylim(top=ax2.get_ylim()[1] * 1.3)  # room for the legend above the bars
    ax2.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


ANSWER_MARKERS = {"cases": "o", "sweep": "s", "DDP, 2 ranks": "D"}
ANSWER_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e")


def plot_answer(points: list[dict], path: Path, shares: tuple[float, ...]) -> int:
    """Lightning's overhead per step (µs) against the raw step (µs), both log scales, every measured point with
    its 95% interval, labelled by case; one colour per machine, one marker per kind of run; dashed guide lines
    where the overhead is each share (100%, 10%, 1%) of the raw step."""
    shown = [p for p in points if p["overhead_us"] > 0 and p["raw_us"] > 0]  # a log scale holds no value <= 0
    if not shown:
        return 0
    fig, ax = plt.subplots(figsize=(10, 6.5))
    machines = list(dict.fromkeys(p["machine"] for p in points))
    labels = []
    for m, color in zip(machines, ANSWER_COLORS, strict=False):
        for kind, marker in ANSWER_MARKERS.items():
            pts = [p for p in shown if p["machine"] == m and p["kind"] == kind]
            if not pts:
                continue
            xs, ys = [p["raw_us"] for p in pts], [p["overhead_us"] for p in pts]
            lo = [min(nan0(p["ci_us"]), 0.95 * p["overhead_us"]) for p in pts]  # the bar stays above zero
            hi = [nan0(p["ci_us"]) for p in pts]
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker, color=color, capsize=2, ms=5, lw=0.8,
                        label=f"{m}: {kind} ({', '.join(sorted({p['source'].name for p in pts}))})")  # fmt: skip
            labels += [(p["label"], x, y, color) for p, x, y in zip(pts, xs, ys, strict=True)]
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = [p["raw_us"] for p in shown]
    x0, x1 = min(xs) / 2, max(xs) * 4
    ax.set_xlim(x0, x1)
    ys = [p["overhead_us"] for p in shown]
    ax.set_ylim(min(ys) / 4, max(max(ys) * 3, x1 * min(shares) * 2))
    y1 = ax.get_ylim()[1]
    for share in (1.0, *shares):
        ax.plot([x0, x1], [x0 * share, x1 * share], ls="--", lw=0.8, color="#777777")
        x = min(x1 / 1.1, y1 / 1.25 / share)  # where the line leaves the plot, at its right or its top
        ax.annotate(f"overhead = {100 * share:g}% of the step", (x, x * share), fontsize=7, ha="right",
                    va="bottom", color="#555555")  # fmt: skip
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
    ax.set_xlabel("raw step time (µs per training step, log scale)")
    ax.set_ylabel("Lightning − raw (µs per training step, log scale)")
    ax.set_title("Lightning's overhead per step against the raw step, every point measured (95% CI)")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", lw=0.3, alpha=0.5)
    fig.tight_layout()
    place_labels(ax, labels)
    save_figure(fig, path)
    plt.close(fig)
    return len(shown)


# Where a point's label may go, in points from the point, tried in this order: beside it (right, then left),
# then a line or two above or below it, joined to it by a thin line.
LABEL_SPOTS = tuple((dx, dy, "left" if dx > 0 else "right") for dy in (2, -8, 11, -17, 20, -26, 29, -35)
                    for dx in (4, -4))  # fmt: skip


def place_labels(ax, labels: list[tuple[str, float, float, str]]) -> None:
    """Each point's label at the first spot of LABEL_SPOTS where it overlaps no label already placed and no
    point (in display space, once the axes are final); where every spot is taken, the first. Clusters of points
    a few pixels apart (the CPU and GPU cases near 1 ms) stay readable."""
    renderer = ax.figure.canvas.get_renderer()
    taken = [matplotlib.transforms.Bbox.from_extents(x - 3, y - 3, x + 3, y + 3)
             for x, y in (ax.transData.transform((px, py)) for _, px, py, _ in labels)]  # fmt: skip

    def put(text, x, y, color, spot):
        dx, dy, ha = spot
        line = {"arrowstyle": "-", "lw": 0.4, "color": color, "shrinkA": 0, "shrinkB": 3} if abs(dy) > 10 else None
        label = ax.annotate(text, (x, y), fontsize=6, xytext=(dx, dy), textcoords="offset points", color=color,
                            ha=ha, arrowprops=line)  # fmt: skip
        label.update_positions(renderer)
        return label, matplotlib.text.Text.get_window_extent(label, renderer)  # the text alone, not its line

    for text, x, y, color in sorted(labels, key=lambda t: (t[1], t[2])):
        for spot in LABEL_SPOTS:
            label, box = put(text, x, y, color, spot)
            if not any(box.expanded(1.05, 1.1).overlaps(t) for t in taken):
                break
            label.remove()
        else:  # nowhere free: the first spot
            label, box = put(text, x, y, color, LABEL_SPOTS[0])
        taken.append(box)


# Lightning's own parts, each its colour, for the release bars; everything else Lightning's step runs (torch, the
# model, the DataLoader, the NVML check, the interpreter) is one grey block at the bottom, so each bar's height is
# the measured total.
RELEASE_PARTS = (
    ("self.log and results", "Python: Lightning: self.log and results", "#c44e52"),
    ("hook dispatch", "Python: Lightning: hook dispatch", "#dd8452"),
    ("hook signature checks (inspect)", "Python: Lightning: hook signature checks (inspect)", "#e5ae38"),
    ("profiler", "Python: Lightning: profiler (PassThroughProfiler)", "#ccb974"),
    ("Trainer state and properties", "Python: Lightning: Trainer state and properties", "#792ee5"),
    ("loops and progress tracking", "Python: Lightning: loops and progress tracking", "#8172b3"),
    ("optimizer closure, strategy, precision", "Python: Lightning: optimizer closure, strategy, precision",
     "#64b5cd"),
    ("batch transfer to the device", "Python: Lightning: batch transfer to the device", "#4c72b0"),
    ("data fetcher, other callbacks, other", ("Python: Lightning: data fetcher",
     "Python: Lightning: other callbacks (checkpoint, summary)", "Python: Lightning: other"), "#937860"),
)  # fmt: skip


def plot_releases(table: list[dict], path: Path) -> None:
    """Per workload, one bar per release: Lightning's instructions per step (32-true, features as benchmarked),
    stacked by Lightning's parts above everything else the step runs."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 5))
    for ax, workload in zip(axes, ("minimal", "autoencoder"), strict=True):
        releases = [r["release"] for r in table]
        parts = [r[workload]["parts"] for r in table]
        named = []
        bottoms = []
        for p in parts:
            keys = {k for _, ks, _ in RELEASE_PARTS for k in ((ks,) if isinstance(ks, str) else ks)}
            named.append(keys)
            bottoms.append(sum(v for k, v in p.items() if k not in keys) / 1e6)
        ax.bar(range(len(table)), bottoms, 0.6, color="#bbbbbb", label="everything else (torch, model, data, ...)")
        for label, keys, color in RELEASE_PARTS:
            keys = (keys,) if isinstance(keys, str) else keys
            vals = [sum(p.get(k, 0.0) for k in keys) / 1e6 for p in parts]
            ax.bar(range(len(table)), vals, 0.6, bottom=bottoms, color=color, label=label)
            bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
        for i, r in enumerate(table):
            ax.annotate(f"{r[workload]['per_step'] / 1e6:,.2f}", (i, bottoms[i]), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")  # fmt: skip
        ax.set_xticks(range(len(table)), releases, fontsize=8)
        ax.set_ylim(0, max(bottoms) * 1.12)
        ax.set_title(f"{workload}, cpu, 32-true")
        ax.set_xlabel("pytorch-lightning release (torch fixed)")
        ax.set_ylabel("Lightning's instructions per step (millions)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], fontsize=7, loc="center right")  # top to bottom, as the bars stack
    fig.suptitle("Lightning's instructions per training step, release by release, by part (callgrind)")
    fig.tight_layout(rect=(0, 0, 0.83, 1))
    save_figure(fig, path)
    plt.close(fig)
