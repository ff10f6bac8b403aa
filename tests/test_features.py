"""Each Lightning feature and its hand-written counterpart leave the same traces: logs, checkpoints, order."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import call, run_side
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from raw_torch.common import checkpoints
from raw_torch.common.checkpoints import CheckpointError, load_for_resume
from raw_torch.common.config import RunConfig
from raw_torch.evaluate import evaluate_folder as raw_evaluate
from with_lightning.evaluate import evaluate_folder as lit_evaluate

AUTOENCODER = dict(epochs=2, dataset="mnist-5k", log_every_n_steps=20)


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar event as (step, value), sorted: fit and test write separate event files on both
    sides, and TensorBoard reads files in name order, which is not write order within one second."""
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return {tag: sorted((e.step, e.value) for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


def test_tensorboard_events_hold_the_same_tags_steps_and_values(pair):
    raw, lit, folder = pair("autoencoder", **AUTOENCODER)
    raw_events, lit_events = scalars(folder / "raw"), scalars(folder / "lightning")
    assert raw_events == lit_events
    assert set(raw_events) == {"train_loss", "val_loss", "test_loss", "epoch"}
    # 230 steps, logged every 20th (steps 19, 39, ..., 219); validation at each epoch's last step only:
    # the sanity check is not in the logs.
    assert [s for s, _ in raw_events["train_loss"]] == list(range(19, 230, 20))
    assert raw_events["val_loss"] == [(114, pytest.approx(raw.val_loss[0])), (229, pytest.approx(raw.val_loss[1]))]
    assert [s for s, _ in raw_events["test_loss"]] == [230]


def test_checkpoints_have_the_same_names_and_weights(pair):
    raw, lit, folder = pair("autoencoder", **AUTOENCODER)
    raw_files = sorted(p.name for p in (folder / "raw" / "checkpoints").iterdir())
    lit_files = sorted(p.name for p in (folder / "lightning" / "checkpoints").iterdir())
    assert raw_files == lit_files == ["epoch=0-step=115.ckpt", "epoch=1-step=230.ckpt"]
    raw_ckpt = checkpoints.load_checkpoint(folder / "raw" / "checkpoints" / raw_files[-1])
    lit_ckpt = checkpoints.load_checkpoint(folder / "lightning" / "checkpoints" / lit_files[-1])
    assert (raw_ckpt["epoch"], raw_ckpt["global_step"]) == (lit_ckpt["epoch"], lit_ckpt["global_step"]) == (1, 230)
    for name, tensor in raw_ckpt["model"].items():
        assert torch.equal(tensor, lit_ckpt["state_dict"][f"model.{name}"]), name
    # Adam's state too: the run can be continued from either file
    raw_state = raw_ckpt["optimizer"]["state"]
    lit_state = lit_ckpt["optimizer_states"][0]["state"]
    for i in raw_state:
        for k in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(raw_state[i][k], lit_state[i][k])


def test_checkpoints_are_evaluated_in_training_order_not_name_order(pair):
    """12 epochs: string order would be epoch=0, 1, 10, 11, 2, ...; listdir order is unspecified."""
    raw, lit, folder = pair("minimal", epochs=12, limit_train_batches=5)
    for side in ("raw", "lightning"):
        names = [p.name for p in (folder / side / "checkpoints").iterdir()]
        assert sorted(names)[2] == "epoch=10-step=55.ckpt"  # the trap is really there
        ordered = checkpoints.in_training_order(folder / side / "checkpoints")
        assert [e for e, _, _ in ordered] == list(range(12))
        assert [s for _, s, _ in ordered] == [5 * (e + 1) for e in range(12)]

    raw_results = raw_evaluate(folder / "raw" / "checkpoints", "cpu")
    lit_results = lit_evaluate(folder / "lightning" / "checkpoints", "cpu")
    assert raw_results == lit_results
    assert [r["epoch"] for r in raw_results] == list(range(12))
    # the last checkpoint holds the final model: its test loss is the run's
    assert raw_results[-1]["test_loss"] == raw.test_loss == lit.test_loss


def test_finetune_phase_matches_and_lands_in_its_own_folder(pair):
    """The note's second phase: a fresh Adam(lr=1e-4) after the first; both phases bitwise equal."""
    raw, lit, folder = pair("minimal", epochs=2, finetune_epochs=2)
    assert len(raw.train_loss) == 400 and len(raw.val_loss) == 4
    assert raw.train_loss == lit.train_loss and raw.val_loss == lit.val_loss
    assert raw.params_sha256 == lit.params_sha256
    for side in ("raw", "lightning"):
        assert sorted(p.name for p in (folder / side / "finetune" / "checkpoints").iterdir()) == [
            "epoch=0-step=100.ckpt",
            "epoch=1-step=200.ckpt",
        ]
    assert scalars(folder / "raw" / "finetune") == scalars(folder / "lightning" / "finetune")


def test_sanity_check_consumes_no_randomness(tmp_path):
    """The raw sanity check runs inside loop.isolated_rng (Lightning: isolate_rng): switching it off
    changes nothing in a shuffled run. Control: merely starting a validation pass draws from the RNG."""
    from conftest import run_side

    from raw_torch.common.data import make_autoencoder_loaders

    cfg = RunConfig.for_workload("autoencoder", dataset="synthetic", epochs=2, limit_train_batches=5, device="cpu")
    with_check = run_side("raw", cfg.replace(out=str(tmp_path / "on")))
    without = run_side("raw", cfg.replace(out=str(tmp_path / "off"), sanity_check=False))
    assert with_check.train_loss == without.train_loss

    _, val_loader, _ = make_autoencoder_loaders(cfg)
    before = torch.get_rng_state()
    next(iter(val_loader))
    assert not torch.equal(before, torch.get_rng_state())


# --- progress bars and batch limits ---------------------------------------------------------------------------


def bar_frames(text: str) -> list[tuple[str, dict[str, float]]]:
    """Every tqdm frame in captured output as (bar name, shown values); Lightning's " DataLoader 0" dropped."""
    frames = []
    for frame in re.split(r"[\r\n]", text):
        found = re.match(r"\s*([A-Za-z][\w ]*?)(?: DataLoader 0)?:\s+\S*%?\|", frame)
        if found:
            postfix = dict(re.findall(r"(\w+)=([-+.\de]+)", frame.split("]")[0].split(",", 1)[-1]))
            frames.append((found.group(1), {k: float(v) for k, v in postfix.items()}))
    return frames


def test_progress_bars_show_the_same_bars_and_losses(capsys, tmp_path):
    """Both sides: sanity, training ("Epoch N"), validation and test bars; the training bar shows train_loss after
    every batch and val_loss after validation (Lightning: self.log(..., prog_bar=True)). Values are compared as
    numbers: Lightning pads them ("411.0" where tqdm writes "411")."""
    cfg = RunConfig.for_workload("minimal", device="cpu", epochs=2, limit_train_batches=5, limit_val_batches=3)
    seen = {}
    for impl in ("raw", "lightning"):
        run_side(impl, cfg.replace(out=str(tmp_path / impl)))
        frames = bar_frames(capsys.readouterr().out)
        last = {}
        for name, shown in frames:
            last[name] = shown or last.get(name, {})
        seen[impl] = ({name for name, _ in frames}, last["Epoch 1"])
    assert (
        seen["raw"][0]
        == seen["lightning"][0]
        == {"Sanity Checking", "Training", "Epoch 0", "Epoch 1", "Validation", "Testing"}
    )
    assert seen["raw"][1] == seen["lightning"][1]
    assert set(seen["raw"][1]) == {"train_loss", "val_loss"}

    for impl in ("raw", "lightning"):  # off: no bar at all (and no loss conversion, see the modules)
        run_side(impl, cfg.replace(out=str(tmp_path / f"{impl}-off"), progress_bar=False))
        assert bar_frames(capsys.readouterr().out) == []


def test_fractional_limits_follow_lightnings_rounding(pair):
    """0.5 of 100 batches and 0.25 of 100: int(100 * share), on both sides; 1.0 means all, 1 means one."""
    raw, lit, _ = pair("minimal", epochs=2, limit_train_batches=0.5, limit_val_batches=0.25, progress_bar=False)
    assert len(raw.train_loss) == 2 * 50
    assert raw.train_loss == lit.train_loss and raw.val_loss == lit.val_loss and raw.test_loss == lit.test_loss
    for limit, steps in ((1, 1), (1.0, 100)):
        raw, lit, _ = pair("minimal", epochs=1, limit_train_batches=limit, progress_bar=False, logger=False)
        assert len(raw.train_loss) == len(lit.train_loss) == steps
        assert raw.params_sha256 == lit.params_sha256


@pytest.mark.parametrize("package", ["raw_torch", "with_lightning"])
def test_one_batch_and_all_batches_stay_distinct_on_resume(capsys, tmp_path, package):
    """A checkpoint trained with --limit-train-batches 1 is not continued with 1.0 (all batches), though 1 == 1.0."""
    cfg = RunConfig.for_workload("minimal", device="cpu", epochs=1, limit_train_batches=1, progress_bar=False)
    run_side("raw" if package == "raw_torch" else "lightning", cfg.replace(out=str(tmp_path / "a")))
    ckpt = tmp_path / "a" / "checkpoints" / "epoch=0-step=1.ckpt"
    flags = ["--device", "cpu", "--epochs", "2", "--limit-train-batches", "1.0", "--resume", str(ckpt)]
    code, lines = call(capsys, package, "minimal", [*flags, "--out", str(tmp_path / "b")])
    assert code == 2 and "--limit-train-batches 1 (checkpoint) vs 1.0 (this run)" in lines[0], lines
    assert not (tmp_path / "b").exists()


def test_all_batches_resumes_a_default_run(tmp_path, ckpts):
    """The default (all batches, kept as None) is `--limit-train-batches 1.0`: a default run's checkpoint resumes
    with it, and a refusal names it as typed, never as None."""
    ckpt = torch.load(ckpts["raw"], weights_only=True)
    ckpt["run_config"] = {**ckpt["run_config"], "limit_train_batches": None}
    default_run = tmp_path / "epoch=0-step=5.ckpt"
    torch.save(ckpt, default_run)
    cfg = RunConfig.for_workload("minimal", device="cpu", epochs=2, resume=str(default_run))
    assert load_for_resume(cfg.replace(limit_train_batches=1.0), "raw") is not None
    assert load_for_resume(cfg, "raw") is not None  # the flag left out: the same run
    with pytest.raises(CheckpointError, match=r"--limit-train-batches 1\.0 \(checkpoint\) vs 1 \(this run\)"):
        load_for_resume(cfg.replace(limit_train_batches=1), "raw")
