"""The report's GPU sweep (`bench_scaling.test_scaling_gpu`): Lightning's overhead against the raw step's
time, on the on-device input path, with how close the raw loop comes to the floor."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import plots as P
from benchmarks.report.fmt import pm


def gpu_scaling_section(rows: list[dict], plot: Path, rel: Path) -> list[str]:
    if not rows:
        return []
    P.plot_gpu_scaling(rows, plot)
    cfg = rows[0].get("config", {})
    once = cfg.get("checkpoint_every") == cfg.get("epochs") != 1  # since 2026-12-04: one checkpoint per run
    out = [
        "### Scaling on the GPU: overhead against the raw step, data on the device",
        "",
        f"Autoencoder, synthetic data, `--data-on-device` (each batch one gather on the GPU), {rows[0]['rounds']} "
        "rounds per point; raw, Lightning and the floor (the same step on batches already on the device)"
        + (
            "; one checkpoint per run, at its end (the callback's per-step work is the same as with one every "
            "epoch, and the widest model writes 197 MiB a checkpoint)."
            if once
            else "."
        ),
        "",
        "| hidden | batch | precision | floor µs/step | raw µs/step | Lightning µs/step | overhead µs/step | "
        "overhead % | raw / floor |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(rows, key=lambda r: r["step"]["raw"]["mean"]):
        st, o = r["step"], r["overhead"]
        us = {k: pm(st[k]["mean"], st[k].get("ci")) for k in ("floor", "raw", "lightning")}
        out.append(
            f"| {r['hidden']} | {r['batch_size']} | {r['precision']} | {us['floor']} | {us['raw']} | "
            f"{us['lightning']} | {pm(o['step']['mean'], o['step'].get('ci'))} | "
            f"{o['pct']:+.1f} ± {P.nan0(o['pct_ci']):.1f} | {st['raw']['mean'] / st['floor']['mean']:.2f}x |"
        )
    return out + ["", f"![GPU scaling]({(rel / plot.name).as_posix()})", ""]


NVML_NOTE = (
    "**NVML on a GPU.** Importing Lightning sets `PYTORCH_NVML_BASED_CUDA_CHECK=1` for the whole process, and every "
    "`optimizer.step()` then asks `torch.cuda.is_available()`. On a machine without a GPU that asks NVML every step "
    "(the raw side of the CPU runs goes without the variable: `harness.side_environment`). On a GPU it does not: "
    "once CUDA is initialised, `torch.cuda.device_count()` returns its cached count (torch 2.11 "
    "`torch/cuda/__init__.py:1109`, 2.14 `:1222`), so runs made before `side_environment` existed, such as "
    "`0001_bench.json` (2026-11-30), carry no NVML call per step on their raw side: their raw numbers are not biased "
    "by it (the check itself stays a few Python calls a step either way). The source path, line by line: "
    "[gpu.md](../docs/gpu.md#nvml-on-a-gpu); the measurement on a GPU: "
    "`tests/test_cuda.py::test_with_a_gpu_the_nvml_check_is_asked_once_not_per_step`."
)
