"""The probe (`python -m benchmarks.probe`): its plain loop is bitwise Lightning's on modules unlike the suite's
twins, it can tell a difference and a non-deterministic module apart, and it writes what it promises. Its
refusals are rows of tests/test_cli.py's bad-input table. The modules are in tests/probe_targets.py."""

from __future__ import annotations

import json

import probe_targets
import pytest
import torch

from benchmarks.probe import parity, session, target
from raw_torch.common.cli import main_guard


def probe_of(cls_spec: str, data: str = "probe_targets:shuffled", **settings) -> dict:
    p = target.Probe(cls_spec, data, **settings)
    order = target.BatchOrder(target.training_loader(p.data), p)
    return parity.parity(target.module_class(p.target), p, order)


@pytest.mark.parametrize("precision", ["32-true", "16-mixed"])
def test_a_module_unlike_the_twins_is_bitwise(precision):
    """Dropout and batch norm, AdamW, a step-interval scheduler of frequency 2, a dict return, clipping,
    accumulation of 2 and a loader shuffled with the global RNG (12 batches an epoch: 6 steps, so 14 steps run
    into a third epoch)."""
    r = probe_of("probe_targets:Unlike", steps=14, precision=precision, gradient_clip_val=0.5,
                 accumulate_grad_batches=2)  # fmt: skip
    assert r["verdict"] == "bitwise" and r["deterministic"]
    assert r["batches"] == 28 and r["first_difference"] is None and r["max_abs_diff"] == 0.0
    assert r["hooks_not_replayed"] == []


def test_the_tuple_of_lists_an_epoch_scheduler_skipped_steps_and_a_datamodule():
    """SGD with momentum, ([optimizer], [ExponentialLR]) stepping each epoch, training_step returning None on
    every fifth batch, accumulation of 3 (12 batches: 4 steps an epoch), data from a LightningDataModule."""
    r = probe_of("probe_targets:Lists", "probe_targets:Data", steps=9, accumulate_grad_batches=3)
    assert r["verdict"] == "bitwise", r
    assert r["batches"] == 27


def test_a_hook_the_plain_loop_does_not_replay_is_named_as_the_probes_gap():
    class Halved(probe_targets.Unlike):
        def on_before_optimizer_step(self, optimizer):  # Lightning calls it; the plain loop does not
            for p in self.parameters():
                p.grad.mul_(0.5)

    probe_targets.Halved = Halved  # importable by name, as a user's class is
    try:
        r = probe_of("probe_targets:Halved", steps=4)
    finally:
        del probe_targets.Halved
    assert not r["bitwise"] and r["deterministic"]
    assert r["first_difference"] == 1  # the first step's loss is the same; the weights it produced are not
    assert r["max_abs_diff"] > 0
    assert r["hooks_not_replayed"] == ["on_before_optimizer_step"]
    assert "the probe's gap, not Lightning's" in r["verdict"]


def test_a_non_deterministic_module_is_reported_as_such():
    r = probe_of("probe_targets:Noisy", steps=3)
    assert not r["deterministic"]
    assert r["verdict"].startswith("non-deterministic: the plain loop differs from itself (first at batch 0)")


def test_compare_finds_the_first_difference():
    a = [torch.tensor(1.0), None, torch.tensor(2.0)]
    state = {"w": torch.zeros(2)}
    same = parity.compare(a, state, list(a), {"w": torch.zeros(2)})
    assert same["bitwise"] and same["first_difference"] is None
    b = [torch.tensor(1.0), None, torch.tensor(2.5)]
    diff = parity.compare(a, state, b, {"w": torch.tensor([0.0, 1e-3])})
    assert diff["first_difference"] == 2 and diff["max_abs_diff"] == 0.5
    assert parity.compare(a, state, a[:2], state)["first_difference"] == 2  # a missing batch
    assert parity.compare(a, state, a, {"w": torch.ones(2)})["first_difference"] == "final state"


def test_the_6196_example_is_bitwise_in_three_precisions():
    """The #6196 reproducer, a few steps; its full run is in results/probe/issue6196 (the command: docs/probe.md).
    The whole command runs on the #8857 example below and on Lightning's BoringModel in docs/probe.md."""
    for precision in ("32-true", "16-mixed", "bf16-mixed"):
        module = "benchmarks.probe.examples.issue6196"
        r = probe_of(f"{module}:LitAutoEncoder", f"{module}:train_dataloader", steps=5, precision=precision)
        assert r["verdict"] == "bitwise" and r["batches"] == 5


def test_the_8857_example_writes_its_summary_and_files(capsys, tmp_path):
    """The #8857 reproducer through the command itself, a few steps, two rounds, with the ladder."""
    folder = tmp_path / "issue8857"
    module = "benchmarks.probe.examples.issue8857"
    argv = [f"{module}:LogisticRegression", "--data", f"{module}:train_dataloader", "--steps", "6", "--rounds", "2",
            "--device", "cpu", "--ladder", "--out", str(folder)]  # fmt: skip
    assert main_guard("benchmarks.probe", session.main, argv, catch_sigterm=False) == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    assert len(stdout) == 1 and "bitwise over 6 batches; Lightning +" in stdout[0]
    assert sorted(p.name for p in folder.iterdir()) == ["probe.json", "probe.md", "probe.png"]
    data = json.loads((folder / "probe.json").read_text())
    assert (data["schema"], data["schema_version"], data["kind"]) == ("paired-run", 1, "probe")
    res = data["result"]
    assert {"parity", "step_us", "overhead_us", "instructions", "versions"} <= res.keys()
    assert {"bitwise", "first_difference", "max_abs_diff"} <= res["parity"].keys()
    assert set(res["step_us"]) == {"plain", "lightning", "floor"}
    assert all({"mean", "ci"} <= m.keys() for m in [*res["step_us"].values(), res["overhead_us"]])
    assert res["parity"]["bitwise"] is True and res["instructions"] is None
    assert res["versions"]["pytorch_lightning"]
    assert set(res["ladder_us"]) == {"+ logger (TensorBoard)", "+ progress bar", "+ checkpointing"}
    text = (folder / "probe.md").read_text()
    assert "The plain loop does not log" in text
    made = next(line for line in text.splitlines() if line.startswith("Made by `"))  # the command, to rerun it
    assert made.split("`")[1] == " ".join(["python -m benchmarks.probe", *argv[:-2], "--out DIR"])


def test_the_module_is_imported_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "users_model.py").write_text("from probe_targets import Unlike as Model\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    try:
        assert target.module_class("users_model:Model") is probe_targets.Unlike
    finally:
        __import__("sys").modules.pop("users_model", None)


def test_the_report_reads_the_committed_probe_runs(tmp_path, capsys):
    from pathlib import Path

    from benchmarks.report.probe import probe_section

    results = Path(__file__).resolve().parents[1] / "results"
    text = "\n".join(probe_section(results, Path(".")))
    for name, cls in (("issue6196", "LitAutoEncoder"), ("issue8857", "LogisticRegression")):
        row = next(line for line in text.splitlines() if line.startswith(f"| [{cls}](./probe/{name}/probe.md)"))
        assert "| bitwise |" in row and f"#{name[5:]}" in row
    (tmp_path / "probe" / "broken").mkdir(parents=True)
    (tmp_path / "probe" / "broken" / "probe.json").write_text("{")
    assert probe_section(tmp_path, Path(".")) == []  # nothing usable: no section, one line naming the file
    assert "probe/broken/probe.json: not a complete saved run" in capsys.readouterr().err


def test_instructions_without_valgrind_is_refused_in_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind on it
    argv = ["probe_targets:Unlike", "--data", "probe_targets:shuffled", "--instructions", "--device", "cpu",
            "--out", str(tmp_path / "out")]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main_guard("benchmarks.probe", session.main, argv, catch_sigterm=False)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and lines == [
        "benchmarks.probe: error: --instructions: valgrind is not installed (Debian: apt-get install valgrind)"
    ]
    assert not (tmp_path / "out").exists()
