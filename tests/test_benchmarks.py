"""The measuring instruments themselves: the step clock changes nothing, the statistics are right,
the report reads real pytest-benchmark output and survives a broken file. (No timing is asserted.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env, run_side
from scipy import stats as sps

from benchmarks.cases import base_config
from benchmarks.clock import harness, stats

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("workload", ["minimal", "autoencoder"])
def test_step_clock_changes_nothing_it_measures(tmp_path, workload):
    cfg = base_config(workload, "cpu", "16-mixed", epochs=2, limit_train_batches=12)
    for impl in ("raw", "lightning"):
        plain = run_side(impl, cfg.replace(out=str(tmp_path / f"{impl}-plain")))
        loaders, clock = harness.clocked_loaders(cfg)
        module = harness.run_module(impl, workload)
        clocked = module.run(cfg.replace(out=str(tmp_path / f"{impl}-clocked")), loaders=loaders)
        assert clocked.train_loss == plain.train_loss and clocked.params_sha256 == plain.params_sha256
        assert [len(e) >= 12 for e in clock.epochs] == [True, True]  # one stamp per fetched batch, per epoch
        total, count = clock.step_seconds(12)
        assert count == 2 * 11 and total > 0


def test_ols_recovers_a_line_and_its_interval_covers_it():
    rng = np.random.default_rng(0)
    x = np.repeat([100, 200, 300, 400], 8)
    y = 0.25 + 0.001 * x + rng.normal(0, 0.01, len(x))
    fit = stats.ols(x, y)
    assert abs(fit["b"] - 0.001) < fit["b_ci"] and abs(fit["a"] - 0.25) < fit["a_ci"]
    design = np.column_stack([np.ones_like(x), x])  # the textbook interval: s^2 (X'X)^-1, Student t, N-2
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    cov = float(resid @ resid) / (len(x) - 2) * np.linalg.inv(design.T @ design)
    t = sps.t.ppf(0.975, len(x) - 2)
    assert fit["b_ci"] == pytest.approx(t * np.sqrt(cov[1, 1])) and fit["a_ci"] == pytest.approx(t * np.sqrt(cov[0, 0]))
    exact = stats.ols([1, 2, 3], [3, 5, 7])
    assert exact["a"] == pytest.approx(1) and exact["b"] == pytest.approx(2) and exact["b_ci"] == pytest.approx(0)


def test_paired_analysis_subtracts_the_right_pairs():
    samples = [
        {"round": r, "steps": n, "impl": impl, "seconds": 0.1 + n * step, "step_seconds": step}
        for r in range(3)
        for n in (100, 200)
        for impl, step in (("raw", 1e-3), ("lightning", 1.5e-3), ("floor", 0.8e-3))
    ]
    result = stats.analyse(samples, base_config("minimal", "cpu", "32-true"), ("raw", "lightning", "floor"))
    assert result["overhead"]["step"]["mean"] == pytest.approx(0.5e-3)
    assert result["overhead"]["pct"] == pytest.approx(50)
    assert result["overhead"]["fit"]["b"] == pytest.approx(0.5e-3)
    assert result["raw_over_floor"]["step"]["mean"] == pytest.approx(0.2e-3)


def _noisy_runs(rng, base: np.ndarray, runs: int, slow_runs: int = 0) -> np.ndarray:
    """Step intervals of `runs` runs of code costing `base` (s) per position, with interference that only
    adds time: a shift per run, jitter on every step, a few long stalls, and `slow_runs` runs 60% slower
    throughout."""
    jitter = rng.exponential(30e-6, (runs, 1)) + rng.exponential(20e-6, (runs, base.size))
    stalls = (rng.random((runs, base.size)) < 0.02) * rng.exponential(2e-3, (runs, base.size))
    slow = np.where(np.arange(runs) < slow_runs, 1.6, 1.0)[:, None]
    return (base + jitter + stalls) * slow


def test_resolve_keeps_costs_at_fixed_steps_and_leaves_out_interference():
    rng = np.random.default_rng(1)
    positions = np.arange(200)
    raw_cost = np.full(200, 1e-3)
    extra = np.where(positions % 50 == 49, 5e-3, 0.4e-3)  # Lightning: +400 µs a step, +5 ms every 50th step
    truth = extra.mean()  # 492 µs
    intervals = {
        "raw": _noisy_runs(rng, raw_cost, 40),
        "lightning": _noisy_runs(rng, raw_cost + extra, 40, slow_runs=3),
        "raw_again": _noisy_runs(rng, raw_cost, 40),
    }
    result = stats.analyse_resolve(intervals, boot=300)
    for q in ("q10", "q50"):  # the every-50th-step cost is in, once; the interval is about right
        over, control = result[q]["overhead"], result[q]["control"]
        assert abs(over["value"] - truth) <= 2 * over["ci"] and over["ci"] < 15e-6, (q, over)
        assert abs(control["value"]) <= 2 * control["ci"] and control["ci"] < 15e-6, (q, control)
    # the per-run mean (the default protocol's estimator) takes in the three slow runs whole
    assert result["mean_paired"]["mean"] - truth > 20e-6
    assert len(result["per_run_median"]["lightning"]) == 40
    saved = np.array([row.split() for row in result["intervals_us"]["lightning"]], float) * 1e-6
    assert np.abs(saved - intervals["lightning"]).max() <= 0.051e-6  # every interval kept, to 0.1 µs


def test_resolve_drift_aware_interval_widens_when_the_overhead_wanders():
    """A host whose slow spells tax Lightning's code more than raw's: the overhead itself wanders over
    the session. The bootstrap treats the triples as independent and stays narrow; batch means see it."""
    rng = np.random.default_rng(3)
    cost = np.full(100, 1e-3)
    wander = 60e-6 * np.sin(np.linspace(0, 3 * np.pi, 64))[:, None]  # slow, not random from triple to triple
    intervals = {
        "raw": _noisy_runs(rng, cost, 64),
        "lightning": _noisy_runs(rng, cost + 0.4e-3, 64) + wander,
        "raw_again": _noisy_runs(rng, cost, 64),
    }
    q10 = stats.analyse_resolve(intervals, boot=300)["q10"]
    assert q10["overhead"]["ci_drift"] > 1.5 * q10["overhead"]["ci"]
    assert max(q10["overhead"]["batches"]) - min(q10["overhead"]["batches"]) > 60e-6
    assert q10["control"]["ci_drift"] < 15e-6  # raw against raw does not wander


def test_resolve_interval_holds_zero_when_both_sides_are_the_same_code():
    rng = np.random.default_rng(2)
    cost = 1e-3 + 1e-4 * np.sin(np.arange(150))
    intervals = {k: _noisy_runs(rng, cost, 30) for k in ("raw", "lightning", "raw_again")}
    result = stats.analyse_resolve(intervals, boot=300)
    for q in ("q10", "q50"):
        assert abs(result[q]["overhead"]["value"]) <= 2 * result[q]["overhead"]["ci"]
        assert result[q]["overhead"]["ci_drift"] < 3 * result[q]["overhead"]["ci"]  # no drift: the two agree
        assert result[q]["raw"]["value"] == pytest.approx(cost.mean(), abs=50e-6)


def _file_run(run_json: Path, results: Path, name: str) -> subprocess.CompletedProcess:
    """What the nox sessions do after pytest: `python -m benchmarks.store save`."""
    cmd = [sys.executable, "-m", "benchmarks.store", "save", str(run_json), "--as", name, "--results", str(results)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_report_reads_a_saved_run_and_skips_a_broken_one(tmp_path):
    results, run_json = tmp_path / "results", tmp_path / "run.json"
    bench = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "benchmarks/bench_startup.py::test_trainer_construction", f"--benchmark-json={run_json}",
         "--benchmark-min-rounds=1"],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stdout[-2000:]
    filed = _file_run(run_json, results, "smoke")
    assert filed.returncode == 0, filed.stderr
    (saved,) = results.glob("*/*/0001_smoke.json")
    assert saved.read_bytes() == run_json.read_bytes()  # pytest-benchmark's own JSON, as it wrote it
    assert "paired" in json.loads(saved.read_text())["machine_info"]
    broken = saved.with_name("0002_broken.json")
    broken.write_text('{"benchmarks": [')  # an interrupted write
    report = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", "--results", str(results), str(saved), str(broken)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert f"skipping {broken}" in report.stderr
    text = (results / "REPORT.md").read_text()
    assert "Trainer(...) construction" in text and "torch 2." in text
    assert (results / "plots" / f"{saved.parent.parent.name}-startup_memory.png").stat().st_size > 0


def test_an_interrupted_benchmark_saves_nothing_and_keeps_earlier_runs(tmp_path):
    """Ctrl-C after one benchmark finished, most likely inside a Lightning fit (which swallows it, see
    benchmarks/conftest.py): pytest stops with "interrupted", and its JSON, marked incomplete, is refused
    by the store, by nox's route or by hand; the earlier run stays byte for byte."""
    results, run_json = tmp_path / "results", tmp_path / "run.json"
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "benchmarks/bench_startup.py",
           f"--benchmark-json={run_json}"]  # fmt: skip
    env = child_env(PAIRED_BENCH_ROUNDS="3", PYTHONUNBUFFERED="1")
    first = subprocess.run([*cmd, "-k", "trainer_construction"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stdout[-2000:]
    assert _file_run(run_json, results, "run").returncode == 0
    (saved,) = results.glob("*/*/0001_run.json")
    before = saved.read_bytes()
    run_json.unlink()

    proc = subprocess.Popen(
        [*cmd, "-k", "trainer_construction or (one_step_run and lightning)"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen = ""
    while "PASSED" not in seen:  # one benchmark has finished: there is something a careless save would write
        line = proc.stdout.readline()
        assert line, seen[-2000:]
        seen += line
    time.sleep(1.0)  # into the Lightning one-step runs
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2  # pytest's "interrupted": nox stops here and files nothing
    assert "run interrupted, nothing saved" in seen + rest
    assert json.loads(run_json.read_text())["incomplete"] is True  # pytest-benchmark still wrote what it had
    refused = _file_run(run_json, results, "run")  # filed by hand all the same: refused in one line
    assert refused.returncode == 2 and "did not finish" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in saved.parent.iterdir()) == ["0001_run.json"]  # no 0002, no temporary file
    assert saved.read_bytes() == before


def test_a_session_in_parts_cut_by_a_signal_keeps_its_finished_parts(tmp_path):
    """`python -m benchmarks.store parts` (what `nox -s bench_gpu` runs), on CPU with two parts of its own, stopped
    by SIGTERM to its process group in the second part, as a lease's time limit stops it: the first part is saved
    whole, nothing of the second, no temporary file; the report shows the saved part and names the missing one."""
    from benchmarks.report.build import main as report

    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "benchmarks.store", "parts", "--device", "cpu", "--results", str(results),
           "--part", "startup:benchmarks/bench_startup.py:test_trainer_construction",
           "--part", "steps:benchmarks/bench_steps.py:test_step_cost and minimal-cpu-32-true",
           "--", "-p", "no:cacheprovider", "-q"]  # fmt: skip
    env = child_env(PAIRED_BENCH_ROUNDS="3", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    seen = ""
    while "parts: steps: " not in seen:  # the first part is saved and the second has begun
        line = proc.stdout.readline()
        assert line, seen[-2000:]
        seen += line
    time.sleep(1.5)  # into the second part's pytest run
    os.killpg(proc.pid, signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, seen + rest
    assert "parts: startup saved" in seen and "steps saved" not in rest
    (saved,) = results.glob("*/*/*")
    assert saved.name == "0001_cpu-startup.json"
    paired = json.loads(saved.read_text())["machine_info"]["paired"]
    assert (paired["part"], paired["parts"]) == ("startup", ["startup", "steps"])
    assert report(["--results", str(results)]) == 0
    text = (results / "REPORT.md").read_text()
    assert "startup `0001_cpu-startup.json`" in text and "Trainer(...) construction" in text
    assert "**Partial run: the part steps of this session was not saved**" in text


def test_a_broken_newest_run_never_hides_the_full_run_before_it(tmp_path):
    """A truncated newest run (say, copied in half) beside the committed reference runs: the report names
    it, skips it and reports the newest complete run; no temporary file is left in results/ or plots/."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "cpu-amd-epyc-2core", results / "cpu-amd-epyc-2core")
    *_, reference = sorted(results.glob("cpu-amd-epyc-2core/*/[0-9][0-9][0-9][0-9]_bench.json"))
    broken = reference.with_name(f"{int(reference.name[:4]) + 1:04d}_bench.json")
    broken.write_text(reference.read_text()[:5000])
    (results / "REPORT.md").write_text("the report before")  # replaced, as in the committed results/
    report = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert f"skipping {broken}" in report.stderr
    text = (results / "REPORT.md").read_text()
    assert reference.name in text
    resolved = sorted(results.glob("cpu-amd-epyc-2core/*/[0-9][0-9][0-9][0-9]_resolve.json"))
    if resolved:  # a committed `nox -s resolve` run is reported beside the full run, with its plot
        assert resolved[-1].name in text and "Resolution: the 32-true per-step overhead" in text
        assert (results / "plots" / "cpu-amd-epyc-2core-resolve.png").stat().st_size > 0
    leftovers = [p.name for p in results.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_a_resolve_run_saved_before_the_drift_aware_interval_is_rederived_from_its_intervals(tmp_path):
    """The first committed resolve run (0003) predates `ci_drift`; the report recomputes its estimates from
    the step intervals it stored, with today's estimator, and says so."""
    old = sorted(ROOT.glob("results/*/*/0003_resolve.json"))
    if not old:
        pytest.skip("no resolve run from before the drift-aware interval is committed")
    report = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", "--results", str(tmp_path), str(old[0])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "REPORT.md").read_text()
    assert "re-derived here from the step intervals it stored" in text
    assert "drift-aware" in text and "±nan" not in text and "no drift-aware interval" not in text


def test_the_gpu_sweep_section_reports_what_the_protocol_measured(tmp_path):
    """The GPU sweep's report section and plot, fed by a real (tiny, CPU) run of the same protocol on the
    on-device input path: one table row per point, with raw / floor, and a PNG."""
    from benchmarks.report.gpu import gpu_scaling_section

    cfg = base_config("autoencoder", "cpu", "bf16-mixed", hidden=8, batch_size=256, epochs=1, data_on_device=True)
    result = harness.protocol(cfg, [2, 3], 1)
    row = {"kind": "scaling_gpu", "hidden": 8, "precision": "bf16-mixed", "rounds": 1, **result}
    lines = gpu_scaling_section([row], tmp_path / "gpu.png", Path("plots"))
    (table_row,) = [line for line in lines if line.startswith("| 8 | 256 | bf16-mixed |")]
    ratio = result["step"]["raw"]["mean"] / result["step"]["floor"]["mean"]
    assert table_row.endswith(f"| {ratio:.2f}x |")
    assert (tmp_path / "gpu.png").stat().st_size > 0


def test_without_a_gpu_every_optimizer_step_asks_nvml_once_lightning_is_imported(monkeypatch):
    """Why the raw side runs without PYTORCH_NVML_BASED_CUDA_CHECK (harness.side_environment): on a machine whose
    torch is a CUDA build but which has no GPU, CUDA is never initialised, torch.cuda.device_count() never caches,
    and with the variable set every optimizer step asks NVML (docs/gpu.md, "NVML on a GPU"); without it, never.
    On a GPU the count is cached: tests/test_cuda.py."""
    import torch
    from test_cuda import nvml_calls_per_step

    if torch.cuda.is_available() or not torch.backends.cuda.is_built():
        pytest.skip("a CUDA build of torch on a machine without a GPU is the case in question")
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    assert nvml_calls_per_step("cpu") == (1, 1)
    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK")
    assert nvml_calls_per_step("cpu") == (1, 0)


def test_the_gpu_plan_covers_every_case_of_bench_gpu_within_five_minutes():
    """The plan of docs/gpu.md, from the committed H200 run and today's lengths and rounds: each case of bench_gpu's
    parts once, at most 300 s in all. It fails when a case, a round or a length is added without room for it."""
    from benchmarks.bench_scaling import GPU_POINTS
    from benchmarks.clock import gpu_plan
    from benchmarks.store.parts import GPU_PARTS

    rows, total = gpu_plan.plan(ROOT / gpu_plan.RUN_0001)
    parts = [part for part, *_ in rows]
    assert sorted(set(parts)) == sorted(name for name, _, _ in GPU_PARTS)
    assert parts.count("steps") == parts.count("device") == 6 and parts.count("sweep") == len(GPU_POINTS)
    assert total <= gpu_plan.BUDGET


def test_docs_gpu_md_quotes_the_plan_as_the_code_computes_it(capsys):
    """docs/gpu.md's table is `python -m benchmarks.clock.gpu_plan`'s output, verbatim: it cannot drift."""
    from benchmarks.clock import gpu_plan

    assert gpu_plan.main(["--run", str(ROOT / gpu_plan.RUN_0001)]) == 0
    assert capsys.readouterr().out.strip() in (ROOT / "docs" / "gpu.md").read_text()
