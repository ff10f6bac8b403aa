"""The report's DDP section (`nox -s bench_ddp`): raw DistributedDataParallel against Lightning's strategy="ddp",
per step, at world size 1 and 2, and what DDP adds to each side's step."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import plots as P
from benchmarks.report.fmt import commit_words, pm, step_us
from benchmarks.store.runs import load_run, newest_of_kind, result

SIDES = (("floor", "floor"), ("raw", "raw"), ("lightning", "Lightning"))


def ddp_part(path: Path, plot: Path, rel: Path) -> list[str]:
    """The newest `nox -s bench_ddp` run beside this one (a smoke run is never saved there)."""
    source = newest_of_kind(path.parent, "ddp")
    data = load_run(source) if source else None
    if not data:
        return []
    info = result(data)
    when = f" ({data.get('datetime', '?')}, {commit_words(data)})"
    return ddp_section(info, data["machine_info"].get("paired", {}), source, when, plot, rel)


def ddp_section(info: dict, versions: dict, source: Path, when: str, plot: Path, rel: Path) -> list[str]:
    cases = info["cases"]
    P.plot_ddp(cases, plot)
    cores = versions.get("cpu_count", "?")
    lengths = "; ".join(
        f"{c['workload']} {c['precision']}: {c['epochs']} epochs of {' and '.join(map(str, c['limits']))} steps "
        f"per rank, batch {c['batch_size']}"
        for c in cases
    )
    out = [
        '### Under DDP: raw DistributedDataParallel against Lightning\'s strategy="ddp"',
        "",
        f"Source: `{source.as_posix()}`{when}, made by `nox -s bench_ddp` "
        "([ddp.md](../docs/ddp.md#under-ddp-two-ranks-on-the-cpu)): `torchrun --standalone --nproc-per-node W`, "
        f"gloo, {info['threads']} torch thread per rank. **World size 2 here is 2 ranks plus torchrun's agent on "
        f"{cores} cores**, not two machines. The paired protocol inside every rank, {info['rounds']} rounds in "
        f"{info['blocks']} launches per world size; the floor is the bare step through DistributedDataParallel "
        f"(at world size 1 the plain step). Lengths: {lengths}. All Trainer features at their defaults but the "
        "progress bar. Times are rank 0's; 95% intervals (Student t; world size 2 minus 1: Welch).",
        "",
        "| case | world size | floor µs/step | raw µs/step | Lightning µs/step | Lightning − raw µs/step (paired) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cases:
        for w in ("1", "2"):
            st, o = c["worlds"][w]["step"], c["worlds"][w]["overhead"]
            out.append(
                f"| {c['workload']} {c['precision']} | {w} | {step_us(st['floor'])} | {step_us(st['raw'])} | "
                f"{step_us(st['lightning'])} | {step_us(o['step'])} ({o['pct']:+.0f}%) |"
            )
    out += [
        "",
        "What DDP adds to a step (world size 2 minus 1), with its share of the world-size-2 step; beside it, the "
        "gradient all-reduce alone at world size 2 (one all-reduce of a float32 tensor as large as the model's "
        "parameters, what DDP's one gradient bucket carries, timed on its own), with its share of what DDP adds "
        "to the floor. Lightning's own overhead changes with the world size too: pytorch-lightning 2.6.6 adds a "
        "collective to every training step under DDP (`_TrainingEpochLoop.advance` calls "
        "`_broadcast_sigterm_tensor`: rank 0 broadcasts whether it received SIGTERM, every rank reads the flag with "
        "`.item()`), which the raw loop does not have; the last column times that broadcast alone:",
        "",
        "| case | floor | raw | Lightning | the all-reduce alone | Lightning's overhead, 2 minus 1 | "
        "Lightning's SIGTERM broadcast alone |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cases:
        cells = [f"{pm(d['mean'], d['ci'])} µs ({100 * d['share']:.0f}%)" for d in (c["ddp"][k] for k, _ in SIDES)]
        oc, a, b = c["overhead_change"], c.get("allreduce"), c.get("sigterm_broadcast")
        alone = f"{pm(a['mean'], a['ci'])} µs ({100 * a['share_of_floor']:.0f}% of the floor's)" if a else "-"
        flag = f"{pm(b['mean'], b['ci'])} µs" if b else "-"
        out.append(
            f"| {c['workload']} {c['precision']} | {' | '.join(cells)} | {alone} | {pm(oc['mean'], oc['ci'])} µs "
            f"| {flag} |"
        )
    out += ["", *ablation_table(cases), *rank_line(cases), *cpu_table(cases)]
    return out + [f"![DDP]({(rel / plot.name).as_posix()})", ""]


def ablation_table(cases: list[dict]) -> list[str]:
    """Lightning at world size 2 with its per-step SIGTERM broadcast left out, paired with the Lightning run beside
    it: what the broadcast costs inside a run, waiting included, to set beside the broadcast timed alone."""
    cases = [c for c in cases if "without_broadcast" in c]  # a run saved before the ablation has none
    if not cases:
        return []
    out = [
        "Lightning without that broadcast, at world size 2: the same Lightning run with "
        "`_TrainingEpochLoop._broadcast_sigterm_tensor` turned into nothing for the run (the benchmark's ablation, "
        "not a Lightning setting: there is none in 2.6.6; Lightning issue #21487 reports this broadcast's per-step "
        "cost on GPUs, and PR #21640 proposes `broadcast_sigterm_every_n_steps`). Its calls are counted (one per "
        "step, or the run fails). Each such run is paired with the Lightning run beside it, so what leaving the "
        "broadcast out saves includes the waiting it causes inside a run, which the broadcast timed alone does not "
        "show:",
        "",
        "| case | Lightning µs/step | without the broadcast | leaving it out saves (paired) | the broadcast alone | "
        "Lightning − raw, 2 minus 1 | without the broadcast, 2 minus 1 | saves, CPU µs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cases:
        nb, light = c["without_broadcast"], c["worlds"]["2"]["step"]["lightning"]
        b, oc, nc = c["sigterm_broadcast"], c["overhead_change"], nb["overhead_change"]
        out.append(
            f"| {c['workload']} {c['precision']} | {step_us(light)} | {step_us(nb['step'])} | "
            f"{step_us(nb['saves'])} | {step_us(b)} | {pm(oc['mean'], oc['ci'])} | {pm(nc['mean'], nc['ci'])} | "
            f"{step_us(c['cpu']['without_broadcast']['saves'])} |"
        )
    return out + [""]


def rank_line(cases: list[dict]) -> list[str]:
    """Rank 1's step times beside rank 0's at world size 2: the ranks wait for each other every step, so the two
    should agree."""
    parts = []
    for c in cases:
        other = c["worlds"]["2"].get("other_ranks", [])
        if not other:
            continue
        r0, r1 = c["worlds"]["2"]["step"], other[0]["step"]
        rank1 = ", ".join(f"{name} {step_us(r1[k])}" for k, name in SIDES)
        rank0 = ", ".join(pm(r0[k]["mean"]) for k, _ in SIDES)
        parts.append(f"{c['workload']}: {rank1} µs (rank 0: {rank0})")
    return [f"Rank 1's step times at world size 2: {'; '.join(parts)}.", ""] if parts else []


def cpu_table(cases: list[dict]) -> list[str]:
    """The same runs in CPU time of rank 0's main thread: the work, without the waiting."""
    cases = [c for c in cases if "cpu" in c]  # a run saved before the CPU time was read has none
    if not cases:
        return []
    out = [
        "The same runs in CPU time of each rank's main thread (`time.thread_time()` at the same fetches, rank 0): "
        "what the thread that runs the step computes, without the time it waits (for the other rank, for a "
        "core, for gloo's threads, which do the sending):",
        "",
        "| case | world size | floor, CPU µs/step | raw, CPU | Lightning, CPU | Lightning − raw, CPU (paired) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cases:
        for w in ("1", "2"):
            st, o = c["cpu"]["step"][w], c["cpu"]["overhead"][w]
            cells = " | ".join(step_us(st[k]) for k, _ in SIDES)
            out.append(f"| {c['workload']} {c['precision']} | {w} | {cells} | {step_us(o)} |")
    growth = []
    for c in cases:
        oc, b, a = c["cpu"]["overhead_change"], c["cpu"]["alone"]["sigterm_broadcast"], c["cpu"]["alone"]["allreduce"]
        growth.append(
            f"{c['workload']}: Lightning's overhead in CPU time grows by {pm(oc['mean'], oc['ci'])} µs from world "
            f"size 1 to 2 (in wall time: {pm(c['overhead_change']['mean'], c['overhead_change']['ci'])} µs); the "
            f"SIGTERM broadcast alone takes {step_us(b)} µs of CPU time a step, the all-reduce alone {step_us(a)} µs"
        )
    return out + ["", "; ".join(growth) + ".", ""]
