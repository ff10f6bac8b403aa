"""The DDP benchmark's instruments (`nox -s bench_ddp`): the fetch clock changes nothing and reads both sides'
epochs, the schedule and the statistics are right, the report reads what the analysis writes; the whole
pipeline once under torchrun in `nox -s tests_ddp`. No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env, run_side
from scipy import stats as sps

from benchmarks.cases import base_config
from benchmarks.clock import harness, stats
from benchmarks.ddp import rank as ddp_rank
from benchmarks.ddp import session as ddp
from benchmarks.report.ddp import ddp_section
from benchmarks.store import runs

ROOT = Path(__file__).resolve().parents[1]


def test_fetch_clock_changes_nothing_and_reads_each_sides_epochs(tmp_path):
    """Both sides fetch as many batches per epoch (Lightning 2.6.6 fetches none beyond the limit), and the clock
    splits the fetches into the epochs' first steps."""
    cfg = base_config("autoencoder", "cpu", "32-true", epochs=2, limit_train_batches=6)
    for impl in ("raw", "lightning"):
        plain = run_side(impl, cfg.replace(out=str(tmp_path / f"{impl}-plain")))
        loaders, clock = ddp_rank.clocked_loaders(cfg)
        clocked = harness.run_module(impl, "autoencoder").run(cfg.replace(out=str(tmp_path / impl)), loaders=loaders)
        assert clocked.train_loss == plain.train_loss and clocked.params_sha256 == plain.params_sha256
        assert len(clock.stamps) == 2 * 6, impl
        total, count = clock.step_seconds(epochs=2, steps_per_epoch=6)
        assert count == 2 * 5 and total > 0
        cpu, _ = clock.step_seconds(epochs=2, steps_per_epoch=6, cpu=True)  # the fetching thread's CPU time
        assert 0 < cpu


def test_fetch_clock_refuses_fetches_that_do_not_split_into_epochs():
    clock = ddp_rank.FetchClock(list(range(10)))
    clock.stamps = [float(i) for i in range(13)]
    with pytest.raises(RuntimeError, match="do not split into 2 epochs"):
        clock.step_seconds(epochs=2, steps_per_epoch=6)
    clock.stamps = clock.stamps[:10]
    with pytest.raises(RuntimeError, match="do not split"):
        clock.step_seconds(epochs=2, steps_per_epoch=6)  # 5 a epoch, fewer than the 6 steps asked for


def test_schedule_runs_every_round_at_both_world_sizes_alternating():
    plan = ddp.schedule(rounds=12, blocks=2)
    assert [w for w, _ in plan] == [1, 2, 2, 1]
    for w in (1, 2):
        assert sorted(r for ws, rounds in plan if ws == w for r in rounds) == list(range(12))
    assert ddp.schedule(rounds=2, blocks=1) == [(1, [0, 1]), (2, [0, 1])]


def test_welch_interval_is_the_textbook_one():
    """stats.welch wraps scipy; checked against Welch-Satterthwaite written out, and a spread-free pair."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(5.0, 1.0, 12), rng.normal(3.0, 2.5, 9)
    ours = stats.welch(a, b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    assert ours["mean"] == pytest.approx(a.mean() - b.mean())
    assert ours["ci"] == pytest.approx(sps.t.ppf(0.975, dof) * np.sqrt(va + vb))
    assert stats.welch([1.0, 1.0], [2.0, 2.0])["ci"] == 0.0
    assert np.isnan(stats.welch([1.0], [2.0, 3.0])["ci"])


def _samples(rng, step: dict, rounds: int, limits: list[int]) -> list[dict]:
    out = []
    for r in range(rounds):
        for limit in limits:
            for impl, s in step.items():
                t = s + rng.normal(0, 5e-6)
                wall = 0.5 + 2 * limit * t
                out.append({"round": r, "limit": limit, "steps": 2 * limit, "impl": impl, "seconds": wall,
                            "step_seconds": t, "cpu_step_seconds": 0.5 * t})  # fmt: skip
    return out


def test_summary_and_report_give_what_ddp_adds_per_side(tmp_path):
    """Simulated samples with known step times: DDP adds 2 ms to the floor and raw, 2.3 ms to Lightning."""
    rng = np.random.default_rng(0)
    case = dict(workload="autoencoder", precision="32-true", epochs=2, limits=[40, 80])
    one = {"raw": 1.9e-3, "lightning": 2.9e-3, "floor": 1.6e-3}
    two = {"raw": 3.9e-3, "lightning": 5.2e-3, "floor": 3.6e-3}
    samples = {(0, 1, 0): _samples(rng, one, 6, case["limits"])}
    samples.update({(0, 2, r): _samples(rng, two, 6, case["limits"]) for r in (0, 1)})
    alone = [1.5e-3 + 1e-6 * r for r in range(6)]
    rows = [{"round": r, "limit": 40, "steps": 80, "impl": "allreduce", "seconds": 0.1, "step_seconds": t,
             "cpu_step_seconds": 0.1 * t} for r, t in enumerate(alone)]  # fmt: skip
    samples[(0, 2, 0)] += rows + [{**r, "impl": "sigterm_broadcast", "step_seconds": 0.2e-3} for r in rows]
    # Lightning without its SIGTERM broadcast: 0.25 ms faster at world size 2, so its overhead grows by 0.05 ms
    no_broadcast = _samples(rng, {ddp.NO_BROADCAST: 4.95e-3}, 6, case["limits"])
    samples[(0, 2, 0)] += no_broadcast
    (row,) = ddp.summarize([case], samples)
    nb = row["without_broadcast"]
    assert nb["saves"]["mean"] == pytest.approx(0.25e-3, abs=10e-6) and nb["saves"]["n"] == 12
    assert nb["overhead_change"]["mean"] == pytest.approx(0.05e-3, abs=10e-6)
    assert row["cpu"]["without_broadcast"]["saves"]["mean"] == pytest.approx(0.125e-3, abs=10e-6)
    assert row["allreduce"]["mean"] == pytest.approx(1.5025e-3) and row["allreduce"]["share_of_floor"] == pytest.approx(
        0.75, abs=0.01
    )
    assert row["ddp"]["floor"]["mean"] == pytest.approx(2.0e-3, abs=10e-6)
    assert row["ddp"]["lightning"]["mean"] == pytest.approx(2.3e-3, abs=10e-6)
    assert row["overhead_change"]["mean"] == pytest.approx(0.3e-3, abs=10e-6)
    assert row["cpu"]["overhead_change"]["mean"] == pytest.approx(0.15e-3, abs=10e-6)  # half, as simulated
    assert row["ddp"]["raw"]["share"] == pytest.approx(2.0 / 3.9, abs=0.01)
    assert len(row["worlds"]["2"]["other_ranks"]) == 1 and not row["worlds"]["1"]["other_ranks"]
    info = {"threads": 1, "rounds": 6, "blocks": 2, "cases": [row]}
    text = "\n".join(ddp_section(info, {"cpu_count": 2}, Path("x.json"), "", tmp_path / "ddp.png", Path("plots")))
    assert re.search(r"\| autoencoder 32-true \| 2 \| 3,60\d\.\d ± \d\.\d \| 3,[89]\d\d\.\d ± ", text)
    assert "2 ranks plus torchrun's agent on 2 cores" in text and "1,502.5 ± 2.0 µs (75% of the floor's)" in text
    assert "| 200.0 ± 0.0 µs |" in text  # the SIGTERM broadcast alone
    assert "Lightning's overhead in CPU time grows by 150." in text
    assert re.search(r"\| autoencoder 32-true \| 5,2\d\d\.\d ± [\d.]+ \| 4,9\d\d\.\d ± [\d.]+ \| 2[45]\d\.\d ± ", text)
    assert (tmp_path / "ddp.png").stat().st_size > 10_000


def test_without_sigterm_broadcast_leaves_out_lightnings_broadcast_counts_and_restores_it():
    """The ablation names the method pytorch-lightning calls every step under DDP; it counts the calls, fails a
    run that made other than one per step, and puts the method back (a run under it is timed by bench_ddp)."""
    from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop

    keep = _TrainingEpochLoop._broadcast_sigterm_tensor
    with ddp_rank.without_sigterm_broadcast(steps=2):
        assert _TrainingEpochLoop._broadcast_sigterm_tensor is not keep
        for _ in range(2):
            assert _TrainingEpochLoop._broadcast_sigterm_tensor(None) is None  # no collective, no process group
    assert _TrainingEpochLoop._broadcast_sigterm_tensor is keep
    with pytest.raises(RuntimeError, match="called _broadcast_sigterm_tensor 0 times in 3 steps"):
        with ddp_rank.without_sigterm_broadcast(steps=3):
            pass
    assert _TrainingEpochLoop._broadcast_sigterm_tensor is keep


@pytest.mark.parametrize(
    "args, message",
    [(["--rounds", "1"], "--rounds 1: at least 2"), (["--results", "FILE"], "is a file, not a folder")],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    (tmp_path / "FILE").write_text("results live here")
    args = [str(tmp_path / "FILE") if a == "FILE" else a for a in args]
    done = subprocess.run([sys.executable, "-m", "benchmarks.ddp", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert (tmp_path / "FILE").read_text() == "results live here"


@pytest.mark.ddp
def test_the_whole_pipeline_under_torchrun_saves_a_run_the_report_reads(tmp_path):
    """`python -m benchmarks.ddp --smoke`: world size 1 and 2 under torchrun, one tiny case, saved and reported."""
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ddp", "--smoke", "--results", str(results)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (saved,) = results.glob("*/*/0001_ddp.json")
    run = runs.read(saved)
    info = runs.result(run)
    (row,) = info["cases"]
    assert run["schema"] == "paired-run" and run["kind"] == "ddp" and info["smoke"] and set(row["worlds"]) == {"1", "2"}
    impls = {"raw", "lightning", "floor"}
    assert {s["impl"] for s in row["worlds"]["1"]["samples"]} == impls
    assert {s["impl"] for s in row["worlds"]["2"]["samples"]} == impls | {"allreduce", "sigterm_broadcast",
                                                                           ddp.NO_BROADCAST}  # fmt: skip
    assert "saves" in row["without_broadcast"]  # its runs made one broadcast call a step (or the run failed)
    report = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", "--results", str(results), str(saved)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "### Under DDP" in (results / "REPORT.md").read_text()
