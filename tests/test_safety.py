"""Checkpoints from elsewhere, killed runs, diverging losses: refused or reported in one line, nothing lost.

Commands are called in-process through the same `main_guard` their `python -m` entry points use
(tests/test_boundaries.py runs the entry points themselves as subprocesses).
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import Payload, call, run_side

from raw_torch.common.checkpoints import in_training_order, save_checkpoint
from raw_torch.common.config import RunConfig
from raw_torch.common.errors import NonFiniteLoss
from with_lightning.minimal import LitLinearRegression

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("raw_torch", "with_lightning")
SHORT = ["--epochs", "2", "--limit-train-batches", "5", "--device", "cpu", "--no-progress-bar"]


# Bad checkpoints given to --resume: (file key, extra flags, words in the one-line error). Both sides.
BAD_CHECKPOINTS = [
    ("empty", [], "empty file (0 bytes)"),
    ("truncated", [], "truncated or corrupt"),
    ("garbage", [], "a binary file of another kind, not a checkpoint (torch.save writes a zip archive)"),
    ("text", [], "a text file, not a checkpoint"),
    ("foreign", [], "not a checkpoint of this suite"),
    ("code", [], "refused, loading it would run code (posix.system)"),
    ("autoencoder", [], "a checkpoint of the autoencoder workload"),
    ("other-side", [], "written by the other side"),
    ("same", ["--lr", "0.5"], "--lr 0.1 (checkpoint) vs 0.5 (this run)"),
    ("same", ["--batch-size", "8", "--precision", "bf16-mixed"], "--batch-size 4 (checkpoint) vs 8"),
    ("last", [], "2 epochs already done; --epochs 2 leaves nothing to train"),
]


@pytest.mark.parametrize("package", PACKAGES)
@pytest.mark.parametrize("key, flags, words", BAD_CHECKPOINTS)
def test_bad_checkpoint_is_refused_in_one_line(capsys, tmp_path, ckpts, package, key, flags, words):
    impl, other = ("raw", "lightning") if package == "raw_torch" else ("lightning", "raw")
    path = {"other-side": ckpts[other], "same": ckpts[impl], "last": ckpts[f"{impl}-last"]}.get(key) or ckpts[key]
    before = path.read_bytes()
    code, lines = call(
        capsys, package, "minimal", [*SHORT, *flags, "--resume", str(path), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], lines
    assert not (tmp_path / "o").exists()  # nothing written
    assert path.read_bytes() == before  # nothing overwritten
    assert not ckpts["marker"].exists()


def test_the_payload_is_live_and_both_loaders_refuse_it(ckpts, tmp_path):
    """Control: loaded without weights_only, the crafted file runs its command. Lightning's own loader,
    given weights_only=True (as with_lightning passes it), refuses it too: two independent locks."""
    with pytest.raises(pickle.UnpicklingError) as exc:
        trainer = pl.Trainer(accelerator="cpu", max_epochs=3, logger=False, enable_progress_bar=False)
        cfg = RunConfig.for_workload("minimal", device="cpu")
        trainer.fit(LitLinearRegression(cfg, lr=0.1), ckpt_path=ckpts["code"], weights_only=True)
    assert "Weights only load failed" in str(exc.value)
    assert not ckpts["marker"].exists()

    marker = tmp_path / "ran"
    torch.save({"x": Payload(marker)}, tmp_path / "live.ckpt")
    torch.load(tmp_path / "live.ckpt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("package", PACKAGES)
def test_evaluate_refuses_a_bad_file_in_the_folder(capsys, tmp_path, ckpts, package):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    own = ckpts["raw" if package == "raw_torch" else "lightning"]  # the other side's files are refused (test_cli)
    (folder / "epoch=0-step=5.ckpt").write_bytes(own.read_bytes())
    (folder / "epoch=1-step=10.ckpt").write_bytes(ckpts["code"].read_bytes())
    code, lines = call(capsys, package, "evaluate", [str(folder), "--device", "cpu"])
    assert code == 2 and len(lines) == 1, lines
    assert "epoch=1-step=10.ckpt: refused, loading it would run code" in lines[0]
    assert not ckpts["marker"].exists()


@pytest.mark.parametrize("package", PACKAGES)
def test_nan_loss_is_reported_with_its_step(capsys, tmp_path, package):
    """lr 1e18 on the minimal example: the loss overflows to inf at step 7, in epoch 1 (5 steps per epoch).
    Epoch 0's checkpoint stays; none is written for the diverged epoch."""
    out = tmp_path / "o"
    code, lines = call(capsys, package, "minimal", [*SHORT, "--lr", "1e18", "--out", str(out)])
    assert code == 1
    assert lines[-1].endswith(
        "error: train_loss became inf at step 7 (epoch 1); stopped before validation and checkpoint"
    ), lines
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch=0-step=5.ckpt"]
    assert not (out / "metrics.json").exists()


def test_nan_after_gradscaler_skips_is_reported_at_the_same_step(tmp_path):
    """16-mixed: GradScaler skips the first 16 steps (inf gradients), then the loss itself overflows."""
    cfg = RunConfig.for_workload("minimal", device="cpu", lr=1e12, precision="16-mixed", progress_bar=False)
    messages = []
    for impl in ("raw", "lightning"):
        with pytest.raises(NonFiniteLoss) as exc:
            run_side(impl, cfg.replace(out=str(tmp_path / impl)))
        messages.append(str(exc.value))
    assert messages[0] == messages[1]
    assert "at step 16 (epoch 0)" in messages[0]


# --- killed runs ---------------------------------------------------------------------------------------------


def test_a_failed_save_leaves_the_earlier_file_whole(tmp_path):
    """torch.save fails half-way (an unpicklable object after a large tensor): the earlier checkpoint under
    that name is untouched and no temporary file remains. A signal mid-save takes the same path."""
    path = tmp_path / "epoch=0-step=5.ckpt"
    save_checkpoint(path, {"weights": torch.ones(100_000)})
    before = path.read_bytes()
    with pytest.raises(Exception, match="lambda"):
        save_checkpoint(path, {"weights": torch.zeros(100_000), "hook": lambda: 0})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_kept_files_get_the_usual_mode_not_the_temporary_files_0600(tmp_path):
    """Write-then-rename goes through mkstemp (mode 0600); the kept file gets what open() would give it."""
    umask = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "a.ckpt", {"weights": torch.ones(3)})
        plain = tmp_path / "plain"
        plain.write_text("")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.ckpt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644


# Lightning handles both signals itself: SIGINT becomes "Detected KeyboardInterrupt, attempting graceful shutdown"
# and exit 1; SIGTERM stops after the current batch with SIGTERMException, a SystemExit without a code (exit 0, as
# if finished). with_lightning reports both as the raw side does (trainer.interrupts_reported): 130 and 143.
EXIT_CODES = {
    ("raw_torch", signal.SIGTERM): 143,
    ("raw_torch", signal.SIGINT): 130,
    ("with_lightning", signal.SIGTERM): 143,
    ("with_lightning", signal.SIGINT): 130,
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("package", PACKAGES)
def test_a_killed_run_leaves_only_complete_checkpoints(tmp_path, package, sig):
    """A checkpoint after every step, so the signal lands while one is being written; then resume from the
    newest file to show it is whole."""
    out = tmp_path / "run"
    args = ["--dataset", "synthetic", "--limit-train-batches", "20", "--device", "cpu", "--no-progress-bar"]
    args += ["--checkpoint-every-n-steps", "1", "--no-logger"]
    proc = subprocess.Popen(
        [sys.executable, "-m", f"{package}.autoencoder", *args, "--epochs", "1000", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    steps = out / "checkpoints" / "steps"
    deadline = time.monotonic() + 120
    while not (steps.is_dir() and len(list(steps.glob("*.ckpt"))) >= 25) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CODES[(package, sig)], stderr[-2000:]
    assert f"interrupted by {sig.name}; every checkpoint already written is complete" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr and "Detected KeyboardInterrupt" not in stderr

    leftovers = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".ckpt")]
    assert leftovers == []  # no temporary file, no half-written checkpoint
    found = in_training_order(steps)  # every file loads (weights_only)
    assert len(found) >= 25
    epoch, step, newest = found[-1]
    resumed = subprocess.run(
        [sys.executable, "-m", f"{package}.autoencoder", *args, "--checkpoint-every-n-steps", "0"]
        + ["--epochs", str(epoch + 2), "--resume", str(newest), "--out", str(tmp_path / "resumed")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (tmp_path / "resumed" / "metrics.json").is_file()


def _wait_for_torch(pid: int, timeout: float = 60) -> None:
    """Until the process has begun loading torch's shared library: the command is importing torch (Lightning's
    commands import Lightning after it), past its package's start-up handlers, before main_guard runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "libtorch" in Path(f"/proc/{pid}/maps").read_text():
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise AssertionError("torch was never loaded")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("package", PACKAGES)
def test_a_signal_while_the_command_starts_is_one_line(tmp_path, package, sig):
    """Ctrl-C (or SIGTERM) while torch and Lightning are still being imported: one line, 128 + the signal, and
    nothing written (before raw_torch/common/startup.py it was a 30-line KeyboardInterrupt traceback)."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", f"{package}.minimal", "--device", "cpu", "--out", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for_torch(proc.pid)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr[-2000:]
    assert stderr.strip().splitlines() == [
        f"{package}.minimal: interrupted by {sig.name} while starting; nothing was written"
    ]
    assert stdout == "" and not out.exists()
