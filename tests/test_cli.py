"""Every flag of every command, tried with bad values: one line naming the flag and the reason, exit 2, nothing
created or changed (not --out, not the working directory, not --data-dir, not the files given).

Commands are called in-process through the same `main_guard` their `python -m` entry points use
(tests/test_boundaries.py runs entry points as real processes). `test_every_flag_has_a_row` walks every
parser's actions: a new flag without a row here fails it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import call, child_env

from benchmarks.clock import gpu_plan
from benchmarks.instructions import session as instructions
from benchmarks.probe import session as probe
from benchmarks.releases import session as releases
from benchmarks.report import build as report
from benchmarks.store import parts as store_parts
from benchmarks.store import save as store_save
from raw_torch.common.cli import build_evaluate_parser, build_parser
from raw_torch.common.record import RunRecord

SIDES = ("raw_torch", "with_lightning")
PROBE_MODULE, PROBE_DATA = "probe_targets:Unlike", ["--data", "probe_targets:shuffled"]
# (command, flag under test, arguments, words the one line must hold). Placeholders: {file} a text file, {full}
# a folder holding an earlier run, {empty} an empty folder; {mine}/{other} a checkpoints/ folder of the command's
# own side / of the other side, {mixed} one holding two runs' checkpoints (of the command's own side).
# "minimal", "autoencoder" and "evaluate" rows run on both sides; "report", "instructions", "store" (save and
# parts), "clock.gpu_plan", "releases" and "probe" once.
BAD_INPUTS = [
    ("minimal", "--epochs", ["--epochs", "0"], "--epochs must be at least 1, got 0"),
    ("minimal", "--epochs", ["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    ("minimal", "--epochs", ["--epochs", "1.5"], "argument --epochs: invalid int value: '1.5'"),
    ("minimal", "--batch-size", ["--batch-size", "-4"], "--batch-size must be at least 1, got -4"),
    ("minimal", "--lr", ["--lr", "0"], "--lr must be a positive finite number, got 0.0"),
    ("minimal", "--lr", ["--lr", "nan"], "--lr must be a positive finite number, got nan"),
    ("minimal", "--lr", ["--lr", "inf"], "--lr must be a positive finite number, got inf"),
    ("minimal", "--seed", ["--seed", "-1"], "--seed must be between 0 and 4294967295 (numpy's range), got -1"),
    ("minimal", "--seed", ["--seed", "4294967296"], "--seed must be between 0 and 4294967295"),
    ("minimal", "--device", ["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ("minimal", "--precision", ["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    ("minimal", "--limit-train-batches", ["--limit-train-batches", "0"], "--limit-train-batches must be at least 1"),
    (
        "minimal",
        "--limit-train-batches",
        ["--limit-train-batches", "101"],
        "--limit-train-batches 101: the training data has only 100 batches of 4",
    ),
    (
        "minimal",
        "--limit-train-batches",
        ["--limit-train-batches", "0.001"],
        "--limit-train-batches 0.001: 0.001 x 100 batches is less than one batch; give at least 0.01",
    ),
    ("minimal", "--limit-train-batches", ["--limit-train-batches", "0.0"], "a share of no batch trains nothing"),
    ("minimal", "--limit-train-batches", ["--limit-train-batches", "1.5"], "'1.5': a share must be in [0.0, 1.0]"),
    ("minimal", "--limit-train-batches", ["--limit-train-batches", "half"], "'half' is neither a number of batches"),
    ("minimal", "--limit-val-batches", ["--limit-val-batches", "500"], "the validation data has only 100 batches"),
    ("minimal", "--limit-val-batches", ["--limit-val-batches", "-1"], "--limit-val-batches must be zero or positive"),
    ("minimal", "--limit-val-batches", ["--limit-val-batches", "0.005"], "0.005 x 100 batches is less than one"),
    ("minimal", "--out", ["--out", "{file}/run"], "cannot be created, {file} is a file"),
    ("minimal", "--out", ["--out", "{full}"], "already exists and is not empty; nothing is overwritten"),
    ("minimal", "--out", ["--out", "{file}"], "--out {file}: is a file, not a folder"),
    ("minimal", "--out", ["--out", "/dev/null"], "--out /dev/null: is a file, not a folder"),
    ("minimal", "--weight-decay", ["--weight-decay", "-1"], "--weight-decay must be zero or a positive finite"),
    ("minimal", "--weight-decay", ["--weight-decay", "nan"], "--weight-decay must be zero or a positive finite"),
    ("minimal", "--log-every-n-steps", ["--log-every-n-steps", "0"], "--log-every-n-steps must be at least 1"),
    ("minimal", "--checkpoint-every", ["--checkpoint-every", "-1"], "--checkpoint-every must be zero or positive"),
    ("minimal", "--checkpoint-every-n-steps", ["--checkpoint-every-n-steps", "-1"], "must be zero or positive"),
    (
        "minimal",
        "--checkpoint-every-n-steps",
        ["--solver", "lstsq", "--checkpoint-every-n-steps", "5"],
        "--solver lstsq takes no steps",
    ),
    ("minimal", "--resume", ["--resume", "no/such.ckpt"], "--resume no/such.ckpt: no such file"),
    ("minimal", "--resume", ["--resume", "{empty}"], "--resume {empty}: is a folder, not a checkpoint file"),
    ("minimal", "--resume", ["--resume", "{file}"], "{file}: a text file, not a checkpoint"),
    ("minimal", "--no-progress-bar", ["--no-progress-bar=yes"], "--no-progress-bar: ignored explicit argument"),
    ("minimal", "--no-logger", ["--no-logger=1"], "--no-logger: ignored explicit argument"),
    ("minimal", "--no-sanity-check", ["--no-sanity-check=0"], "--no-sanity-check: ignored explicit argument"),
    ("minimal", "--no-model-summary", ["--no-model-summary=x"], "--no-model-summary: ignored explicit argument"),
    ("minimal", "--solver", ["--solver", "sgd"], "argument --solver: invalid choice: 'sgd'"),
    ("minimal", "--solver", ["--solver", "lstsq", "--limit-val-batches", "0"], "--solver lstsq solves at validation"),
    ("minimal", "--finetune-epochs", ["--finetune-epochs", "-1"], "--finetune-epochs must be zero or positive"),
    ("minimal", "--finetune-lr", ["--finetune-lr", "0"], "--finetune-lr must be a positive finite number"),
    ("minimal", "--unknown", ["--hidden", "8"], "unrecognized arguments: --hidden 8"),
    ("minimal", "--data-on-device", ["--data-on-device=yes"], "--data-on-device: ignored explicit argument"),
    ("autoencoder", "--dataset", ["--dataset", "cifar10"], "argument --dataset: invalid choice: 'cifar10'"),
    ("autoencoder", "--hidden", ["--hidden", "0"], "--hidden must be at least 1, got 0"),
    ("autoencoder", "--data-dir", ["--data-dir", "{file}"], "--data-dir {file}: is a file, not a folder"),
    ("autoencoder", "--num-workers", ["--num-workers", "-1"], "--num-workers must be zero or positive, got -1"),
    (
        "autoencoder",
        "--limit-train-batches",
        ["--dataset", "synthetic", "--limit-train-batches", "1000"],
        "the training data has only 172 batches of 32 (synthetic)",
    ),
    ("autoencoder", "--unknown", ["--solver", "lstsq"], "unrecognized arguments: --solver lstsq"),
    (
        "autoencoder",
        "--data-on-device",
        ["--data-on-device", "--num-workers", "2"],
        "--data-on-device: the data is on the device, it takes --num-workers 0, got 2",
    ),
    ("evaluate", "FOLDER", [], "the following arguments are required: FOLDER"),
    ("evaluate", "FOLDER", ["no/such/folder"], "no/such/folder: no such folder"),
    ("evaluate", "FOLDER", ["{file}"], "{file}: is a file; give a run's checkpoints/ folder"),
    ("evaluate", "FOLDER", ["{empty}"], "{empty}: no .ckpt files"),
    ("evaluate", "FOLDER", ["{other}"], "written by the other side"),
    (
        "evaluate",
        "FOLDER",
        ["{mixed}"],
        "epoch=0-step=5.ckpt: from another run than epoch=0-step=2.ckpt (a checkpoint of the minimal workload, "
        "not autoencoder); evaluate one run's checkpoints at a time",
    ),
    (
        "evaluate",
        "FOLDER",
        ["{reseeded}"],  # the same run's file, but another run's settings: seed, lr, epochs, batches
        "epoch=1-step=10.ckpt: from another run than epoch=0-step=5.ckpt (--seed 1 vs 0; --lr 0.5 vs 0.1; "
        "--epochs 3 vs 2; --limit-train-batches 1.0 vs 5)",
    ),
    ("evaluate", "--device", ["{mine}", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ("evaluate", "--out", ["{mine}", "--out", "{file}"], "--out {file}: already exists; nothing is overwritten"),
    ("evaluate", "--out", ["{mine}", "--out", "{empty}"], "--out {empty}: is a folder; give the name of a new file"),
    ("evaluate", "--out", ["{mine}", "--out", "{file}/r.json"], "cannot be created, {file} is a file"),
    ("report", "runs", ["no/such.json"], "no/such.json: no such file"),
    ("report", "runs", ["{empty}"], "{empty}: is a folder; name a saved run's JSON file"),
    ("report", "runs", ["{file}"], "{file}: not a complete saved run (Expecting value"),  # not JSON
    ("report", "runs", ["{file}", "{json}"], "(nor are the 1 other files named); nothing written"),  # {} alone
    ("report", "--results", ["--results", "{file}"], "--results {file}: is a file, not a folder"),
    ("report", "--results", ["--results", "{empty}"], "no saved runs under {empty}/"),
    ("report", "--readme", ["--readme", "{file}"], "--readme {file}: no single '<!-- answer"),
    ("report", "--readme", ["--readme", "{empty}/README.md"], "--readme {empty}/README.md: No such file"),
    ("store", "save", ["save"], "the following arguments are required: run, --as"),
    ("store", "run", ["save", "no/such.json", "--as", "bench"], "no/such.json: no such file"),
    ("store", "run", ["save", "{file}", "--as", "bench"], "{file}: not saved: Expecting value"),
    ("store", "--as", ["save", "{file}", "--as", "../bench"], "--as ../bench: letters, digits, - and _ only"),
    ("store", "--device", ["save", "{file}", "--as", "b", "--device", "tpu"], "argument --device: invalid choice"),
    ("store", "--results", ["save", "{file}", "--as", "b", "--results", "{file}"], "--results {file}: is a file"),
    ("store", "parts", ["parts", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ("store", "--only", ["parts", "--only", "sweeps"], "--only sweeps: no part sweeps (the parts: steps"),
    ("store", "--part", ["parts", "--part", "steps"], "--part steps: expected NAME:FILE:SELECT"),
    ("store", "--part", ["parts", "--part", "a:no/such.py:x"], "--part a:no/such.py:x: no/such.py: no such file"),
    ("store", "--results", ["parts", "--results", "{file}"], "--results {file}: is a file, not a folder"),
    ("store", "PYTEST_ARGS", ["parts", "--", "--benchmark-json=x.json"], "the parts runner saves each part itself"),
    ("store", "PYTEST_ARGS", ["parts", "--", "-k", "sweep"], "PYTEST_ARGS -k: each part has its own -k; choose parts"),
    ("releases", "--releases", ["--releases", "3.0.0"], "--releases 3.0.0: no release 3.0.0 here (known: 1.9.5, 2.0.9"),
    ("releases", "--ladder-on", ["--releases", "2.0.9", "--ladder-on", "2.6.6"], "--ladder-on 2.6.6: no release 2.6.6"),
    ("releases", "--results", ["--results", "{file}"], "--results {file}: is a file, not a folder"),
    ("releases", "--smoke", ["--smoke=1"], "argument --smoke: ignored explicit argument '1'"),
    ("clock.gpu_plan", "--run", ["--run", "no/such.json"], "--run no/such.json: no such file"),
    ("clock.gpu_plan", "--run", ["--run", "{json}"], "--run {json}: not a saved CUDA bench run with the step cases"),
    ("instructions", "--results", ["--results", "{file}"], "--results {file}: is a file, not a folder"),
    ("instructions", "--keep", ["--keep", "{file}/cg"], "--keep {file}/cg: cannot be created, {file} is a file"),
    ("instructions", "--smoke", ["--smoke=1"], "--smoke: ignored explicit argument"),
    ("instructions", "worker", ["worker"], "the following arguments are required: plan, job"),
    # the probe (tests/probe_targets.py): one refusal of each kind, and every flag
    ("probe", "PKG.MODULE:CLASS", ["no_such_module:Model", *PROBE_DATA], "cannot import no_such_module (ModuleNot"),
    ("probe", "PKG.MODULE:CLASS", ["probe_targets", *PROBE_DATA], "'probe_targets': give it as PKG.MODULE:NAME"),
    ("probe", "PKG.MODULE:CLASS", ["probe_targets:Nothing", *PROBE_DATA], "probe_targets has no 'Nothing'"),
    ("probe", "PKG.MODULE:CLASS", ["probe_targets:NotAModule", *PROBE_DATA], "class NotAModule is not a Lightning"),
    ("probe", "PKG.MODULE:CLASS", ["probe_targets:Manual", *PROBE_DATA], "manual optimization is not supported"),
    ("probe", "PKG.MODULE:CLASS", ["probe_targets:TwoOptimizers", *PROBE_DATA], "returned 2 optimizers: several"),
    ("probe", "PKG.MODULE:CLASS", ["probe_targets:Raises", *PROBE_DATA], "ValueError: shapes do not match, at probe_"),
    ("probe", "--data", [PROBE_MODULE], "the following arguments are required: --data"),
    ("probe", "--data", [PROBE_MODULE, "--data", "probe_targets:not_a_loader"], "returned a list, not a torch DataL"),
    ("probe", "--data", [PROBE_MODULE, "--data", "probe_targets:empty"], "the DataLoader has no batches"),
    ("probe", "--data", [PROBE_MODULE, "--data", "probe_targets:stream"], "the DataLoader has no length"),
    ("probe", "--data", [PROBE_MODULE, "--data", "probe_targets:Unlike"], "class Unlike is neither a zero-argument"),
    ("probe", "--init-args", [PROBE_MODULE, *PROBE_DATA, "--init-args", "[8]"], "give a JSON object of keyword"),
    ("probe", "--init-args", [PROBE_MODULE, *PROBE_DATA, "--init-args", "{{width: 8}}"], "--init-args: not JSON"),
    ("probe", "--init-args", [PROBE_MODULE, *PROBE_DATA, "--init-args", '{{"depth": 8}}'], "TypeError: Unlike.__init"),
    ("probe", "--steps", [PROBE_MODULE, *PROBE_DATA, "--steps", "0"], "--steps must be at least 1, got 0"),
    ("probe", "--precision", [PROBE_MODULE, *PROBE_DATA, "--precision", "16"], "argument --precision: invalid choice"),
    ("probe", "--device", [PROBE_MODULE, *PROBE_DATA, "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ("probe", "--seed", [PROBE_MODULE, *PROBE_DATA, "--seed", "-1"], "--seed must be between 0 and 4294967295"),
    ("probe", "--gradient-clip-val", [PROBE_MODULE, *PROBE_DATA, "--gradient-clip-val", "0"], "must be a positive"),
    ("probe", "--accumulate-grad-batches", [PROBE_MODULE, *PROBE_DATA, "--accumulate-grad-batches", "0"], "at least 1"),
    ("probe", "--rounds", [PROBE_MODULE, *PROBE_DATA, "--rounds", "1"], "--rounds must be at least 2, got 1"),
    ("probe", "--ladder", [PROBE_MODULE, *PROBE_DATA, "--ladder=1"], "--ladder: ignored explicit argument"),
    ("probe", "--instructions", [PROBE_MODULE, *PROBE_DATA, "--instructions=1"], "ignored explicit argument"),
    ("probe", "--no-parity", [PROBE_MODULE, *PROBE_DATA, "--no-parity=1"], "--no-parity: ignored explicit argument"),
    ("probe", "--out", [PROBE_MODULE, *PROBE_DATA, "--out", "{file}"], "--out {file}: is a file, not a folder"),
    ("probe", "--out", [PROBE_MODULE, *PROBE_DATA, "--out", "{full}"], "already exists and is not empty"),
]


def _rows() -> list:
    rows = []
    for command, _, args, words in BAD_INPUTS:
        packages = SIDES if command in ("minimal", "autoencoder", "evaluate") else ("benchmarks",)
        rows += [pytest.param(p, command, args, words, id=f"{p}-{command}-{' '.join(args)}") for p in packages]
    return rows


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


@pytest.fixture
def places(tmp_path, ckpts) -> dict[str, str]:
    """The files and folders the table's placeholders name, and a working directory of their own."""
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "metrics.json").write_text("earlier run")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.json").write_text("{}")
    folders = {}
    for name, files in (
        ("raw", [ckpts["raw"]]),
        ("lit", [ckpts["lightning"]]),
        ("mixed-raw", [ckpts["raw"], ckpts["autoencoder"]]),  # two runs' files in one folder
        ("mixed-lit", [ckpts["lightning"], ckpts["autoencoder-lightning"]]),
        ("reseeded-raw", [ckpts["raw"]]),
        ("reseeded-lit", [ckpts["lightning"]]),
    ):
        folders[name] = tmp_path / name / "checkpoints"
        folders[name].mkdir(parents=True)
        for src in files:
            (folders[name] / src.name).write_bytes(src.read_bytes())
        if name.startswith("reseeded"):  # a second file whose run_config says another run wrote it
            ckpt = torch.load(files[0], weights_only=True)
            other = dict(seed=1, lr=0.5, epochs=3, limit_train_batches=None)
            ckpt["run_config"] = {**ckpt["run_config"], **other}
            ckpt["epoch"], ckpt["global_step"] = 1, 10
            torch.save(ckpt, folders[name] / "epoch=1-step=10.ckpt")
    (tmp_path / "cwd").mkdir()
    return {
        "file": str(tmp_path / "a-file"),
        "full": str(tmp_path / "full"),
        "empty": str(tmp_path / "empty"),
        "json": str(tmp_path / "empty.json"),
    } | {  # fmt: skip
        k: str(v) for k, v in folders.items()
    }


@pytest.mark.parametrize("package, command, args, words", _rows())
def test_bad_input_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path, places, package, command, args, words):
    mine, other = ("raw", "lit") if package == "raw_torch" else ("lit", "raw")
    names = {**places, "mine": places[mine], "other": places[other], "mixed": places[f"mixed-{mine}"],
             "reseeded": places[f"reseeded-{mine}"]}  # fmt: skip
    args, words = [a.format(**names) for a in args], words.format(**names)
    if command in ("minimal", "autoencoder") and "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    monkeypatch.chdir(tmp_path / "cwd")  # default --data-dir, runs/, results/: nothing may appear here
    before = _snapshot(tmp_path)
    code, lines = call(capsys, package, command, args)
    assert code == 2
    assert len(lines) == 1 and words in lines[0], lines
    assert _snapshot(tmp_path) == before  # nothing created, changed or removed


def _actions(parser: argparse.ArgumentParser) -> list[str]:
    """Each action's long flag, or a positional's metavar/name; subcommands by name."""
    names = []
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        if isinstance(a, argparse._SubParsersAction):
            names += list(a.choices)
        elif a.option_strings:
            names.append(a.option_strings[-1])
        else:
            names.append(a.metavar or a.dest)
    return names


def test_every_flag_has_a_row():
    parsers = {
        "minimal": build_parser("minimal", "raw"),
        "autoencoder": build_parser("autoencoder", "raw"),
        "evaluate": build_evaluate_parser("raw"),
        "report": report.build_parser(),
        "instructions": instructions.build_parser(),
        "store": store_save.build_parser(),
        "store parts": store_parts.build_parser(),
        "clock.gpu_plan": gpu_plan.build_parser(),
        "releases": releases.build_parser(),
        "probe": probe.build_parser(),
    }
    shared = {flag for command, flag, _, _ in BAD_INPUTS if command == "minimal"} - {"--solver", "--finetune-epochs"}
    missing = []
    for command, parser in parsers.items():
        rows = {flag for c, flag, _, _ in BAD_INPUTS if c == command.split()[0]}
        if command == "autoencoder":
            rows |= shared  # the flags both workloads have are tried once, on the minimal example
        missing += [f"{command} {flag}" for flag in _actions(parser) if flag not in rows]
    assert missing == []
    assert len(BAD_INPUTS) >= 30


def test_the_two_sides_parse_the_same_flags():
    for workload in ("minimal", "autoencoder"):
        assert _actions(build_parser(workload, "raw")) == _actions(build_parser(workload, "lightning"))
    assert _actions(build_evaluate_parser("raw")) == _actions(build_evaluate_parser("lightning"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read and write anywhere; the file-in-the-way rows cover it")
@pytest.mark.parametrize("package", SIDES)
def test_unreadable_and_unwritable_paths(capsys, tmp_path, ckpts, package):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, lines = call(capsys, package, "minimal", ["--out", str(locked / "run")])
    assert code == 2 and "cannot be created in" in lines[0]
    secret = tmp_path / "secret.ckpt"
    secret.write_bytes(ckpts["raw"].read_bytes())
    secret.chmod(0)
    code, lines = call(capsys, package, "minimal", ["--resume", str(secret), "--out", str(tmp_path / "o")])
    assert code == 2 and "cannot be read (Permission denied)" in lines[0]


def test_help_shows_every_choice_and_default():
    """--help of every command: each flag that takes a value says its default, each choice is listed, and
    what a training command writes (skipped_steps included) is described for its own workload only."""
    for workload in ("minimal", "autoencoder"):
        parser = build_parser(workload, "raw")
        text = parser.format_help()
        for a in parser._actions:
            if a.option_strings and a.nargs != 0 and not isinstance(a, argparse._HelpAction):
                assert "(default" in (a.help or ""), a.option_strings
            for choice in a.choices or ():
                assert choice in text, choice
        assert "skipped_steps" in text and ("finetune" in text) == (workload == "minimal")
        keys = [f.name for f in dataclasses.fields(RunRecord) if f.name != "model"]  # what metrics.json holds
        assert [k for k in keys if k not in text] == [] and len(keys) >= 13
    for parser in (build_evaluate_parser("raw"), report.build_parser(), instructions.build_parser()):
        for a in parser._actions:
            if a.option_strings and a.nargs != 0 and a.default not in (None, argparse.SUPPRESS):
                assert "default" in (a.help or ""), a.option_strings


def test_lightning_evaluate_prints_only_its_table(tmp_path, ckpts):
    """Lightning's side as the raw one (whose table the README's tested block shows): the table on stdout,
    nothing on stderr (no device lines, tips, restore notes or callback warnings per checkpoint)."""
    folder = ckpts["lightning"].parent
    done = subprocess.run(
        [sys.executable, "-m", "with_lightning.evaluate", str(folder), "--device", "cpu"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["epoch", "step", "test_loss", "file"] and len(lines) == 1 + 2, lines


def test_every_benchmark_command_says_what_an_interruption_leaves():
    """Ctrl-C ends every command with one line saying what is on disk. The training commands' line speaks of
    checkpoints; a benchmark writes none, so each names its own (a run saved whole, the venv as it was, ...)."""
    import ast

    from raw_torch.common.cli import CHECKPOINTS_KEPT

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    entries = sorted(root.glob("*/__main__.py")) + [root / "clock" / "gpu_plan.py", root / "releases" / "worker.py"]
    said = {}
    for path in entries:
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        guard = [c for c in calls if getattr(c.func, "id", None) == "main_guard"]
        assert len(guard) == 1, path
        said[path.relative_to(root).as_posix()] = {k.arg: ast.literal_eval(k.value) for k in guard[0].keywords}
    assert len(said) == 8, said
    for path, keywords in said.items():
        assert keywords.get("kept") and keywords["kept"] != CHECKPOINTS_KEPT, path
