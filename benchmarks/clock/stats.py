"""The statistics of the benchmarks: least squares with intervals, means with intervals, the paired
analysis of the default protocol, and the resolve protocol's percentile estimator with its two intervals.

Pure functions of recorded samples: nothing here runs or times anything (that is `harness.py`), so
tests/test_benchmarks.py checks them on simulated data with known answers, and the report re-derives
an old saved run with them.
"""

from __future__ import annotations

import inspect

import numpy as np
from scipy import stats

from raw_torch.common.config import RunConfig


def ols(x, y) -> dict:
    """y = a + b*x by least squares (scipy's linregress); 95% intervals from Student's t with N-2 degrees of
    freedom on linregress's standard errors."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    dof = len(x) - 2
    if dof < 1:
        design = np.column_stack([np.ones_like(x), x])
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        return {"a": float(beta[0]), "b": float(beta[1]), "a_ci": float("nan"), "b_ci": float("nan"), "n": len(x)}
    fit = stats.linregress(x, y)
    resid = y - (fit.intercept + fit.slope * x)
    t = float(stats.t.ppf(0.975, dof))
    return {
        "a": float(fit.intercept),
        "b": float(fit.slope),
        "a_ci": t * float(fit.intercept_stderr),  # half-width of the 95% interval
        "b_ci": t * float(fit.stderr),
        "resid_sd": float(np.sqrt(resid @ resid / dof)),
        "n": len(x),
    }


def mean_ci(values) -> dict:
    """Mean and the half-width of its 95% interval (Student t)."""
    v = np.asarray(values, float)
    if len(v) < 2:
        return {"mean": float(v.mean()), "ci": float("nan"), "sd": float("nan"), "n": len(v)}
    sd = float(v.std(ddof=1))
    return {
        "mean": float(v.mean()),
        "ci": float(stats.t.ppf(0.975, len(v) - 1)) * sd / np.sqrt(len(v)),
        "sd": sd,
        "n": len(v),
    }


def welch(a, b) -> dict:
    """mean(a) - mean(b) of two independent samples, and the half-width of its 95% interval (Welch's t, scipy's
    `ttest_ind(equal_var=False).confidence_interval()`)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return {"mean": diff, "ci": float("nan"), "n": [len(a), len(b)]}
    if a.var(ddof=1) + b.var(ddof=1) == 0:  # no spread at all: scipy's t is undefined, the interval is a point
        return {"mean": diff, "ci": 0.0, "n": [len(a), len(b)]}
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return {"mean": diff, "ci": float(ci.high - ci.low) / 2, "n": [len(a), len(b)]}


def pairs(samples, minuend: str, subtrahend: str, key: str) -> tuple[list[int], list[float]]:
    """The paired differences minuend - subtrahend of `key` at each (round, steps), and their steps."""
    t = {(s["round"], s["steps"], s["impl"]): s[key] for s in samples}
    keys = sorted({(r, n) for r, n, impl in t if impl == minuend and (r, n, subtrahend) in t})
    return [n for _, n in keys], [t[(r, n, minuend)] - t[(r, n, subtrahend)] for r, n in keys]


def analyse(samples: list[dict], cfg: RunConfig, impls) -> dict:
    """Per implementation: step time (clock) and t(n) = a + b*n (wall); paired: Lightning - raw of both."""
    result = {"samples": samples, "batch_size": cfg.batch_size, "epochs": cfg.epochs, "step": {}, "fits": {}}
    for impl in impls:
        rows = [s for s in samples if s["impl"] == impl]
        result["step"][impl] = mean_ci([s["step_seconds"] for s in rows])
        result["fits"][impl] = ols([s["steps"] for s in rows], [s["seconds"] for s in rows])
    for name, (a, b) in {"overhead": ("lightning", "raw"), "raw_over_floor": ("raw", "floor")}.items():
        if {a, b} <= set(impls):
            n, d_step = pairs(samples, a, b, "step_seconds")
            n, d_wall = pairs(samples, a, b, "seconds")
            result[name] = {"step": mean_ci(d_step), "fit": ols(n, d_wall)}
    if "overhead" in result:
        o, raw = result["overhead"]["step"], result["step"]["raw"]
        # percent of the raw step; interval by the delta method (the two means taken as independent)
        pct_ci = np.sqrt((o["ci"] / raw["mean"]) ** 2 + (o["mean"] * raw["ci"] / raw["mean"] ** 2) ** 2)
        result["overhead"]["pct"] = 100 * o["mean"] / raw["mean"]
        result["overhead"]["pct_ci"] = 100 * float(pct_ci)
    result["throughput"] = {impl: cfg.batch_size / result["step"][impl]["mean"] for impl in impls}
    return result


QUANTILES = (10, 50)  # the headline is the 10th percentile; the median is reported beside it
BATCHES = 8  # consecutive batches of triples for the drift-aware interval


def analyse_resolve(intervals: dict[str, np.ndarray], seed: int = 0, boot: int = 2000) -> dict:
    """Estimates and 95% intervals from {raw, lightning, raw_again}: arrays (runs, step positions), seconds.

    Row i of every array is triple i. Two runs of one side do the same work at the same step position.
    Per position, a low percentile over runs is that step's cost with the host's interference (another
    tenant's burst, a slow spell lasting several runs) left out as far as the data allow: interference
    only ever adds time (Chen & Revels 2016, "Robust benchmarking in noisy environments", who use the
    minimum; the 10th percentile keeps a bootstrap interval valid). Whatever the code does at a
    position (logging every 50 steps, collecting its own garbage) happens in every run and stays in.

    For q in QUANTILES: overhead = mean over positions of (q-th percentile of Lightning's runs - q-th
    percentile of raw's runs, both raw runs of each triple pooled); control = the same for raw's second
    runs against its first. Two 95% intervals for each:
      ci        percentile bootstrap over triples (`boot` draws, fixed seed): right if the triples are
                independent, that is, if the host's speed does not wander over the session;
      ci_drift  batch means: the same estimate in BATCHES consecutive batches of triples, and Student t
                on their spread, centred on the estimate from all triples. A host that speeds up and slows
                down over minutes widens it; without drift it agrees with `ci`. This is the honest one.
    For comparison, the default protocol's estimator on the same runs: per-run mean, paired, Student t.
    """
    raw, light, again = (np.asarray(intervals[k], float) for k in ("raw", "lightning", "raw_again"))
    n = raw.shape[0]
    names = ("overhead", "control", "raw", "lightning")

    def estimates(idx: np.ndarray) -> np.ndarray:
        """Rows: QUANTILES; columns: `names` (each a mean over step positions)."""
        r, a = raw[idx], again[idx]
        q_raw = np.percentile(np.concatenate([r, a]), QUANTILES, axis=0)
        q_light = np.percentile(light[idx], QUANTILES, axis=0)
        control = np.percentile(a, QUANTILES, axis=0) - np.percentile(r, QUANTILES, axis=0)
        return np.stack([(q_light - q_raw).mean(1), control.mean(1), q_raw.mean(1), q_light.mean(1)], axis=1)

    point = estimates(np.arange(n))
    # scipy's percentile bootstrap, the sample being the triples' indices: a draw takes the raw, Lightning and
    # raw-again rows of a triple together (what paired=True does for separate samples), and every estimate of
    # the draw comes from the same triples
    seed_kw = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"  # scipy < 1.15
    boot_ci = stats.bootstrap(
        (np.arange(n),), lambda idx: estimates(idx.astype(int)).ravel(), vectorized=False, n_resamples=boot,
        method="percentile", **{seed_kw: np.random.default_rng(seed)},
    ).confidence_interval  # fmt: skip
    lo, hi = boot_ci.low.reshape(point.shape), boot_ci.high.reshape(point.shape)
    k = min(BATCHES, n)
    batches = np.stack([estimates(idx) for idx in np.array_split(np.arange(n), k)])  # (k, quantiles, names)
    t = float(stats.t.ppf(0.975, k - 1)) if k > 1 else float("nan")
    drift = t * batches.std(axis=0, ddof=1) / np.sqrt(k) if k > 1 else np.full(point.shape, np.nan)

    by_q = {
        f"q{q}": {
            name: {
                "value": float(point[i, j]),
                "lo": float(lo[i, j]),
                "hi": float(hi[i, j]),
                "ci": float(hi[i, j] - lo[i, j]) / 2,
                "ci_drift": float(drift[i, j]),
                "batches": batches[:, i, j].tolist(),
            }
            for j, name in enumerate(names)
        }
        for i, q in enumerate(QUANTILES)
    }
    per_run = {"raw": raw.mean(1), "lightning": light.mean(1), "raw_again": again.mean(1)}
    sides = (("raw", raw), ("lightning", light), ("raw_again", again))
    return {
        "triples": n,
        "positions": raw.shape[1],
        "boot": boot,
        "batch_edges": [int(b[0]) for b in np.array_split(np.arange(n), k)] + [n],
        **by_q,
        "mean_paired": mean_ci(per_run["lightning"] - (per_run["raw"] + per_run["raw_again"]) / 2),
        "mean_control": mean_ci(per_run["raw_again"] - per_run["raw"]),
        # per run, in order: the median interval (the report plots it against time)
        "per_run_median": {key: np.median(v, axis=1).tolist() for key, v in sides},
        # every interval, in µs to 0.1 µs, one string per run (compact JSON), so that every estimate here
        # can be recomputed: np.array([row.split() for row in intervals_us["raw"]], float)
        "intervals_us": {key: [" ".join(f"{x:.1f}" for x in row) for row in v * 1e6] for key, v in sides},
    }


def rederive_resolve(row: dict) -> bool:
    """A resolve entry saved before the drift-aware interval: recompute its estimates from its stored step
    intervals (all of them are in the JSON), with the current estimator. True if it did."""
    if "ci_drift" in row["q10"]["overhead"] or "intervals_us" not in row:
        return False
    intervals = {
        key: np.array([r.split() if isinstance(r, str) else r for r in runs], float) * 1e-6
        for key, runs in row["intervals_us"].items()
    }
    row.update(analyse_resolve(intervals, boot=row.get("boot", 2000)))
    return True
