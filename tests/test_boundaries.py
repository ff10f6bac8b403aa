"""What surrounds the pairs: the raw side stays Lightning-free, the device pitfall, commands, data."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import child_env
from torch import nn

from raw_torch.common.cli import build_parser
from raw_torch.common.config import WORKLOADS, RunConfig, default_of
from raw_torch.common.data import load_images, make_autoencoder_loaders

ROOT = Path(__file__).resolve().parents[1]


def run_cmd(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_raw_side_never_imports_lightning(tmp_path):
    code = (
        "import sys, raw_torch.minimal as m, raw_torch.autoencoder, raw_torch.evaluate\n"
        "from raw_torch.common.config import RunConfig\n"
        f"m.run(RunConfig.for_workload('minimal', epochs=1, device='cpu', progress_bar=False, out={str(tmp_path)!r}))\n"
        "names = ('lightning', 'pytorch_lightning', 'lightning_fabric')\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in names)\n"
        "print(bad)\n"
    )
    proc = run_cmd("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


LESSON = ("raw_torch.loop", "raw_torch.minimal", "raw_torch.autoencoder", "raw_torch.evaluate")


def imports_of(source: str) -> set[str]:
    """Every module a file imports, `from raw_torch import loop` counted as raw_torch.loop."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def lesson_imports(folder: str) -> dict[str, list[str]]:
    """{file: what it imports from the raw side beyond raw_torch.common}, for every file in the folder."""
    found = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names = {n for n in imports_of(path.read_text()) if n.split(".")[0] == "raw_torch"}
        bad = sorted(
            n for n in names if n not in ("raw_torch", "raw_torch.common") and not n.startswith("raw_torch.common.")
        )
        if bad:
            found[path.name] = bad
    return found


def test_with_lightning_never_imports_the_raw_lesson():
    """The import rule of raw_torch/common/__init__.py: with_lightning/ and common/ use what both sides share,
    never the hand-written loop, so changing the lesson cannot change what Lightning runs or saves.
    common/ imports no Lightning either, and nothing of the lesson (so none is reached indirectly)."""
    assert lesson_imports("with_lightning") == {}
    assert lesson_imports("raw_torch/common") == {}
    for path in (ROOT / "raw_torch" / "common").glob("*.py"):
        assert not any("lightning" in n for n in imports_of(path.read_text())), path.name
    # control: the check sees every spelling of an import of the lesson
    for line in ("from raw_torch import loop", "import raw_torch.minimal", "from raw_torch.evaluate import x"):
        assert set(LESSON) & imports_of(line), line
    assert not set(LESSON) & imports_of("from raw_torch.common import checkpoints")


def import_graph(root: Path, packages=("raw_torch", "with_lightning", "benchmarks")) -> dict[str, set[str]]:
    """{module: the project's modules it imports}, a package as its __init__; imports inside functions count."""
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {
        name: {n for n in imports_of(path.read_text()) if n in modules and n != name and not name.startswith(n + ".")}
        for name, path in modules.items()
    }


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph (its modules in order), or [] where there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return []


def test_no_import_cycle():
    """The instruments import the shared code and each other one way only (a package importing its own modules
    lazily, as each instrument's `main` does, is not a cycle). Control: a cycle written in is found."""
    graph = import_graph(ROOT)
    assert len(graph) >= 50 and "benchmarks.instructions.session" in graph
    assert import_cycle(graph) == []
    looped = {**graph, "benchmarks.store.runs": graph["benchmarks.store.runs"] | {"benchmarks.report.build"}}
    assert {"benchmarks.store.runs", "benchmarks.report.build"} <= set(import_cycle(looped))


@pytest.mark.parametrize("impl", ["raw", "lightning"])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_flag_default_is_its_settings_default(workload, impl):
    """The command line is built from RunConfig's fields: one default per setting, nowhere else."""
    parser = build_parser(workload, impl)
    flags = [a for a in parser._actions if a.dest != "help"]
    assert len(flags) >= 20
    for action in flags:
        assert action.default == default_of(action.dest, workload), action.dest
    assert RunConfig.for_workload(workload, **vars(parser.parse_args([]))) == RunConfig.for_workload(workload)


class WithPlainTensor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.offset = torch.ones(1)  # a plain attribute: modules never move it


class WithBuffer(WithPlainTensor):
    def __init__(self) -> None:
        super().__init__()
        del self.offset
        self.register_buffer("offset", torch.ones(1))  # registered: moves with the module


@pytest.mark.parametrize("cls, moves", [(WithPlainTensor, False), (WithBuffer, True)])
def test_tensor_created_in_init_moves_only_when_registered(cls, moves):
    """The note's device pitfall. `.to()` is what Lightning's Trainer calls to place the module; the
    meta device lets this machine (no GPU) show the move. tests/test_cuda.py repeats it on a real GPU."""
    module = cls().to("meta")
    assert module.layer.weight.device.type == "meta"
    assert (module.offset.device.type == "meta") is moves


def metrics(path: Path) -> dict:
    return json.loads((path / "metrics.json").read_text())


@pytest.mark.parametrize("workload, extra", [("minimal", []), ("autoencoder", ["--dataset", "synthetic"])])
def test_commands_write_the_same_metrics_json(tmp_path, workload, extra):
    common = ["--epochs", "1", "--limit-train-batches", "7", "--device", "cpu", "--no-progress-bar", *extra]
    raw = run_cmd("-m", f"raw_torch.{workload}", *common, "--out", str(tmp_path / "raw"))
    lit = run_cmd("-m", f"with_lightning.{workload}", *common, "--out", str(tmp_path / "lit"))
    assert raw.returncode == 0, raw.stderr
    assert lit.returncode == 0, lit.stderr
    a, b = metrics(tmp_path / "raw"), metrics(tmp_path / "lit")
    assert (
        list(a)
        == list(b)
        == [
            "impl",
            "workload",
            "device",
            "precision",
            "dataset",
            "seed",
            "train_loss",
            "val_loss",
            "test_loss",
            "params_sha256",
            "skipped_steps",
            "world_size",
            "train_loss_by_rank",
        ]
    )
    assert a["world_size"] == 1 and a["train_loss_by_rank"] is None  # one process (torchrun: tests/test_ddp.py)
    assert (a.pop("impl"), b.pop("impl")) == ("raw", "lightning")
    assert a == b
    assert len(a["train_loss"]) == 7


def test_help_documents_the_flags():
    proc = run_cmd("-m", "with_lightning.autoencoder", "--help")
    assert proc.returncode == 0
    for flag in (
        "--epochs",
        "--batch-size",
        "--lr",
        "--seed",
        "--device",
        "--precision",
        "--limit-train-batches",
        "--out",
        "--dataset",
        "metrics.json",
        "params_sha256",
    ):
        assert flag in proc.stdout, flag


# Bad input, command by command: tests/test_cli.py (BAD_INPUTS). Bad checkpoints: tests/test_safety.py.


@pytest.mark.parametrize("package", ["raw_torch", "with_lightning"])
def test_entry_points_exit_2_without_traceback(tmp_path, package):
    for args in (["--precision", "fp8"], ["--limit-train-batches", "101"]):
        proc = run_cmd("-m", f"{package}.minimal", *args, "--out", str(tmp_path / "out"))
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()


def _tree_digest(*paths: Path) -> dict[str, bytes]:
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return {str(f): f.read_bytes() for f in files if f.is_file()}


def test_gpu_check_runs_in_a_prepared_environment(tmp_path):
    """One GPU lease's command, `bash benchmarks/clock/gpu_lease.sh` (docs/gpu.md), here: it runs `nox --no-venv
    --no-install -s gpu_check` in this environment, as on a GPU machine whose packages come from its image (nox
    from the carried .whl/ where `nox -s gpu_wheels` made one, else this environment's): nox installs nothing and
    runs this interpreter, and bench_gpu runs through its parts runner; without CUDA each part says why it is
    skipped, the session exits 0, nothing in results/ or README.md changes, and the script packs its log and
    results/cuda-*/ as they are into $OUT."""
    import tarfile

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: gpu_check would measure (run it as docs/gpu.md says)")
    before = _tree_digest(ROOT / "results", ROOT / "README.md")
    env = {**child_env(), "OUT": str(tmp_path / "out"), "PY": sys.executable}
    cmd = ["bash", "benchmarks/clock/gpu_lease.sh"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = (tmp_path / "out" / "gpu_lease.log").read_text()
    assert "pip install" not in out and f"{sys.executable} -m benchmarks.store parts --device cuda" in out
    for part in ("CUDA tests", "NCCL, world size 1"):
        assert f"gpu_check: {part}: skipped (no CUDA device on this machine)" in out
    for part in ("steps", "device", "sweep", "memory"):
        assert f"parts: {part}: skipped (no CUDA device on this machine: nothing measured, nothing saved)" in out
    assert re.search(r"gpu_check: versions \d+ s, CUDA tests \d+ s, .*, bench_gpu \d+ s, report \d+ s", out)
    assert "gpu_lease: nox -s gpu_check exit 0" in out and "gpu_lease: packed into" in proc.stdout
    assert _tree_digest(ROOT / "results", ROOT / "README.md") == before
    with tarfile.open(tmp_path / "out" / "results-cuda.tgz") as packed:
        names = {m.name for m in packed.getmembers() if m.isfile()}
    assert names == {str(f.relative_to(ROOT)) for f in (ROOT / "results").glob("cuda-*/**/*") if f.is_file()}
    assert names  # the committed H200 run travels back with whatever the lease adds


def test_cuda_without_a_gpu_is_refused(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_cmd("-m", "raw_torch.minimal", "--device", "cuda", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def test_mnist_offline_names_the_offline_choices(tmp_path):
    proc = run_cmd(
        "-m",
        "raw_torch.autoencoder",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "d"),
        "--epochs",
        "1",
        "--limit-train-batches",
        "1",
        "--no-progress-bar",
        "--out",
        str(tmp_path / "o"),
    )
    if proc.returncode == 0:
        pytest.skip("this machine is online: MNIST downloaded")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "offline choices: mnist-5k" in lines[0], proc.stderr
    assert not (tmp_path / "o").exists()


def test_mnist_5k_is_real_mnist_split_by_a_fixed_generator():
    train_x, train_y, test_x, test_y = load_images("mnist-5k")
    assert train_x.shape == (4000, 784) and test_x.shape == (1000, 784)
    assert 0.0 <= train_x.min() and train_x.max() <= 1.0
    assert set(test_y.tolist()) == set(range(10))  # not the label-sorted tail: shuffled by the fixed permutation
    cfg = RunConfig.for_workload("autoencoder", dataset="mnist-5k")
    a, b = make_autoencoder_loaders(cfg), make_autoencoder_loaders(cfg.replace(seed=7))
    assert len(a[0].dataset) == 3667 and len(a[1].dataset) == 333
    assert torch.equal(a[1].dataset.tensors[0], b[1].dataset.tensors[0])  # the split ignores the run seed


def test_fashion_mnist_from_debian_files():
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    train_x, train_y, test_x, test_y = load_images("fashion-mnist")
    assert train_x.shape == (60000, 784) and test_x.shape == (10000, 784)
    assert train_x.dtype == torch.uint8 and set(train_y.tolist()) == set(range(10))


def sections(path: Path) -> list[str]:
    """The `# --- N. name` section markers of a file, the name up to a colon (what follows explains)."""
    found = re.findall(r"^# --- (\d+\. [^-:]+?)(?::[^-]*)? -+$", path.read_text(), flags=re.M)
    return [s.strip() for s in found]


def test_the_loop_and_the_trainer_are_in_the_same_seven_sections():
    """The README's reading guide: raw_torch/loop.py and with_lightning/trainer.py read side by side."""
    loop_sections = sections(ROOT / "raw_torch" / "loop.py")
    assert [s.split(".")[0] for s in loop_sections] == [str(n) for n in range(1, 8)]
    assert sections(ROOT / "with_lightning" / "trainer.py") == loop_sections
