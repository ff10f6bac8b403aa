"""Two processes under torchrun (gloo, CPU): raw DistributedDataParallel and Lightning's strategy="ddp" compute
the same thing to the last bit, and the two ranks together compute what one process does on their batches.

Each case starts the real commands, `python -m torch.distributed.run --standalone --nproc-per-node 2 -m
<side>.<workload> ...`, as a user would, and compares what rank 0 wrote: metrics.json (every rank's per-step
losses, gathered; the validation and test losses, reduced across ranks) and the checkpoints. The quick case
runs in `nox -s tests`; the matrix (`-m ddp`) in `nox -s tests_ddp`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import child_env

from raw_torch.common.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--epochs", "2", "--limit-train-batches", "4", "--limit-val-batches", "2"]
TIMEOUT = 180  # seconds per command: a hang fails the test instead of stalling the run


def torchrun(package: str, workload: str, args: list[str], out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", f"{package}.{workload}", *args, "--no-progress-bar", "--out", str(out)]  # fmt: skip
    env = child_env(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=out.parent)


def run_pair(tmp_path: Path, workload: str, args: list[str]) -> tuple[dict, dict]:
    """Both sides on the same flags; their metrics.json."""
    out = {}
    for package, impl in (("raw_torch", "raw"), ("with_lightning", "lightning")):
        done = torchrun(package, workload, args, tmp_path / impl)
        assert done.returncode == 0, done.stderr[-3000:]
        out[impl] = json.loads((tmp_path / impl / "metrics.json").read_text())
    return out["raw"], out["lightning"]


def assert_checkpoints_equal(tmp_path: Path) -> None:
    """Rank 0's checkpoints: the same files, the same weights and Adam moments, bit for bit."""
    raw_files = sorted(p.name for p in (tmp_path / "raw" / "checkpoints").glob("*.ckpt"))
    assert raw_files and raw_files == sorted(p.name for p in (tmp_path / "lightning" / "checkpoints").glob("*.ckpt"))
    for name in raw_files:
        raw = torch.load(tmp_path / "raw" / "checkpoints" / name, weights_only=True)
        lit = torch.load(tmp_path / "lightning" / "checkpoints" / name, weights_only=True)
        lit_model = {k.removeprefix("model."): v for k, v in lit["state_dict"].items()}
        assert raw["model"].keys() == lit_model.keys()
        for key, value in raw["model"].items():
            assert torch.equal(value, lit_model[key]), (name, key)
        for i, state in raw["optimizer"]["state"].items():
            for moment in ("exp_avg", "exp_avg_sq"):
                assert torch.equal(state[moment], lit["optimizer_states"][0]["state"][i][moment]), (name, i, moment)


def assert_same_run(raw: dict, lit: dict, steps: int) -> None:
    assert raw["world_size"] == lit["world_size"] == 2
    by_rank = raw["train_loss_by_rank"]
    assert len(by_rank) == 2 and all(len(r) == steps for r in by_rank)
    assert by_rank[0] == raw["train_loss"]  # train_loss is rank 0's own
    assert by_rank[0] != by_rank[1]  # control: each rank trained on its own share of the data
    assert {k: v for k, v in raw.items() if k != "impl"} == {k: v for k, v in lit.items() if k != "impl"}


def test_two_ranks_bitwise_equal(tmp_path):
    """The quick case of `nox -s tests`: the autoencoder, 32-true, 2 epochs of 4 steps on each of 2 ranks."""
    raw, lit = run_pair(tmp_path, "autoencoder", TINY)
    assert_same_run(raw, lit, steps=8)
    assert_checkpoints_equal(tmp_path)


@pytest.mark.ddp
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("workload", ["autoencoder", "minimal"])
def test_two_ranks_bitwise_equal_matrix(tmp_path, workload, precision):
    """Both workloads, the three precisions (fp16 with GradScaler on CPU on both sides: Lightning's CPU fp16
    plugin works under DDP). The minimal example's training loader is built with shuffle=False; Lightning
    shuffles it anyway under DDP, and the raw side does the same (loop.distributed_loader)."""
    args = TINY if workload == "autoencoder" else ["--epochs", "2", "--limit-train-batches", "5"]
    raw, lit = run_pair(tmp_path, workload, [*args, "--precision", precision])
    assert_same_run(raw, lit, steps=8 if workload == "autoencoder" else 10)
    assert_checkpoints_equal(tmp_path)


class GlobalBatches(torch.utils.data.Sampler):
    """One process's batch sampler that yields, per step, rank 0's batch then rank 1's, as the two ranks'
    DistributedSamplers draw them (the same seed and epoch): the global batch of one DDP step."""

    def __init__(self, dataset, batch_size: int, seed: int) -> None:
        self.samplers = [
            torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=r, shuffle=True, seed=seed)
            for r in range(2)
        ]
        self.batch_size, self.epoch = batch_size, 0

    def __iter__(self):
        per_rank = []
        for s in self.samplers:
            s.set_epoch(self.epoch)
            idx = list(s)
            per_rank.append([idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)])
        self.epoch += 1
        for a, b in zip(*per_rank, strict=True):
            yield a + b

    def __len__(self) -> int:
        return len(self.samplers[0]) // self.batch_size + (len(self.samplers[0]) % self.batch_size > 0)


@pytest.mark.ddp
def test_two_ranks_compute_what_one_process_does_on_their_batches(tmp_path):
    """DDP averages the two ranks' gradients of their batch means; one process on the concatenated batch (the
    same samples, equal halves) takes the gradient of the mean over both: the same step, summed in another
    order. 32-true: each step's loss (the mean over ranks against the one process's) and the final weights
    (each tensor, relative to its norm) agree within a relative 1e-4. Found here: half the steps' losses equal
    to the bit, the rest within 1e-7; the weights within 5e-8 of their norms."""
    from raw_torch import autoencoder
    from raw_torch.common.data import make_autoencoder_loaders

    raw, _ = run_pair(tmp_path, "autoencoder", TINY)
    cfg = RunConfig.for_workload(
        "autoencoder", device="cpu", dataset="synthetic", epochs=2, limit_train_batches=4, limit_val_batches=2,
        progress_bar=False, out=str(tmp_path / "one"),
    )  # fmt: skip
    train, val, test = make_autoencoder_loaders(cfg)
    glob = torch.utils.data.DataLoader(train.dataset, batch_sampler=GlobalBatches(train.dataset, 32, cfg.seed))
    one = autoencoder.run(cfg, loaders=(glob, val, test))
    mean_over_ranks = [(a + b) / 2 for a, b in zip(*raw["train_loss_by_rank"], strict=True)]
    assert one.train_loss == pytest.approx(mean_over_ranks, rel=1e-4)
    last = sorted((tmp_path / "raw" / "checkpoints").glob("*.ckpt"))[-1]
    ddp_weights = torch.load(last, weights_only=True)["model"]
    for name, p in one.model.state_dict().items():  # relative to each tensor's norm (an element near 0 has none)
        assert (p - ddp_weights[name]).norm() <= 1e-4 * ddp_weights[name].norm(), name


@pytest.mark.parametrize("package", ["raw_torch", "with_lightning"])
def test_what_ddp_does_not_cover_yet_is_refused_in_one_line(tmp_path, package):
    """Under torchrun: the closed-form lstsq solve (no gradient step for DDP to average) is refused by every
    rank, one line each, before anything is written; torchrun then reports the failed ranks itself."""
    out = tmp_path / "run"
    done = torchrun(package, "minimal", ["--solver", "lstsq"], out)
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if "--solver lstsq under torchrun" in line]
    assert len(ours) == 2  # one line from each rank
    assert not out.exists()


def rank_pid(parent: int, rank: int) -> int:
    """The pid of torchrun's worker with RANK=rank (torchrun starts its workers as its own children)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if f"RANK={rank}".encode() in env:
            return int(stat.parent.name)
    raise LookupError(f"no worker with RANK={rank} under pid {parent}")


@pytest.mark.ddp
@pytest.mark.parametrize("package", ["raw_torch", "with_lightning"])
def test_a_killed_rank_ends_the_job_and_leaves_every_checkpoint_loadable(tmp_path, package):
    """Rank 1 is killed (SIGKILL) in the second epoch: the whole job ends with a non-zero exit within 60 s (no
    hang), torchrun names the killed rank, and every checkpoint rank 0 wrote loads."""
    import os
    import signal
    import time

    from raw_torch.common.checkpoints import load_checkpoint

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", f"{package}.autoencoder", "--dataset", "synthetic", "--epochs", "1000", "--limit-val-batches", "2",
           "--no-progress-bar", "--out", str(out)]  # fmt: skip
    env = child_env(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=True
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not list((out / "checkpoints").glob("*.ckpt")):  # the first epoch is done
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.1)
        time.sleep(0.5)  # inside the second epoch
        os.kill(rank_pid(proc.pid, rank=1), signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = proc.communicate(timeout=60)  # TimeoutExpired: a hang
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and took < 60
    assert "Signal 9 (SIGKILL) received by PID" in stderr  # torchrun's report names the killed rank
    ours = [line for line in stderr.splitlines() if line.startswith(f"{package}.autoencoder: error: rank 0: ")]
    assert len(ours) == 1 and "another process of the job is gone" in ours[0]  # rank 0: one line, no traceback
    assert stderr.count("Traceback (most recent call last)") <= 1  # torchrun's own report; none from the ranks
    files = sorted((out / "checkpoints").glob("*.ckpt"))
    assert files and not list((out / "checkpoints").glob("*.tmp*"))
    for path in files:
        load_checkpoint(path)  # complete and safe to load (written atomically, then renamed)


@pytest.mark.ddp
def test_resume_under_torchrun_is_bitwise_at_an_epoch_boundary(tmp_path):
    """3 epochs in one go, and 1 epoch then `--resume` for the other 2, each under torchrun with 2 ranks: the
    resumed run repeats the uninterrupted one to the last bit (every rank's losses, the reduced validation and
    test losses, the weights), on both sides, and the two sides' resumed runs are equal. Each rank resumes from
    its own RNG state (`rng_by_rank`, gathered into rank 0's file)."""
    args = ["--dataset", "synthetic", "--epochs", "3", "--limit-train-batches", "3", "--limit-val-batches", "2"]
    full = dict(zip(("raw", "lightning"), run_pair(tmp_path / "full", "autoencoder", args), strict=True))
    resumed = {}
    for package, impl in (("raw_torch", "raw"), ("with_lightning", "lightning")):
        ckpt = tmp_path / "full" / impl / "checkpoints" / "epoch=0-step=3.ckpt"
        assert len(torch.load(ckpt, weights_only=True)["rng_by_rank"]) == 2
        done = torchrun(package, "autoencoder", [*args, "--resume", str(ckpt)], tmp_path / f"resumed-{impl}")
        assert done.returncode == 0, done.stderr[-3000:]
        resumed[impl] = json.loads((tmp_path / f"resumed-{impl}" / "metrics.json").read_text())
        f, r = full[impl], resumed[impl]
        assert r["train_loss_by_rank"] == [losses[3:] for losses in f["train_loss_by_rank"]]
        assert r["val_loss"] == f["val_loss"][1:]
        assert (r["test_loss"], r["params_sha256"]) == (f["test_loss"], f["params_sha256"])
    assert {k: v for k, v in resumed["raw"].items() if k != "impl"} == {
        k: v for k, v in resumed["lightning"].items() if k != "impl"
    }


@pytest.mark.parametrize("package", ["raw_torch", "with_lightning"])
def test_a_checkpoint_of_two_processes_is_refused_in_one(tmp_path, package):
    """A checkpoint holds the world size that wrote it; resuming it with another is refused in one line."""
    impl = "raw" if package == "raw_torch" else "lightning"
    args = ["--dataset", "synthetic", "--limit-train-batches", "2", "--limit-val-batches", "1"]
    done = torchrun(package, "autoencoder", [*args, "--epochs", "1"], tmp_path / impl)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = next((tmp_path / impl / "checkpoints").glob("*.ckpt"))
    one = subprocess.run(
        [sys.executable, "-m", f"{package}.autoencoder", *args, "--epochs", "3", "--resume", str(ckpt), "--out",
         str(tmp_path / "one")],
        capture_output=True, text=True, timeout=TIMEOUT, env=child_env(PYTHONPATH=str(ROOT)), cwd=tmp_path,
    )  # fmt: skip
    assert one.returncode == 2
    assert one.stderr.strip().splitlines() == [
        f"{package}.autoencoder: error: {ckpt}: written by a job of 2 process(es), this one has 1; "
        "resume it under torchrun with 2 processes in all"
    ]
    assert not (tmp_path / "one").exists()


def test_one_torch_thread_per_rank_on_cpu_unless_told(monkeypatch):
    """Under torchrun (its variables set), a CPU run takes one torch thread, as torchrun sets for several
    processes per node; OMP_NUM_THREADS, when set, wins; one process keeps torch's own count."""
    from raw_torch.common.cli import one_thread_per_rank

    cfg = RunConfig.for_workload("autoencoder", device="cpu")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        one_thread_per_rank(cfg)  # one process: untouched
        assert torch.get_num_threads() == 2
        for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1")):
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        one_thread_per_rank(cfg)  # told
        assert torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        one_thread_per_rank(cfg)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
