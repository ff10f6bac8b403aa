"""`nox -s releases` without valgrind or a real install: the venv left alone even when the session is interrupted
(a stand-in for pip, tests/fake_pip.py), the component rules on the paths Lightning moved between releases, the
bridges on this venv's Lightning, and the report's section on the committed run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import child_env

from benchmarks.instructions.components import classify
from benchmarks.report import releases as report_releases
from benchmarks.store.runs import newest_of_kind, read, result

ROOT = Path(__file__).resolve().parents[1]
VENV = [{"name": "torch", "version": "2.14.1"}, {"name": "pytorch-lightning", "version": "2.6.6"}]


def _fake_pip(tmp_path: Path, **extra: str) -> dict:
    venv, log = tmp_path / "venv.json", tmp_path / "pip.log"
    venv.write_text(json.dumps(VENV))
    return child_env(
        PAIRED_PIP=f"{sys.executable} {ROOT / 'tests' / 'fake_pip.py'}", FAKE_VENV=str(venv), FAKE_PIP_LOG=str(log),
        TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1", **extra,
    )  # fmt: skip


def _calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "pip.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="the session refuses to start without valgrind")
def test_an_interrupted_session_leaves_the_venv_as_it_was(tmp_path):
    """Ctrl-C while pip fetches the second release: one line, exit 130, every install went into a folder of the
    session's own (never the venv), that folder is gone, and the venv's list is what it was."""
    env = _fake_pip(tmp_path, FAKE_PIP_SLEEP="30")
    cmd = [sys.executable, "-m", "benchmarks.releases", "--releases", "2.5.6,2.6.6", "--results", str(tmp_path / "r")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(c[0] == "install" for c in _calls(tmp_path)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["benchmarks.releases: interrupted by SIGINT; nothing saved, and the venv "
                                        "holds what it held before"], err  # fmt: skip
    calls = _calls(tmp_path)
    installs = [c for c in calls if c[0] == "install"]
    assert installs and all("--target" in c and "paired-releases-" in c[c.index("--target") + 1] for c in installs)
    assert [c[0] for c in calls].count("list") == 2  # the venv's list before, and again after the interruption
    assert json.loads((tmp_path / "venv.json").read_text()) == VENV
    assert not list(tmp_path.glob("paired-releases-*")) and not (tmp_path / "r").exists()


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="the session refuses to start without valgrind")
def test_a_session_that_changed_the_venv_says_so(tmp_path):
    """Were an install ever to land in the venv (here: a pip that ignores --target and then fails), the session
    compares pip's list of the venv after with before, and says so in one line; nothing is saved."""
    fake = tmp_path / "pip_without_target.py"
    fake.write_text(
        "import runpy, sys\n"
        "sys.argv = [a for i, a in enumerate(sys.argv) if a != '--target' and sys.argv[i - 1] != '--target']\n"
        f"runpy.run_path({str(ROOT / 'tests' / 'fake_pip.py')!r}, run_name='__main__')\n"
    )
    env = {**_fake_pip(tmp_path, FAKE_PIP_EXIT="1"), "PAIRED_PIP": f"{sys.executable} {fake}"}
    cmd = [sys.executable, "-m", "benchmarks.releases", "--releases", "2.6.6", "--results", str(tmp_path / "r")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "benchmarks.releases: error: the venv's packages changed during the session; nothing was meant to install "
        "there; nothing saved"
    ]
    assert not (tmp_path / "r").exists()


# Paths that moved between 1.9 and 2.x, each with the part it belongs to in every release
MOVED = [
    ("pytorch_lightning/loops/epoch/training_epoch_loop.py", "advance", "Lightning: loops and progress tracking"),
    ("pytorch_lightning/loops/training_epoch_loop.py", "advance", "Lightning: loops and progress tracking"),
    ("pytorch_lightning/trainer/progress.py", "increment_ready", "Lightning: loops and progress tracking"),
    ("pytorch_lightning/loops/progress.py", "increment_ready", "Lightning: loops and progress tracking"),
    ("pytorch_lightning/utilities/fetching.py", "fetching_function", "Lightning: data fetcher"),
    ("pytorch_lightning/loops/fetchers.py", "_fetch_next_batch", "Lightning: data fetcher"),
    ("pytorch_lightning/trainer/supporters.py", "__next__", "Lightning: data fetcher"),
    ("pytorch_lightning/utilities/combined_loader.py", "__next__", "Lightning: data fetcher"),
    ("pytorch_lightning/trainer/supporters.py", "append", "Lightning: loops and progress tracking"),
    ("pytorch_lightning/trainer/states.py", "__getattribute__", "Lightning: Trainer state and properties"),
    ("pytorch_lightning/loops/optimization/optimizer_loop.py", "_run_optimization", "Lightning: optimizer closure, "
     "strategy, precision"),
    ("pytorch_lightning/loops/optimization/automatic.py", "run", "Lightning: optimizer closure, strategy, precision"),
    ("pytorch_lightning/utilities/apply_func.py", "move_data_to_device", "Lightning: batch transfer to the device"),
    ("lightning_fabric/utilities/apply_func.py", "move_data_to_device", "Lightning: batch transfer to the device"),
    ("pytorch_lightning/trainer/connectors/logger_connector/result.py", "log", "Lightning: self.log and results"),
    ("torchmetrics/metric.py", "wrapped_func", "Lightning: self.log and results"),
]  # fmt: skip


@pytest.mark.parametrize("path, function, part", MOVED, ids=[f"{p}:{f}" for p, f, _ in MOVED])
def test_the_component_rules_follow_what_lightning_moved(path, function, part):
    assert classify(f"/tmp/paired-releases-x/pytorch-lightning-1.9.5/{path}", function) == part


def test_this_venvs_lightning_needs_no_bridge():
    """2.6 spells every name the twins use: on this venv's Lightning the bridge changes nothing."""
    import pytorch_lightning as pl

    from benchmarks.releases import bridge

    if not pl.__version__.startswith("2.6"):
        pytest.skip(f"this venv's Lightning is {pl.__version__}")
    fit = pl.Trainer.fit
    assert bridge.apply() == [] and pl.Trainer.fit is fit


def _committed() -> tuple[Path, dict]:
    folder = next(ROOT.glob("results/cpu-*/*/"), None)
    source = newest_of_kind(folder, "releases") if folder else None
    if source is None:
        pytest.skip("no `nox -s releases` run is committed")
    return source, read(source)


def test_the_committed_release_run_holds_every_release_with_parity_counts_and_parts():
    source, data = _committed()
    info = result(data)
    assert info["releases"][0] == "1.9.5" and info["releases"][1:] == ["2.0.9", "2.1.4", "2.2.5", "2.3.3", "2.4.0",
                                                                       "2.5.6", "2.6.6"]  # fmt: skip
    for row in report_releases.rows(info):
        assert all(p["bitwise"] for p in row["parity"]), row["release"]
        for workload in ("minimal", "autoencoder"):
            assert row[workload]["per_step"] > 0 and row[workload]["parts"]
            assert row[workload]["other_share"] <= report_releases.OTHER_MAX, (row["release"], workload)
    assert {i["release"] for i in info["items"] if i["group"] == "ladder"} == {"2.0.9", "2.6.6"}


def test_the_report_explains_every_jump_of_the_committed_run(tmp_path):
    source, data = _committed()
    info = result(data)
    lines = report_releases.releases_section(info, data, source, tmp_path / "releases.png", Path("plots"))
    text = "\n".join(lines)
    assert "not yet explained" not in text
    for jump in report_releases.jumps(report_releases.rows(info)):
        assert (jump["from"], jump["to"], jump["workload"]) in report_releases.EXPLAINED
    for release in info["releases"]:
        assert f"| {release} |" in text
    assert (tmp_path / "releases.png").stat().st_size > 0


def test_the_session_refuses_to_run_in_the_users_own_environment():
    """`nox --no-venv -s releases`: one line and a non-zero exit, before pip fetches anything."""
    cmd = [sys.executable, "-m", "nox", "--no-venv", "--no-install", "-s", "releases"]
    done = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "releases: pip fetches eight Lightning releases; run it in its own venv, not under --no-venv" in done.stderr
    assert "pip install" not in done.stderr
