"""Turn saved pytest-benchmark runs into results/REPORT.md and PNG plots.

    python -m benchmarks.report [--results results] [RUN.json ...]

Without files, it takes the reference bench run of every machine folder under --results (reference.py: the
complete run whose floor varied least), and beside it the newest run of each other kind (resolve,
instructions, ddp). A named file that is not a complete saved run is named and skipped; where none is, one
line and exit 2. One function per section; every number, and every protocol detail the prose states
(lengths, batch sizes, rounds, data), is read from the saved JSON.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from benchmarks.clock.stats import rederive_resolve
from benchmarks.report import plots as P
from benchmarks.report.answer import answer_section, splice
from benchmarks.report.ddp import ddp_part
from benchmarks.report.fmt import commit_words, fit_pm, pm, step_us
from benchmarks.report.gpu import NVML_NOTE, gpu_scaling_section
from benchmarks.report.instructions import instructions_section
from benchmarks.report.probe import probe_section
from benchmarks.report.reference import candidates, choose, reference_runs, reference_words
from benchmarks.report.releases import releases_part
from benchmarks.store import runs as R
from benchmarks.store.runs import NotARun, entries, load_run, newest_of_kind, read, result, say_skipping
from raw_torch.common.cli import Parser
from raw_torch.common.config import WORKLOADS, check_creatable
from raw_torch.common.errors import UsageError
from raw_torch.common.files import atomic_write

DOCS = "../docs"  # the method of each instrument, from results/REPORT.md


def _case_words(cfg: dict) -> str:
    """ "Autoencoder, cpu, 32-true, synthetic data", from a saved entry's run configuration."""
    return f"{cfg['workload'].capitalize()}, {cfg['device']}, {cfg['precision']}, {cfg['dataset']} data"


def _rounds_words(steps: list[dict]) -> str:
    """How many rounds each case ran, as the saved entries record them: one number, or each number's cases."""
    by_rounds: dict[int, list[str]] = {}
    for s in steps:
        by_rounds.setdefault(s["rounds"], []).append(s["case"])
    if len(by_rounds) == 1:
        return f"{next(iter(by_rounds))} rounds per case"
    most = max(by_rounds, key=lambda r: len(by_rounds[r]))
    rest = [f"{r} rounds for {', '.join(cases)}" for r, cases in sorted(by_rounds.items()) if r != most]
    return f"{'; '.join(rest)}; {most} for the others"


def _lengths(steps: list[dict]) -> str:
    """The run lengths of the step-cost cases, per workload, as the saved entries record them."""
    words = []
    for workload in sorted({s["workload"] for s in steps}, key=WORKLOADS.index):
        s = next(s for s in steps if s["workload"] == workload)
        cfg = s["config"]
        data = f", {cfg['dataset']} data" if workload == "autoencoder" else ""
        limits = " or ".join(str(n) for n in s["limits"])
        words.append(f"{workload}: {cfg['epochs']} epochs × {limits} batches of {cfg['batch_size']}{data}")
    return "; ".join(words)


# --- the report, one function per section -----------------------------------------------------------


def header_section(path: Path, data: dict) -> list[str]:
    mi = data["machine_info"]
    p = mi.get("paired", {})
    session = "bench_gpu" if path.parent.parent.name.startswith("cuda") else "bench"
    return [
        f"## {path.parent.parent.name}",
        "",
        f"Source: {_source_words(path, data)} (pytest-benchmark {data.get('version', '?')}, "
        f"{data.get('datetime', '?')}, {commit_words(data)}), made by `nox -s {session}`.",
        "",
        *_missing_parts(data),
        f"Machine: {p.get('cpu_model', mi.get('cpu', {}).get('brand_raw', '?'))}, {p.get('cpu_count', '?')} cores, "
        f"torch threads {p.get('torch_threads', '?')}; GPU: {p.get('gpu') or 'none'}. "
        f"Python {p.get('python', mi.get('python_version'))}, torch {p.get('torch')}, "
        f"pytorch-lightning {p.get('pytorch_lightning')}, CUDA runtime {p.get('cuda')}.",
        "",
        *_reference_lines(path),
        *([NVML_NOTE, ""] if session == "bench_gpu" else []),
    ]


def _source_words(path: Path, data: dict) -> str:
    """The run's file, or for a run saved part by part (`nox -s bench_gpu`) each part's file."""
    if "parts" not in data:
        return f"`{path.as_posix()}`"
    each = ", ".join(f"{part} `{name}`" for part, name in data["parts"].items())
    return f"the parts of one session in `{path.parent.as_posix()}/`: {each}"


def _missing_parts(data: dict) -> list[str]:
    missing = data.get("parts_missing")
    if not missing:
        return []
    return [
        f"**Partial run: the part{'s' if len(missing) > 1 else ''} {', '.join(missing)} of this session "
        f"{'were' if len(missing) > 1 else 'was'} not saved** (the session was cut, or the part failed); the "
        f"sections below hold what its saved parts measured. `nox -s bench_gpu -- {' '.join(missing)}` measures "
        "the rest as a session of its own.",
        "",
    ]


def _reference_lines(path: Path) -> list[str]:
    choice = choose(path.parent)
    if choice is None:
        return []
    if choice["reference"] != path:
        return [f"This run was named on the command line; the reference rule reads `{choice['reference'].name}`.", ""]
    return [reference_words(choice), ""]


def step_cost_section(steps: list[dict], plot: Path, rel: Path) -> list[str]:
    if not steps:
        return []
    P.plot_step_time(steps, plot)
    out = [
        "### Per-step cost and Lightning's overhead",
        "",
        f"Protocol ([wall-clock.md]({DOCS}/wall-clock.md#running-the-benchmarks)): the paired, interleaved "
        f"protocol, {_rounds_words(steps)}; lengths n = epochs × limit_train_batches ({_lengths(steps)}). "
        "Per-step times from the step clock; overhead = the mean of the paired Lightning − raw differences, "
        "the slope of their wall times against n beside it as a cross-check, its intercept the **fixed** "
        "overhead. The floor is the bare step on batches already on the device (cases ending in "
        "`-data-on-device` read their data from the device). 95% intervals (Student t). All Trainer features on "
        "but the progress bar (its cost: the feature table). `16-mixed` on CPU is real fp16 with a GradScaler on "
        f"both sides ([running.md]({DOCS}/running.md#precision-and-a-lightning-trap-on-cpu)).",
        "",
        "| case | floor µs/step | raw µs/step | Lightning µs/step | overhead µs/step | overhead % of raw | "
        "overhead from t(n) slope | raw − floor µs/step | raw / floor | fixed overhead ms | "
        "samples/s raw / Lightning |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in steps:
        st, o = s["step"], s["overhead"]
        out.append(
            f"| {s['case']} | {step_us(st['floor'])} | {step_us(st['raw'])} | {step_us(st['lightning'])} | "
            f"**{step_us(o['step'])}** | {o['pct']:+.1f} ± {P.nan0(o['pct_ci']):.1f} | {fit_pm(o['fit'], 'b')} | "
            f"{step_us(s['raw_over_floor']['step'])} | {st['raw']['mean'] / st['floor']['mean']:.2f}x | "
            f"{fit_pm(o['fit'], 'a', 1e3)} | "
            f"{s['throughput']['raw']:,.0f} / {s['throughput']['lightning']:,.0f} |"
        )
    out += _resolution_note([s for s in steps if (s["device"], s["precision"]) == ("cpu", "32-true")])
    out += ["", f"![per-step time and overhead]({(rel / plot.name).as_posix()})", ""]
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
            f"| {s['case']} | {fit_pm(f['raw'], 'a', 1e3)} | {fit_pm(f['lightning'], 'a', 1e3)} | "
            f"{f['raw'].get('resid_sd', float('nan')) * 1e3:.1f} / "
            f"{f['lightning'].get('resid_sd', float('nan')) * 1e3:.1f} |"
        )
    out.append("")
    return out


def _resolution_note(fp32: list[dict]) -> list[str]:
    if not fp32:
        return []
    res = ", ".join(f"±{s['overhead']['step']['ci'] * 1e6:.0f} µs ({s['workload']})" for s in fp32)
    cv = ", ".join(f"{100 * s['step']['floor']['sd'] / s['step']['floor']['mean']:.0f}%" for s in fp32)
    return [
        "",
        f"**Resolution.** The 95% interval of the 32-true per-step overhead is {res}; the suite's target "
        f"is ±10 µs. What limits it here is the host, not the method: the floor, which is pure compute "
        f"with no framework at all, varies by {cv} (standard deviation over mean) from run to run on "
        "this machine. The interval narrows with the square root of the rounds (`PAIRED_BENCH_ROUNDS`); "
        "`nox -s resolve` asks the same question with about ten times the runs and an estimator that "
        "leaves the host's interference out (next section, where a saved run exists).",
    ]


def resolve_rows(path: Path, by_kind: dict) -> tuple[list[dict], Path, str]:
    """The `nox -s resolve` entries: from this file, or else from the newest resolve run beside it
    (then with its date and commit, for the source line)."""
    rows = [b["extra_info"] for b in by_kind.get("resolve", [])]
    if rows:
        return rows, path, ""
    source = newest_of_kind(path.parent, "resolve")
    data = load_run(source) if source else None
    if not data:
        return [], path, ""
    rows = entries(data, "resolve")
    return rows, source, f" ({data.get('datetime', '?')}, {commit_words(data)})"


def resolve_section(path: Path, by_kind: dict, plot: Path, rel: Path) -> list[str]:
    """The `nox -s resolve` run: the protocol, the table, the ±10 µs verdict and the plot."""
    rows, source, when = resolve_rows(path, by_kind)
    if not rows:
        return []
    rederived = [r["workload"] for r in rows if rederive_resolve(r)]
    P.plot_resolve(rows, plot)
    out = [
        "### Resolution: the 32-true per-step overhead to ±10 µs",
        "",
        f"Source: `{source.as_posix()}`{when}, made by `nox -s resolve`. Protocol "
        f"([wall-clock.md]({DOCS}/wall-clock.md#resolution-the-overhead-to-10-µs)): triples of raw, Lightning and "
        "raw again, each a whole run at the step-cost case's longest length, the first "
        f"{rows[0]['warmup']} step intervals of each epoch left out. Overhead = the mean over step positions of "
        "Lightning's 10th percentile (or median) minus raw's; A/A control = raw's second runs against its first. "
        f"Intervals: **drift-aware** (batch means over {len(rows[0].get('batch_edges', [0, 0])) - 1} consecutive "
        f"batches of triples) and the percentile bootstrap over triples ({rows[0]['boot']} draws, right only if "
        "the triples were independent); the last column is the default protocol's estimator on the same runs.",
        "",
        "| workload | triples × steps | raw µs/step (p10) | Lightning µs/step (p10) | **overhead p10, drift-aware** | "
        "overhead p10, bootstrap | p10 per batch, min – max | A/A control p10, drift-aware | overhead median, "
        "drift-aware | overhead, mean per run |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        q10, q50 = r["q10"], r["q50"]
        batches = q10["overhead"].get("batches") or [float("nan")]
        out.append(
            f"| {r['workload']} | {r['triples']} × {r['steps_per_run']} | {_iv(q10['raw'])} | "
            f"{_iv(q10['lightning'])} | **{_iv(q10['overhead'])}** | {_iv(q10['overhead'], 'ci')} | "
            f"{min(batches) * 1e6:,.1f} – {max(batches) * 1e6:,.1f} | {_iv(q10['control'])} | "
            f"{_iv(q50['overhead'])} | {step_us(r['mean_paired'])} |"
        )
    out += ["", f"**Target ±10 µs (95% half-width, 10th percentile, drift-aware):** {_verdict(rows)}.", ""]
    if rederived:
        out += [
            f"This run was saved before the drift-aware interval existed: its estimates ({', '.join(rederived)}) "
            "are re-derived here from the step intervals it stored, by today's `stats.analyse_resolve`.",
            "",
        ]
    return out + [f"![overhead resolution]({(rel / plot.name).as_posix()})", ""]


def _iv(m: dict, key: str = "ci_drift") -> str:
    return pm(m["value"], m.get(key))


def _verdict(rows: list[dict]) -> str:
    met = []
    for r in rows:
        o = r["q10"]["overhead"]
        half = o.get("ci_drift", float("nan"))
        if math.isnan(half):
            met.append(f"{r['workload']}: no drift-aware interval, one batch only (bootstrap ±{o['ci'] * 1e6:.1f} µs)")
        else:
            verdict = "met" if half <= 10e-6 else "not met"
            met.append(f"{r['workload']} {verdict} (±{half * 1e6:.1f} µs; the bootstrap alone: ±{o['ci'] * 1e6:.1f})")
    return "; ".join(met)


def instructions_part(path: Path, plot: Path, rel: Path) -> list[str]:
    """The newest `nox -s instructions` run beside this one (a smoke run is never saved there)."""
    source = newest_of_kind(path.parent, "instructions")
    data = load_run(source) if source else None
    if not data:
        return []
    mi = data["machine_info"]
    info = {
        **result(data),
        "valgrind": mi.get("valgrind"),
        "cpu_capability": mi.get("torch_cpu_capability"),
        "torch_config": mi.get("torch_config", []),
    }
    when = f" ({data.get('datetime', '?')}, {commit_words(data)})"
    return instructions_section(info, source, when, plot, rel)


def features_section(feats: list[dict], plot: Path, rel: Path) -> list[str]:
    if not feats:
        return []
    P.plot_features(feats, plot)
    out = [
        "### What each Trainer feature costs",
        "",
        f"{_case_words(feats[0]['config'])}, {feats[0]['rounds']} rounds. Each row: both sides with "
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
            f"{fit_pm(f['raw'], 'a', 1e3)} | {fit_pm(f['lightning'], 'a', 1e3)} | {fit_pm(o['fit'], 'a', 1e3)} |"
        )
    return out + ["", f"![feature costs]({(rel / plot.name).as_posix()})", ""]


def scaling_section(scal: list[dict], plot: Path, rel: Path) -> list[str]:
    if not scal:
        return []
    base = (min(r["hidden"] for r in scal), min(r["batch_size"] for r in scal))  # the default: on both sweeps
    for r in scal:
        at = (r["hidden"], r["batch_size"])
        r["sweep"] = "both" if at == base else ("width" if r["batch_size"] == base[1] else "batch")
    P.plot_scaling(scal, plot)
    out = [
        "### Scaling: overhead against model and batch size",
        "",
        f"{_case_words(scal[0]['config'])}, {scal[0]['rounds']} rounds per point.",
        "",
        "| hidden | batch | raw µs/step | Lightning µs/step | overhead µs/step | overhead % |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(scal, key=lambda r: (r["batch_size"], r["hidden"])):
        st, o = r["step"], r["overhead"]
        out.append(
            f"| {r['hidden']} | {r['batch_size']} | {step_us(st['raw'])} | {step_us(st['lightning'])} | "
            f"{step_us(o['step'])} | {o['pct']:+.1f} ± {P.nan0(o['pct_ci']):.1f} |"
        )
    return out + ["", f"![scaling]({(rel / plot.name).as_posix()})", ""]


def _median_iqr(values: list[float]) -> tuple[float, float]:
    """Median and IQR/2 by pytest-benchmark's own rule, as for the table's other rows (its timed entries)."""
    from pytest_benchmark.stats import Stats

    s = Stats()
    for v in values:
        s.update(v)
    return s.median, s.iqr / 2


def _rss_across_runs(path: Path, case: str = "minimal-cpu-32-true") -> list[str]:
    """Peak RSS of one case in every complete bench run of this machine: it moves with the host, the difference
    between the sides does not."""
    rows = []
    for run, _, _ in candidates(path.parent):
        data = load_run(run, say_skipped=False)
        memory = entries(data, "memory")
        raw, lit = P.peak_mb(memory, case, "raw"), P.peak_mb(memory, case, "lightning")
        if not (math.isnan(raw) or math.isnan(lit)):
            rows.append((run.name[:4], raw, lit))
    if len(rows) < 2:
        return []
    each = "; ".join(f"{n} {r:,.0f} / {lit:,.0f}" for n, r, lit in rows)
    spread = max(r for _, r, _ in rows) - min(r for _, r, _ in rows)
    extra = [lit - r for _, r, lit in rows]
    return [
        f"Peak RSS moves with the host from run to run, by up to {spread:,.0f} MiB here, while Lightning's extra "
        f"stays {min(extra):,.0f}-{max(extra):,.0f} MiB ({case}, raw / Lightning MiB, every run of this machine: "
        f"{each}): compare the two sides within one run ([wall-clock.md]({DOCS}/wall-clock.md#reference-run-cpu)).",
        "",
    ]


def startup_section(by_kind: dict, plot: Path, rel: Path, path: Path | None = None) -> list[str]:
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
    if not (startup or memory):
        return []
    P.plot_startup_memory(startup, memory, plot)
    out = ["### Start-up and memory", ""]
    if startup:  # the start-up cases run on the CPU only
        out += ["| what | median ms | IQR/2 ms |", "| --- | ---: | ---: |"]
        out += [f"| {k} | {m * 1e3:,.1f} | {s * 1e3:,.1f} |" for k, (m, s) in startup.items()]
        out += [""]
    out += ["| case | raw MiB | Lightning MiB | measured as |", "| --- | ---: | ---: | --- |"]
    for c in sorted({m["case"] for m in memory}):
        how = "peak RSS, fresh process" if "-cpu-" in c else "torch.cuda.max_memory_allocated"
        out.append(f"| {c} | {P.peak_mb(memory, c, 'raw'):,.0f} | {P.peak_mb(memory, c, 'lightning'):,.0f} | {how} |")
    out += [""] + (_rss_across_runs(path) if path is not None and memory else [])
    return out + [f"![start-up and memory]({(rel / plot.name).as_posix()})", ""]


def fits_section(fits: list[dict]) -> list[str]:
    if not fits:
        return []
    out = [
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
    return out + [""]


def machine_section(path: Path, data: dict, plots: Path, rel: Path) -> list[str]:
    by_kind: dict[str, list[dict]] = {}
    for b in data.get("benchmarks", []):  # an instrument's run alone: its section comes from its folder
        by_kind.setdefault(b.get("extra_info", {}).get("kind", "?"), []).append(b)
    tag = path.parent.parent.name
    extra = {kind: [b["extra_info"] for b in entries] for kind, entries in by_kind.items()}
    return [
        *header_section(path, data),
        *step_cost_section(extra.get("step_cost", []), plots / f"{tag}-step_time.png", rel),
        *resolve_section(path, by_kind, plots / f"{tag}-resolve.png", rel),
        *instructions_part(path, plots / f"{tag}-instructions.png", rel),
        *ddp_part(path, plots / f"{tag}-ddp.png", rel),
        *releases_part(path, plots / f"{tag}-releases.png", rel),
        *features_section(extra.get("feature", []), plots / f"{tag}-features.png", rel),
        *scaling_section(extra.get("scaling", []), plots / f"{tag}-scaling.png", rel),
        *gpu_scaling_section(extra.get("scaling_gpu", []), plots / f"{tag}-scaling_gpu.png", rel),
        *startup_section(by_kind, plots / f"{tag}-startup_memory.png", rel, path),
        *fits_section(by_kind.get("fit", [])),
    ]


def build_report(paths: list[Path], results: Path) -> str:
    plots = results / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmark report",
        "",
        *answer_section(paths, plots / "answer.png", Path("plots")),
        "Made by `nox -s report` from the saved runs of each machine folder in `results/`: its reference "
        "`nox -s bench` run (each machine's header states the rule) and the newest run of each other kind. Every "
        "number below is read from a saved run; each section names its file and the nox session that made it. How each "
        f"instrument measures: [the wall clock]({DOCS}/wall-clock.md), [instructions]({DOCS}/instructions.md), "
        f"[DDP]({DOCS}/ddp.md#under-ddp-two-ranks-on-the-cpu), [GPU]({DOCS}/gpu.md).",
        "",
    ]
    for path in paths:
        data = R.load_session(path)
        if data is not None:
            lines += machine_section(path, data, plots, Path("plots"))
    lines += probe_section(results, Path("."))
    return "\n".join(lines) + "\n"


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path, help="saved runs (default: each machine's reference run)")
    ap.add_argument(
        "--results", type=Path, default=Path("results"), metavar="DIR", help="results folder (default results/)"
    )
    ap.add_argument(
        "--readme", type=Path, default=None, metavar="FILE",
        help="also write the answer into FILE, between its answer markers (nox -s report: README.md)",
    )  # fmt: skip
    return ap


def usable_runs(named: list[Path]) -> list[Path]:
    """The named files that are complete saved runs, each other one named in a line and passed over; where none
    is, one line and exit 2, and nothing is written."""
    broken = {}
    for path in named:
        try:
            read(path)
        except NotARun as e:
            broken[path] = e
    if len(broken) == len(named):
        path, reason = next(iter(broken.items()))
        more = f" (nor are the {len(named) - 1} other files named)" if len(named) > 1 else ""
        raise UsageError(f"{path}: not a complete saved run ({reason}){more}; nothing written")
    for path, reason in broken.items():
        say_skipping(path, reason)
    return [p for p in named if p not in broken]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for path in args.runs:  # named files: each must be there; a broken one is still skipped with a line
        if path.is_dir():
            raise UsageError(
                f"{path}: is a folder; name a saved run's JSON file (or none: each machine's reference run)"
            )
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    readme = None
    if args.readme is not None:
        try:
            readme = args.readme.read_text()
            splice(readme, [])
        except (OSError, ValueError) as e:
            raise UsageError(f"--readme {args.readme}: {getattr(e, 'strerror', None) or e}") from None
    if args.results.exists() and not args.results.is_dir():
        raise UsageError(f"--results {args.results}: is a file, not a folder")
    paths = usable_runs(args.runs) if args.runs else reference_runs(args.results)
    if not paths:
        raise UsageError(f"no saved runs under {args.results}/ (run `nox -s bench` first)")
    check_creatable("--results", args.results / "REPORT.md")
    text = build_report(paths, args.results)
    target = args.results / "REPORT.md"
    with atomic_write(target) as tmp:  # never half a report
        tmp.write_text(text)
    print(f"wrote {target}")
    if readme is not None:
        rel = Path(os.path.relpath(args.results / "plots", args.readme.resolve().parent))
        with atomic_write(args.readme) as tmp:
            tmp.write_text(splice(readme, answer_section(paths, args.results / "plots" / "answer.png", rel)))
        print(f"wrote the answer into {args.readme}")
    return 0
