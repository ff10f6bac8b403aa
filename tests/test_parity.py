"""The two sides compute the same thing, to the last bit, on CPU, in all three precisions.

Each case trains 2 epochs with shuffling (autoencoder), validation, the sanity check, TensorBoard
logging, a checkpoint per epoch and the progress bar all on, then tests. No tolerance anywhere:
floats are compared with ==, parameters with torch.equal.
"""

from __future__ import annotations

import pytest
import torch
from conftest import PRECISIONS, assert_params_equal, run_side

from raw_torch.common.config import RunConfig

# mnist-5k: 3,667 train / 333 val / 1,000 test images, batch 32 -> 115 steps per epoch
CASES = {
    "minimal": dict(epochs=2),  # 100 steps per epoch, Adam lr 0.1
    "autoencoder": dict(epochs=2, dataset="mnist-5k"),
}
STEPS = {"minimal": 200, "autoencoder": 230}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("workload", CASES)
def test_bitwise_equal(pair, workload, precision):
    raw, lit, _ = pair(workload, precision=precision, **CASES[workload])
    assert len(raw.train_loss) == STEPS[workload]
    assert raw.train_loss == lit.train_loss  # every step's loss
    assert len(raw.val_loss) == 2  # one per epoch; the sanity check is not in it
    assert raw.val_loss == lit.val_loss
    assert raw.test_loss == lit.test_loss
    assert_params_equal(raw.model, lit.model)
    assert raw.params_sha256 == lit.params_sha256
    assert {k: v for k, v in raw.to_json().items() if k != "impl"} == {
        k: v for k, v in lit.to_json().items() if k != "impl"
    }


@pytest.mark.parametrize("workload", CASES)
def test_precisions_really_differ(pair, workload):
    """Control: the three precisions give three different trajectories, so autocast (and fp16) is really on."""
    losses = [tuple(pair(workload, precision=p, **CASES[workload])[0].train_loss) for p in PRECISIONS]
    assert len(set(losses)) == 3


def test_seed_changes_everything(pair):
    """Control: the comparison is sensitive; another seed gives another initialization and batch order."""
    a = pair("autoencoder", **CASES["autoencoder"])[0]
    b = pair("autoencoder", seed=1, **CASES["autoencoder"])[0]
    assert a.train_loss[0] != b.train_loss[0]
    assert a.params_sha256 != b.params_sha256


def test_16_mixed_uses_a_grad_scaler_on_both_sides(pair):
    """fp16 on CPU means GradScaler on both sides; the raw side's scale started at 2**16 like Lightning's."""
    raw, lit, folder = pair("autoencoder", precision="16-mixed", **CASES["autoencoder"])
    raw_ckpt = torch.load(next((folder / "raw" / "checkpoints").glob("epoch=1-*")), weights_only=True)
    lit_ckpt = torch.load(next((folder / "lightning" / "checkpoints").glob("epoch=1-*")), weights_only=True)
    assert raw_ckpt["scaler"]["scale"] == lit_ckpt["MixedPrecision"]["scale"]
    assert raw_ckpt["scaler"]["_growth_tracker"] == lit_ckpt["MixedPrecision"]["_growth_tracker"]


def test_the_raw_evaluation_divides_on_one_device():
    """CUDA parity pitfall: dividing a CUDA total by a CPU 0-dim tensor (or a Python number) makes PyTorch's
    CUDA kernel multiply by the reciprocal, one float32 ulp away from Lightning's true division (its
    cumulated batch size lives on the module's device). On the meta device, no GPU needed: the operands
    of the evaluation's division must share one device."""
    from contextlib import nullcontext

    from torch.utils._python_dispatch import TorchDispatchMode

    from raw_torch import loop, minimal
    from raw_torch.common.config import RunConfig
    from raw_torch.common.data import make_minimal_loaders
    from raw_torch.common.models import LinearRegression

    class DivisionSpy(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.devices: list[set[str]] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket is torch.ops.aten.div:
                self.devices.append({a.device.type for a in args if isinstance(a, torch.Tensor)})
            return func(*args, **(kwargs or {}))

    meta = torch.device("meta")
    _, val_loader, _ = make_minimal_loaders(RunConfig.for_workload("minimal"))
    model = LinearRegression().to(meta)
    with DivisionSpy() as spy:
        result = loop.evaluate(model, val_loader, minimal.compute_loss, meta, nullcontext(), max_batches=3)
    assert result.device == meta
    assert spy.devices and spy.devices[-1] == {"meta"}, spy.devices


def test_the_on_device_input_path_gives_the_same_batches_bitwise(tmp_path):
    """--data-on-device (the dataset's tensors on the device, each batch one gather by index, the same batch
    sampler): on both sides, every loss and the final weights equal the plain path's, bit for bit. On this
    CPU the device is the CPU, so this pins the batches and their order; tests/test_cuda.py runs it on a GPU."""
    for workload, extra in (("minimal", {}), ("autoencoder", {"dataset": "synthetic"})):
        cfg = RunConfig.for_workload(
            workload, device="cpu", epochs=2, limit_train_batches=10, progress_bar=False, logger=False, **extra
        )
        records = [
            run_side(impl, cfg.replace(out=str(tmp_path / f"{workload}-{impl}-{on}"), data_on_device=on))
            for impl in ("raw", "lightning")
            for on in (False, True)
        ]
        first = records[0]
        for r in records[1:]:
            assert (r.train_loss, r.val_loss, r.test_loss) == (first.train_loss, first.val_loss, first.test_loss)
            assert r.params_sha256 == first.params_sha256
