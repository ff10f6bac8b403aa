"""How the report writes its numbers: one formatter for every section (build.py and the modules of its parts)."""

from __future__ import annotations

import math


def pm(value: float, half: float | None = float("nan"), scale: float = 1e6) -> str:
    """`value ± half`, scaled (1e6: µs, 1e3: ms), one decimal; the half-width only when it is known."""
    text = f"{value * scale:,.1f}"
    return text if half is None or math.isnan(half) else f"{text} ± {half * scale:,.1f}"


def step_us(m: dict) -> str:
    """A mean_ci dict in µs: mean ± half-width."""
    return pm(m["mean"], m.get("ci"))


def us_whole(m: dict) -> str:
    """A mean_ci dict already in µs, to the whole µs: mean ± half-width (the probe's numbers)."""
    ci = m.get("ci", float("nan"))
    return f"{m['mean']:,.0f}" + ("" if ci is None or math.isnan(ci) else f" ± {ci:,.0f}")


def fit_pm(fit: dict, key: str, scale: float = 1e6) -> str:
    """An ols coefficient (`a` or `b`) ± the half-width of its interval."""
    return pm(fit[key], fit.get(f"{key}_ci"), scale)


def commit_words(data: dict) -> str:
    """A saved run's commit, as the report names it: `commit 0123456789` (dirty if it was)."""
    ci = data.get("commit_info", {})
    return f"commit {ci.get('id', '?')[:10]}{' (dirty)' if ci.get('dirty') else ''}"
