"""`nox -s instructions`, the whole session: the valgrind processes, the native opcode and timing passes,
the arithmetic (attribution.py) and the saved JSON, which `nox -s report` turns into its instructions
section. Kept apart from valgrind.py, which is also what runs inside valgrind."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.instructions import attribution as A
from benchmarks.instructions.callgrind import LAYERS, parse
from benchmarks.instructions.components import COMPONENTS, RULES
from benchmarks.instructions.counting import QUIET_LOGGING, SHORT_WINDOWS, WINDOWS
from benchmarks.store import runs as R

TIMED_RUNS = 7  # native runs per timed case, for the instructions-per-µs rate


def opcode_pass(items: list[dict], floors: bool = False) -> dict[int, dict]:
    """Opcodes per step per component, natively (no valgrind), for every item with Python around its step: the
    suite's floor is left whole ("interpreter"), the probe's (its plain loop on listed batches) is split too."""
    import torch

    from benchmarks.instructions.counting import OpcodeCounter, run_windows

    torch.set_num_threads(1)
    out = {}
    for i, item in enumerate(items):
        if item["impl"] == "floor" and not floors:
            continue
        counter = OpcodeCounter()
        run_windows(item, counter.start, counter.stop)
        windows = [  # each item's own windows (the ladder and the heavy cases count SHORT_WINDOWS)
            {"steps": b - a, "opcodes": w["opcodes"]}
            for w, (a, b) in zip(counter.windows, item.get("windows", WINDOWS), strict=True)
        ]
        out[i] = A.per_step_opcodes(windows)
    return out


def timing_pass(items: list[dict]) -> dict[str, dict]:
    """µs per step of the main 32-true raw and Lightning cases, natively, over the same step positions as the
    windows (median over TIMED_RUNS runs of each position's interval, then the mean over positions)."""
    from benchmarks.clock import harness
    from benchmarks.instructions.counting import case_config

    out = {}
    for item in items:
        if item["group"] != "main" or item["precision"] != "32-true" or item["impl"] == "floor":
            continue
        cfg = case_config(item)
        first, last = item["windows"][0][0], item["windows"][-1][1]
        harness.clocked_run(item["impl"], cfg)  # warm-up
        runs = [harness.clocked_run(item["impl"], cfg)[1].intervals(last + 1, warmup=first) for _ in range(TIMED_RUNS)]
        per_position = np.median(np.stack(runs), axis=0)
        out[f"{item['workload']}/{item['impl']}"] = {"us_per_step": float(per_position.mean() * 1e6)}
    return out


def layers_per_item(items, manifests, dumps) -> dict[int, list[dict]]:
    """{item: one per_step_layers result per valgrind process that measured it}."""
    found: dict[int, list[dict]] = {}
    for manifest, files in zip(manifests, dumps, strict=True):
        if len(manifest) != len(files):
            raise RuntimeError(f"{len(files)} callgrind dumps for {len(manifest)} windows")
        windows: dict[int, list[dict]] = {}
        for (item, a, b, collections), path in zip(manifest, files, strict=True):
            profile = parse(path)
            windows.setdefault(item, []).append(
                {"steps": b - a, "layers": profile.by_layer(), "gc": profile.gc, "collections": collections}
            )
        for item, ws in windows.items():
            found.setdefault(item, []).append(A.per_step_layers(ws))
    return found


def summarize(items, measured, opcodes) -> list[dict]:
    """Each item with its per-step count (mean over processes), spread, linearity, layers and parts."""
    out = []
    for i, item in enumerate(items):
        runs = measured[i]
        per_step = float(np.mean([r["total"]["per_step"] for r in runs]))
        layers = {k: float(np.mean([r["layers"][k] for r in runs])) for k in LAYERS}
        gc = float(np.mean([r["gc"]["per_step"] for r in runs]))
        out.append(
            {
                **item,
                "per_step": per_step,
                "per_process": runs,
                "spread": A.spread(runs[0]["total"]["per_step"], runs[1]["total"]["per_step"])
                if len(runs) > 1
                else None,
                "nonlinearity": max(r["total"]["nonlinearity"] for r in runs),
                "nonlinearity_as_counted": max(r["nonlinearity_as_counted"] for r in runs),
                "layers": layers,
                "gc": gc,
                "collections": [r["gc"]["collections"] for r in runs],
                "opcodes_per_step": opcodes.get(i),
                "parts": A.parts(layers, opcodes.get(i), gc),
            }
        )
    return out


def machine_info() -> dict:
    """What the counts depend on: the processor's instruction set level and the library builds."""
    import torch

    from benchmarks.store.machine import versions

    flags = ""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    config = torch.__config__.show()
    keep = [line.strip() for line in config.splitlines() if re.search(r"CPU capability|BLAS_INFO|MKL|LAPACK", line)]
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "paired": versions(),
        "cpu_flags": {
            f: f in flags.split() for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
        },
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_config": keep[:8],
        "python": sys.version,
        "valgrind": valgrind,
    }


def counted_fields(summary: list[dict], timing: dict, valgrind_wall: float, t0: float) -> dict:
    """What every valgrind session saves beside its own fields (`nox -s instructions`, `nox -s releases`): the
    parts' names and the rules they came from, its times, the native timing and every case's summary."""
    return {
        "components": list(COMPONENTS),
        "rules": [list(r) for r in RULES],
        "valgrind_wall_s": valgrind_wall,
        "session_wall_s": time.time() - t0,
        "timing": timing,
        "items": summary,
    }


def measure_and_save(items: list[dict], results: Path, keep: Path | None, smoke: bool) -> int:
    from benchmarks.instructions.valgrind import no_aslr, run_valgrind

    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="paired-callgrind-", dir=keep))
    print(f"instructions: {len(items)} cases in 2 valgrind processes, work folder {work}", flush=True)
    import threading

    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=run_valgrind(items, work)), daemon=True)
    thread.start()  # the valgrind processes run on their own; meanwhile the native opcode pass
    opcodes = opcode_pass(items)
    thread.join()
    if "result" not in box:
        print("instructions: the valgrind processes failed; see the logs in the work folder", file=sys.stderr)
        return 1
    manifests, dumps, valgrind_wall = box["result"]
    timing = timing_pass(items)
    summary = summarize(items, layers_per_item(items, manifests, dumps), opcodes)
    extra = {
        "smoke": smoke,
        "windows": [list(w) for w in WINDOWS],
        "short_windows": [list(w) for w in SHORT_WINDOWS],
        "log_every_n_steps": QUIET_LOGGING,
        "aslr_off": bool(no_aslr()),
        "layers": list(LAYERS),
        **counted_fields(summary, timing, valgrind_wall, t0),
    }
    target = R.save(results, "instructions", "paired-instructions-2", machine_info(), extra)
    if keep is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"instructions: saved {target} ({time.time() - t0:.0f} s)")
    for row in summary:
        name = row.get("rung") or f"{row['workload']} {row['precision']}" + (
            f", {row['ablation']}" if row.get("ablation") else ""
        )
        spread = "" if row["spread"] is None else f", spread {100 * row['spread']:.3f}%"
        spread += f", GC {row['gc'] / 1e6:.3f} M/step"
        print(
            f"  {name:40s} {row['impl']:15s} {row['per_step'] / 1e6:9.3f} M/step "
            f"(linearity {100 * row['nonlinearity']:.3f}%{spread})"
        )
    return 0
