"""How the benchmarks measure: timed runs, the floor, the paired interleaved protocol, and the statistics.

The cost model. A run that trains n steps takes t(n) = a + b*n seconds: b is the steady per-step time,
a the fixed cost (imports are already done; data, model, Trainer or loop set-up, sanity check, the
per-epoch validation and checkpoints of a fixed number of epochs, and the test). n is varied with
`limit_train_batches` at a fixed number of epochs, so per-epoch costs stay in a and b is per step.

The protocol. For R rounds, every run length (in a shuffled order) is run once per implementation,
raw and Lightning back to back, the one that goes first alternating. Lightning minus raw at the same
(round, length) is one paired difference; fitting those differences against n gives the per-step
overhead (slope) and fixed overhead (intercept), each with a 95% confidence interval (ordinary least
squares, Student t). Machine drift slower than one pair cancels.
"""

from __future__ import annotations

import gc
import importlib
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from itertools import islice

import numpy as np
import torch
from scipy import stats

from raw_torch import loop
from raw_torch.config import RunConfig, resolve_device
from raw_torch.data import make_loaders
from raw_torch.evaluate import build_model

IMPLS = ("raw", "lightning")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_module(impl: str, workload: str):
    return importlib.import_module(f"{'raw_torch' if impl == 'raw' else 'with_lightning'}.{workload}")


def time_run(impl: str, cfg: RunConfig) -> float:
    """Wall time of one whole `run(cfg)` of one side, into a fresh temporary folder."""
    device = resolve_device(cfg.device)
    module = run_module(impl, cfg.workload)
    with tempfile.TemporaryDirectory() as out:
        cfg = cfg.replace(out=out)
        gc.collect()
        sync(device)
        t0 = time.perf_counter()
        module.run(cfg)
        sync(device)
        return time.perf_counter() - t0


def prepare_floor(cfg: RunConfig):
    """The floor: the same model, optimizer and precision step on batches already on the device.

    No DataLoader, no validation, no logging, no loop logic: `loop.training_step` over a list, for the
    same number of steps as the runs it is compared with. What a run costs beyond this is the loop's.
    Returns the step loop, ready to time; building it (data, model) is not part of the floor.
    """
    device = resolve_device(cfg.device)
    loop.seed_everything(cfg.seed)
    train_loader, _, _ = make_loaders(cfg)
    batches = [loop.move_to_device(b, device) for b in islice(train_loader, cfg.limit_train_batches)]
    model, compute_loss = build_model(cfg)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scaler = loop.make_scaler(device, cfg.precision)

    def steps() -> None:
        for _ in range(cfg.epochs):
            for batch in batches:
                loop.training_step(model, batch, compute_loss, optimizer, scaler, device, cfg.precision)
        sync(device)

    return steps


def time_floor(cfg: RunConfig) -> float:
    steps = prepare_floor(cfg)
    gc.collect()
    sync(resolve_device(cfg.device))
    t0 = time.perf_counter()
    steps()
    return time.perf_counter() - t0


def measure(impl: str, cfg: RunConfig) -> float:
    return time_floor(cfg) if impl == "floor" else time_run(impl, cfg)


def ols(x, y) -> dict:
    """y = a + b*x by least squares; 95% confidence intervals from Student's t with N-2 degrees of freedom."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    design = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    dof = len(x) - 2
    if dof < 1:
        return {"a": float(beta[0]), "b": float(beta[1]), "a_ci": float("nan"), "b_ci": float("nan"), "n": len(x)}
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(design.T @ design)
    t = float(stats.t.ppf(0.975, dof))
    return {
        "a": float(beta[0]),
        "b": float(beta[1]),
        "a_ci": t * float(np.sqrt(cov[0, 0])),  # half-width of the 95% interval
        "b_ci": t * float(np.sqrt(cov[1, 1])),
        "resid_sd": float(np.sqrt(s2)),
        "n": len(x),
    }


def protocol(cfg: RunConfig, limits: list[int], rounds: int, impls=("raw", "lightning", "floor"), seed=0) -> dict:
    """Run the paired, interleaved protocol for one case and return every sample and every fit."""
    rng = random.Random(seed)
    for impl in impls:  # warm-up, not recorded: first-call costs (allocator, caches, lazy imports)
        measure(impl, cfg.replace(limit_train_batches=min(limits)))
    samples = []
    for r in range(rounds):
        order = list(limits)
        rng.shuffle(order)
        for i, limit in enumerate(order):
            seq = list(impls[:2])
            if (r + i) % 2:
                seq.reverse()  # raw first, then Lightning first, alternately
            seq += list(impls[2:])
            for impl in seq:
                t = measure(impl, cfg.replace(limit_train_batches=limit))
                samples.append({"round": r, "limit": limit, "steps": limit * cfg.epochs, "impl": impl, "seconds": t})
    return analyse(samples, cfg, impls)


def _paired(samples, minuend: str, subtrahend: str) -> dict:
    t = {(s["round"], s["steps"], s["impl"]): s["seconds"] for s in samples}
    keys = sorted({(r, n) for r, n, impl in t if impl == minuend and (r, n, subtrahend) in t})
    return ols([n for _, n in keys], [t[(r, n, minuend)] - t[(r, n, subtrahend)] for r, n in keys])


def analyse(samples: list[dict], cfg: RunConfig, impls) -> dict:
    fits = {}
    for impl in impls:
        rows = [s for s in samples if s["impl"] == impl]
        fits[impl] = ols([s["steps"] for s in rows], [s["seconds"] for s in rows])
    result = {"samples": samples, "fits": fits, "batch_size": cfg.batch_size, "epochs": cfg.epochs}
    if {"raw", "lightning"} <= set(impls):
        over = _paired(samples, "lightning", "raw")
        raw_b, raw_b_ci = fits["raw"]["b"], fits["raw"]["b_ci"]
        # percent of the raw step time; interval by the delta method (the two slopes taken as independent)
        pct = over["b"] / raw_b
        pct_ci = np.sqrt((over["b_ci"] / raw_b) ** 2 + (over["b"] * raw_b_ci / raw_b**2) ** 2)
        result["overhead"] = {**over, "pct": 100 * pct, "pct_ci": 100 * float(pct_ci)}
    if {"raw", "floor"} <= set(impls):
        result["raw_over_floor"] = _paired(samples, "raw", "floor")
    result["throughput"] = {impl: cfg.batch_size / fits[impl]["b"] for impl in impls if fits[impl]["b"] > 0}
    return result


# --- start-up and memory, each in a fresh interpreter -----------------------------------------------

IMPORT_PROBE = (
    "import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
    "import pytorch_lightning; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)"
)


def time_imports() -> tuple[float, float]:
    """(import torch, then import pytorch_lightning on top of it), in seconds, in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True)
    torch_s, lightning_s = map(float, out.stdout.split())
    return torch_s, lightning_s


def peak_rss_mb(argv: list[str], env: dict | None = None) -> float:
    """Peak resident memory of a fresh process running `python argv...` (Linux: os.wait4's ru_maxrss, KiB)."""
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or os.environ.copy()
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
    return usage.ru_maxrss / 1024


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import pytorch_lightning

    info = {
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
