"""Resume without drift: a run stopped and continued with --resume equals the uninterrupted run, bitwise.

The uninterrupted runs are the parity runs of test_parity (2 epochs, a checkpoint per epoch); each side
resumes from its own epoch-0 checkpoint into a new folder. The resumed record holds only the steps it
trained, so it is compared with the tail of the uninterrupted one.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import PRECISIONS, assert_params_equal, run_side
from test_features import scalars
from test_parity import CASES, STEPS

from raw_torch.common.checkpoints import load_checkpoint
from raw_torch.common.config import RunConfig

SIDES = ("raw", "lightning")


def resume_from(full_dir, impl, cfg: RunConfig, ckpt_name: str, out):
    return run_side(impl, cfg.replace(out=str(out), resume=str(full_dir / impl / "checkpoints" / ckpt_name)))


def assert_same_tail(full, resumed, steps_done: int, epochs_done: int) -> None:
    assert resumed.train_loss == full.train_loss[steps_done:]
    assert resumed.val_loss == full.val_loss[epochs_done:]
    assert resumed.test_loss == full.test_loss
    assert resumed.params_sha256 == full.params_sha256
    assert_params_equal(resumed.model, full.model)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("workload", CASES)
def test_resume_at_an_epoch_boundary_is_bitwise_equal(pair, tmp_path, workload, precision):
    raw, lit, folder = pair(workload, precision=precision, **CASES[workload])
    cfg = RunConfig.for_workload(workload, device="cpu", precision=precision, **CASES[workload])
    half = STEPS[workload] // 2
    for impl, full in zip(SIDES, (raw, lit), strict=True):
        resumed = resume_from(folder, impl, cfg, f"epoch=0-step={half}.ckpt", tmp_path / impl)
        assert len(resumed.train_loss) == half
        assert_same_tail(full, resumed, half, 1)
        # TensorBoard continues at the right step: the resumed events are the uninterrupted run's last epoch
        full_events, resumed_events = scalars(folder / impl), scalars(tmp_path / impl)
        for tag, events in resumed_events.items():
            assert events == [e for e in full_events[tag] if e[0] >= half], tag
        # and the checkpoint it writes is the one the uninterrupted run wrote, RNG state included
        a = load_checkpoint(folder / impl / "checkpoints" / f"epoch=1-step={2 * half}.ckpt")
        b = load_checkpoint(tmp_path / impl / "checkpoints" / f"epoch=1-step={2 * half}.ckpt")
        assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_the_rng_trap_is_real_on_both_sides(pair, tmp_path):
    """Control for the test above. Without the RNG state in the checkpoint (Lightning's own checkpoints
    carry none), the resumed autoencoder shuffles differently: the first resumed step already differs.
    Both sides warn; the run still completes."""
    raw, lit, folder = pair("autoencoder", **CASES["autoencoder"])
    cfg = RunConfig.for_workload("autoencoder", device="cpu", **CASES["autoencoder"])
    for impl, full in zip(SIDES, (raw, lit), strict=True):
        ckpt = load_checkpoint(folder / impl / "checkpoints" / "epoch=0-step=115.ckpt")
        del ckpt["rng"]
        torch.save(ckpt, tmp_path / f"{impl}.ckpt")
        resumed = run_side(impl, cfg.replace(out=str(tmp_path / impl), resume=str(tmp_path / f"{impl}.ckpt")))
        assert len(resumed.train_loss) == 115
        assert resumed.train_loss[0] != full.train_loss[115]
        assert resumed.params_sha256 != full.params_sha256


def test_resume_of_the_finetune_phase(pair, tmp_path):
    """The note's second phase (a fresh Adam, lr 1e-4) resumes from its own checkpoints on both sides."""
    raw, lit, folder = pair("minimal", epochs=2, finetune_epochs=2)
    cfg = RunConfig.for_workload("minimal", device="cpu", epochs=2, finetune_epochs=2)
    for impl, full in zip(SIDES, (raw, lit), strict=True):
        ckpt = folder / impl / "finetune" / "checkpoints" / "epoch=0-step=100.ckpt"
        resumed = run_side(impl, cfg.replace(out=str(tmp_path / impl), resume=str(ckpt)))
        assert len(resumed.train_loss) == 100
        assert_same_tail(full, resumed, 300, 3)
        assert (tmp_path / impl / "finetune" / "checkpoints" / "epoch=1-step=200.ckpt").is_file()


def test_gradscaler_skips_are_counted_and_equal(pair):
    """16-mixed: the minimal example's first gradients (inputs up to 399, targets up to 1,201) overflow
    fp16 at GradScaler's initial scale 2**16, so steps are skipped while the scale halves. Both sides
    count the same skips, and the scale left in the checkpoint confirms the count independently: it
    halves once per skip and never grows in 200 steps."""
    raw, lit, folder = pair("minimal", precision="16-mixed", **CASES["minimal"])
    assert raw.skipped_steps == lit.skipped_steps > 0
    for impl in SIDES:
        ckpt = load_checkpoint(folder / impl / "checkpoints" / "epoch=1-step=200.ckpt")
        scale = ckpt["scaler"]["scale"] if impl == "raw" else ckpt["MixedPrecision"]["scale"]
        assert scale == 2.0 ** (16 - raw.skipped_steps)
    for precision in ("32-true", "bf16-mixed"):
        a, b, _ = pair("minimal", precision=precision, **CASES["minimal"])
        assert a.skipped_steps == b.skipped_steps == 0


MID = dict(dataset="synthetic", epochs=3, limit_train_batches=20, checkpoint_every_n_steps=7, progress_bar=False)


@pytest.fixture(scope="module")
def mid_epoch_runs(tmp_path_factory):
    """Uninterrupted runs with a checkpoint every 7 steps (20 per epoch), and resumes from step 14
    (epoch 0, 14 batches done) on both sides."""
    root = tmp_path_factory.mktemp("mid")
    cfg = RunConfig.for_workload("autoencoder", device="cpu", **MID)
    out = {}
    for impl in SIDES:
        full = run_side(impl, cfg.replace(out=str(root / impl)))
        ckpt = root / impl / "checkpoints" / "steps" / "epoch=0-step=14.ckpt"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resumed = run_side(impl, cfg.replace(out=str(root / f"{impl}-resumed"), resume=str(ckpt)))
        out[impl] = full, resumed, [str(w.message) for w in caught]
    return out


def test_raw_mid_epoch_resume_is_bitwise_equal(mid_epoch_runs):
    """The raw loop does it right: the checkpoint holds the RNG state of the epoch's start and the batches
    done, so the resumed run redraws the same shuffle, skips 14 batches and continues."""
    full, resumed, _ = mid_epoch_runs["raw"]
    assert len(resumed.train_loss) == 46
    assert_same_tail(full, resumed, 14, 0)


def test_lightning_mid_epoch_resume_keeps_the_count_but_not_the_batches(mid_epoch_runs):
    """Measured (pytorch-lightning 2.6.6): from a mid-epoch checkpoint with a plain DataLoader, Lightning
    warns, trains the 6 batches the epoch had left and every later epoch, but draws them from a fresh
    shuffle: some samples of epoch 0 are seen twice, others not at all. Bitwise equality is impossible
    without a resumable DataLoader (state_dict/load_state_dict), which would change the shared loader."""
    full, resumed, warnings = mid_epoch_runs["lightning"]
    assert any("ended before the epoch ended" in w for w in warnings)
    assert len(resumed.train_loss) == 46  # the step count holds
    assert len(resumed.val_loss) == 3
    assert resumed.train_loss[0] != full.train_loss[14]  # the batches do not
    assert resumed.params_sha256 != full.params_sha256
    # what was saved before the interruption is identical on both sides: the two sides only part on resume
    raw_full = mid_epoch_runs["raw"][0]
    assert raw_full.train_loss == full.train_loss
