"""From counted windows to per-step instructions, split into parts: pure arithmetic, tested without valgrind.

Each measured case has three windows of different lengths (counting.WINDOWS). The per-step count of any
part is the least-squares slope of its count against the window's steps; the intercept is what each
window costs once (the toggles); the fit's largest residual, relative to the window's count, says how
linear the counts are. CPython's cyclic garbage collector runs when allocations pass a threshold: once every
8 to 48 steps here, a few hundred thousand instructions each time, so one window holds a collection and the
next none. Its instructions (callgrind's inclusive count of the collector, callgrind.GC_ENTRIES) are taken
out of the windows before the fit and charged per step as their total over the total steps of the three
windows; the fit, and its linearity, are of everything else. The parts of one case:
  * native layers (callgrind.LAYERS, all but the interpreter): read directly from callgrind;
  * the garbage collector, amortized as above (its instructions are taken from the interpreter layer, where
    nearly all of them run: the collector's traverse and visit functions in libpython);
  * the interpreter's count, divided among Python components in proportion to the opcodes each executed
    (counted natively in the same windows of the same case). The parts add up to the measured total by
    construction; what is estimated is how the interpreter's share divides.
"""

from __future__ import annotations

import numpy as np

from benchmarks.instructions.callgrind import LAYERS

INTERPRETER = "interpreter"


def slope(steps, counts) -> dict:
    """counts = a + b * steps by least squares: b per step, a per window, and the largest relative residual."""
    x, y = np.asarray(steps, float), np.asarray(counts, float)
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    return {"per_step": float(b), "per_window": float(a), "nonlinearity": float(np.max(np.abs(resid) / y))}


def without_gc(window_layers: list[dict], window_gc: list[int]) -> list[dict]:
    """Each window's layer counts with the collector's instructions taken out of the interpreter layer."""
    return [
        {k: v - (g if k == INTERPRETER else 0) for k, v in layers.items()}
        for layers, g in zip(window_layers, window_gc, strict=True)
    ]


def per_step_layers(windows: list[dict]) -> dict:
    """windows: [{"steps": n, "layers": {layer: count}, "gc": n, "collections": [gen0, gen1, gen2]}] of one
    case in one process -> per-step per layer, the garbage collector's amortized share, the total's fit (of
    the windows without the collector) and, for comparison, the fit of the windows as counted."""
    steps = [w["steps"] for w in windows]
    gc = [w.get("gc", 0) for w in windows]
    counted = [sum(w["layers"].values()) for w in windows]
    total = slope(steps, [n - g for n, g in zip(counted, gc, strict=True)])
    gc_per_step = sum(gc) / sum(steps)
    total["per_step"] += gc_per_step
    rest = without_gc([{k: w["layers"].get(k, 0) for k in LAYERS} for w in windows], gc)
    layers = {layer: slope(steps, [r[layer] for r in rest])["per_step"] for layer in LAYERS}
    return {
        "total": total,
        "layers": layers,
        "gc": {
            "per_step": gc_per_step,
            "collections": [w.get("collections") for w in windows],
            "window_gc": gc,
        },
        "nonlinearity_as_counted": slope(steps, counted)["nonlinearity"],
        "window_totals": counted,
        "window_layers": [w["layers"] for w in windows],  # kept, so every number can be recomputed
    }


def per_step_opcodes(windows: list[dict]) -> dict[str, float]:
    """windows: [{"steps": n, "opcodes": {component: count}}] -> opcodes per step per component (slopes)."""
    steps = [w["steps"] for w in windows]
    names = sorted({c for w in windows for c in w["opcodes"]})
    return {c: slope(steps, [w["opcodes"].get(c, 0) for w in windows])["per_step"] for c in names}


GC_PART = "interpreter: cyclic garbage collector"


def parts(layers: dict[str, float], opcodes: dict[str, float] | None, gc: float = 0.0) -> dict[str, float]:
    """One case's per-step instructions in named parts: the native layers as measured, the garbage collector
    (amortized), the rest of the interpreter's count divided by opcode shares (kept whole as "interpreter"
    when no opcode counts exist, e.g. the floor). `layers` is without the collector."""
    out = {f"native: {k}": v for k, v in layers.items() if k != INTERPRETER}
    out[GC_PART] = gc
    interp = layers.get(INTERPRETER, 0.0)
    positive = {c: max(v, 0.0) for c, v in (opcodes or {}).items()}
    total_ops = sum(positive.values())
    if total_ops <= 0:
        out["interpreter"] = interp
        return out
    for component, n in positive.items():
        out[f"Python: {component}"] = interp * n / total_ops
    return out


def extra(lightning: dict[str, float], raw: dict[str, float]) -> dict[str, float]:
    """What Lightning adds, part by part (a part missing on one side counts 0 there)."""
    return {k: lightning.get(k, 0.0) - raw.get(k, 0.0) for k in dict.fromkeys([*lightning, *raw])}


OTHER_PARTS = ("Python: other Python", "native: other native")


def other_share(extra_parts: dict[str, float]) -> float:
    """The catch-all parts' share of Lightning's extra instructions (the issue bounds it at 10%)."""
    total = sum(extra_parts.values())
    return sum(abs(extra_parts.get(k, 0.0)) for k in OTHER_PARTS) / total if total else float("nan")


def spread(a: float, b: float) -> float:
    """Relative difference of two processes' per-step counts of the same case."""
    return abs(a - b) / ((a + b) / 2)


def agreement(estimate: float, measured: float) -> float:
    """estimate / measured - 1: how far an attribution lands from an independent measurement."""
    return estimate / measured - 1 if measured else float("nan")
