"""What a probe leaves: probe.json (the house's run schema, kind "probe"), probe.md (a short report for the user
who asked "why is Lightning slower than my loop?") and probe.png (its one plot), all written atomically into a
new or empty folder, and one summary line."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from benchmarks.report.fmt import us_whole as us
from benchmarks.store.runs import SCHEMA, SCHEMA_VERSION, commit_info
from raw_torch.common.files import atomic_write

KIND, TOOL = "probe", "paired-probe-1"
NOTES = (
    "The plain loop does not log: self.log in the module returns at once outside a Trainer (its warning is "
    "silenced), while under Lightning it logs; that cost is part of Lightning's overhead here.",
    "Lightning's Trainer is bare: no progress bar, logger, checkpointing, model summary, sanity check or "
    "validation; --ladder measures the first three.",
    "16-mixed on CPU is real fp16 with a GradScaler on both sides (Lightning's MixedPrecision('16-mixed', 'cpu') "
    "plugin; Trainer(precision='16-mixed') alone would silently run bf16 on CPU).",
)


def result(probe, cls, order, same, clock, counted, args, wall: float) -> dict:
    from benchmarks.store.machine import versions

    return {
        "probe": {
            **probe.as_dict(),
            "class": cls.__name__,
            "rounds": args.rounds,
            "ladder": args.ladder,
            "batches_per_epoch": order.batches_per_epoch,
            "epochs": order.epochs_needed,
        },  # fmt: skip
        "parity": None if same is None else {k: v for k, v in same.items()},
        "step_us": clock["step_us"],
        "overhead_us": clock["overhead_us"],
        "overhead_pct": clock["overhead_pct"],
        "plain_over_floor_us": clock["plain_over_floor_us"],
        "ladder_us": clock.get("ladder_us"),
        "protocol": {
            "rounds": clock["rounds"],
            "steps_per_run": probe.steps,
            "warmup_intervals_per_epoch": clock["warmup_intervals_per_epoch"],
            "samples_us": clock["samples_us"],
        },  # fmt: skip
        "instructions": counted,
        "versions": versions(),
        "notes": list(NOTES),
        "wall_s": wall,
    }


def document(res: dict) -> dict:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "tool": TOOL,
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "commit_info": commit_info(),
        "machine_info": res["versions"],
        "result": res,
    }


def outputs(out: Path, res: dict) -> None:
    """probe.json, probe.png and probe.md into `out` (checked new or empty before anything ran)."""
    data = document(res)
    with atomic_write(out / "probe.json") as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
    plot(res, out / "probe.png")
    with atomic_write(out / "probe.md") as tmp:
        tmp.write_text(markdown(res))


def parity_words(p: dict | None) -> str:
    if p is None:
        return "parity not checked (--no-parity)"
    return p["verdict"]


def summary_line(res: dict, out: Path) -> str:
    p, o = res["probe"], res["overhead_us"]
    same = parity_words(res["parity"])
    if res["parity"] is not None:
        same += f" over {res['parity']['batches']} batches"
    count = ""
    if res["instructions"]:
        count = f", {res['instructions']['overhead'] / 1e6:.2f} M instructions"
    return (
        f"probe {p['class']} ({p['precision']}, {p['device']}): {same}; Lightning +{us(o)} µs/step{count} "
        f"({res['overhead_pct']:+.0f} % of the plain loop's {res['step_us']['plain']['mean']:,.0f} µs); "
        f"wrote {out}/probe.json and probe.md"
    )


def command(res: dict) -> str:
    """The command line that made `res`: the flags it set away from their defaults, the device as resolved."""
    import shlex

    from benchmarks.probe.cost import ROUNDS
    from benchmarks.probe.target import DEFAULTS

    p = res["probe"]
    defaults = {**DEFAULTS, "rounds": ROUNDS}
    words = [p["target"], "--data", p["data"]]
    if p["init_args"]:
        words += ["--init-args", json.dumps(p["init_args"])]
    for key in ("steps", "precision", "seed", "gradient_clip_val", "accumulate_grad_batches", "rounds"):
        if p[key] != defaults[key]:
            words += ["--" + key.replace("_", "-"), str(p[key])]
    words += ["--device", p["device"]]
    words += [flag for flag, on in (("--ladder", p["ladder"]), ("--instructions", res["instructions"]),
                                    ("--no-parity", res["parity"] is None)) if on]  # fmt: skip
    return "python -m benchmarks.probe " + " ".join(shlex.quote(w) for w in words)


def markdown(res: dict) -> str:
    p, s, o = res["probe"], res["step_us"], res["overhead_us"]
    v = res["versions"]
    lines = [
        f"# Probe: {p['class']} (`{p['target']}`)",
        "",
        f"**Parity:** {parity_words(res['parity'])}."
        + (
            ""
            if res["parity"] is None
            else f" {res['parity']['batches']} training batches compared, loss by "
            "loss, then every parameter and buffer."
        ),  # fmt: skip
        "",
        f"**Cost:** Lightning adds **{us(o)} µs per step** ({res['overhead_pct']:.0f} % of the plain loop's "
        f"step) for this module, at {p['precision']} on {p['device']} (torch {v['torch']}, pytorch-lightning "
        f"{v['pytorch_lightning']}). For a long run, that is {o['mean'] * p['steps'] / 1e6:.2f} s per "
        f"{p['steps']} steps.",
        "",
        "| side | µs per step (95 % interval) |",
        "|---|---|",
        f"| plain loop | {us(s['plain'])} |",
        f"| Lightning (bare Trainer) | {us(s['lightning'])} |",
        f"| floor: the plain step on batches already in memory | {us(s['floor'])} |",
        f"| **Lightning - plain, paired by round** | **{us(o)}** |",
        "",
    ]
    if res["ladder_us"]:
        lines += ["**What each Trainer feature adds** (over the bare Trainer, paired by round):", "",
                  "| feature | µs per step | instructions per step |", "|---|---|---|"]  # fmt: skip
        counted = (res["instructions"] or {}).get("ladder") or {}
        for label, m in res["ladder_us"].items():
            n = counted.get(label)
            lines.append(f"| {label} | {us(m)} | {'—' if n is None else f'{n / 1e6:+.3f} M'} |")
        lines.append("")
    if res["instructions"]:
        c = res["instructions"]
        lines += [
            f"**Where it goes** (instructions per step, callgrind): plain {c['plain'] / 1e6:.2f} M, Lightning "
            f"{c['lightning'] / 1e6:.2f} M, floor {c['floor'] / 1e6:.2f} M; Lightning's extra "
            f'{c["overhead"] / 1e6:.2f} M by part ("other" parts {100 * c["other_share"]:.1f} %):',
            "",
            "| part | M instructions per step |",
            "|---|---|",
        ]
        lines += [f"| {k} | {n / 1e6:+.3f} |" for k, n in c["components"].items() if abs(n) >= 0.005e6]
        lines.append("")
    lines += [
        "![per-step time](probe.png)",
        "",
        "**How it was measured.** "
        f"{res['protocol']['rounds']} rounds; in each, one run of {p['steps']} optimizer steps of the plain loop and "
        "of Lightning back to back (which goes first alternates), then the floor; one untimed warm-up run of each "
        "first. A run's step time is the mean interval between training-batch fetches (the step clock, the same "
        f"wrapper on both sides), the first {res['protocol']['warmup_intervals_per_epoch']} of each epoch left "
        f"out; intervals are Student t over rounds. {p['batches_per_epoch']} batches per epoch, seed {p['seed']}, "
        f"accumulate_grad_batches {p['accumulate_grad_batches']}, gradient_clip_val {p['gradient_clip_val']}. "
        f"Machine: {v['cpu_model']}, {v['torch_threads']} torch threads, Python {v['python']}.",
        "",
        f"Made by `{command(res)} --out DIR` (`nox -s probe -- ...` runs the same).",
        "",
    ]
    if res["parity"] and res["parity"]["hooks_not_replayed"]:
        lines += [f"Hooks this module overrides that the plain loop does not replay: "
                  f"{', '.join(res['parity']['hooks_not_replayed'])}.", ""]  # fmt: skip
    lines += [f"- {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.report.plots import IMPL_COLORS, nan0, save_figure

    s = res["step_us"]
    rows = [("floor", s["floor"], IMPL_COLORS["floor"]), ("plain loop", s["plain"], IMPL_COLORS["raw"]),
            ("Lightning", s["lightning"], IMPL_COLORS["lightning"])]  # fmt: skip
    for label, m in (res["ladder_us"] or {}).items():
        shifted = {"mean": s["lightning"]["mean"] + m["mean"], "ci": m["ci"]}
        rows.append((f"Lightning {label}", shifted, "#b39ddb"))
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.6))
    ys = range(len(rows))
    ax.barh(list(ys), [r[1]["mean"] for r in rows], xerr=[nan0(r[1]["ci"]) for r in rows], capsize=3,
            color=[r[2] for r in rows])  # fmt: skip
    ax.set_yticks(list(ys), [r[0] for r in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("µs per training step (95 % interval)")
    p = res["probe"]
    ax.set_title(f"{p['class']}: {p['precision']}, {p['device']}, {p['steps']} steps x {p['rounds']} rounds",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
