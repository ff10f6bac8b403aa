"""The instruction-count pipeline without valgrind: the callgrind parser on a small file with known totals,
the slope and linearity arithmetic, the attribution's bookkeeping, the component rules and the windows.
(`nox -s instructions -- --smoke` runs the whole pipeline under valgrind; ~5 min, so not here.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.instructions import attribution as A
from benchmarks.instructions.callgrind import LAYERS, layer_of, parse
from benchmarks.instructions.components import classify
from benchmarks.instructions.counting import WINDOWS, OpcodeCounter, Windows, WindowsDone

SMALL = Path(__file__).parent / "data" / "small.callgrind"


def test_the_parser_counts_every_instruction_once_where_it_ran():
    profile = parse(SMALL)
    assert profile.total == 1075 == sum(profile.by_function.values())
    fn = {name: n for (_, name), n in profile.by_function.items()}
    # 300 + 100 + 20: the 550 after `calls=` is the callee's inclusive cost, counted inside the callee
    assert fn == {
        "_PyEval_EvalFrameDefault": 420,
        "at::native::linear": 150,
        "mkl_blas_avx2_sgemm_kernel": 400,
        "malloc": 30,
        "gc_collect_with_callback": 5,
        "gc_collect_main": 50,
        "visit_decref": 20,
    }
    assert profile.gc == 70  # the collector's inclusive cost: its own 50 and the 20 of what it called
    assert profile.by_layer() == {
        "interpreter": 495,
        "torch operators": 150,
        "MKL and OpenMP": 400,
        "torch Python bindings": 0,
        "libc and loader": 30,
        "other native": 0,
    }
    # control: counting the call lines as well would count the callees twice
    text = SMALL.read_text().splitlines()
    naive = sum(int(line.split()[-1]) for line in text if line and (line[0].isdigit() or line[0] in "+-*"))
    assert naive == 2115 != profile.total


def test_layers_follow_the_object_then_the_function():
    torch_cpu = "/x/site-packages/torch/lib/libtorch_cpu.so"
    assert layer_of(torch_cpu, "mkl_vml_kernel_sSqrt_L9HAynn") == "MKL and OpenMP"
    assert layer_of(torch_cpu, "vssqrt_cout_rare") == "MKL and OpenMP"
    assert layer_of(torch_cpu, "at::native::add_kernel") == "torch operators"
    assert layer_of("/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", "_Py_dict_lookup") == "interpreter"
    assert layer_of("/usr/bin/python3.11", "_PyEval_EvalFrameDefault") == "interpreter"
    assert layer_of("/x/torch/lib/libtorch_python.so", "THPVariable_add") == "torch Python bindings"
    assert layer_of("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "__tls_get_addr") == "libc and loader"
    assert layer_of("???", "0x49367a8") == "other native"
    assert set(LAYERS) >= {layer_of(torch_cpu, "x"), layer_of("???", "y")}


def test_slope_recovers_a_line_and_measures_its_bend():
    steps = [b - a for a, b in WINDOWS]
    exact = A.slope(steps, [2_000_000 + 7_000_000 * n for n in steps])
    assert exact["per_step"] == pytest.approx(7_000_000) and exact["per_window"] == pytest.approx(2_000_000)
    assert exact["nonlinearity"] < 1e-12
    bent = A.slope(steps, [7_000_000 * n + (300_000 if n == steps[1] else 0) for n in steps])
    assert bent["nonlinearity"] > 0.001  # a 300k bump in one window shows


def test_a_garbage_collection_in_one_window_is_amortized_not_fitted():
    """One collection of 300k in the middle window bends the counts; taken out and charged per step as
    its total over all the windows' steps, the rest is a line again and the parts still add up."""
    steps = [b - a for a, b in WINDOWS]
    gc = [0, 300_000, 0]
    windows = [
        {"steps": n, "layers": {"interpreter": 4e6 * n + g, "torch operators": 3e6 * n + 1e5}, "gc": g,
         "collections": [int(g > 0), 0, 0]}
        for n, g in zip(steps, gc, strict=True)
    ]  # fmt: skip
    result = A.per_step_layers(windows)
    assert result["nonlinearity_as_counted"] > 0.001  # as counted: bent by the one collection
    assert result["total"]["nonlinearity"] < 1e-9  # without the collector: a line
    assert result["gc"]["per_step"] == pytest.approx(300_000 / sum(steps))
    assert result["total"]["per_step"] == pytest.approx(7e6 + 300_000 / sum(steps))
    assert result["layers"]["interpreter"] == pytest.approx(4e6)  # the collector is not in the layer
    parts = A.parts(result["layers"], {"raw loop": 1.0}, result["gc"]["per_step"])
    assert sum(parts.values()) == pytest.approx(result["total"]["per_step"])
    assert parts[A.GC_PART] == pytest.approx(result["gc"]["per_step"])
    # no collection anywhere: the same as the plain fit
    plain = A.per_step_layers([{**w, "gc": 0, "layers": {"interpreter": 4e6 * w["steps"]}} for w in windows])
    assert plain["total"]["per_step"] == pytest.approx(4e6) and plain["gc"]["per_step"] == 0


def test_parts_add_up_to_the_measured_total_and_other_is_bounded():
    layers = {"interpreter": 6e6, "torch operators": 3e6, "MKL and OpenMP": 2e6, "libc and loader": 1e6}
    opcodes = {"Lightning: self.log and results": 300.0, "model forward and loss": 100.0, "other Python": 100.0}
    parts = A.parts(layers, opcodes)
    assert sum(parts.values()) == pytest.approx(sum(layers.values()))
    assert parts["Python: Lightning: self.log and results"] == pytest.approx(3.6e6)  # 300/500 of the interpreter
    assert A.parts(layers, None)["interpreter"] == 6e6  # the floor: no Python split
    raw = A.parts({"interpreter": 2e6, "torch operators": 3e6}, {"model forward and loss": 1.0})
    extra = A.extra(parts, raw)
    assert sum(extra.values()) == pytest.approx(sum(parts.values()) - sum(raw.values()))
    assert A.other_share(extra) == pytest.approx(1.2e6 / sum(extra.values()))
    assert A.spread(100.0, 100.1) == pytest.approx(0.1 / 100.05)


@pytest.mark.parametrize(
    "path, function, component",
    [
        (
            "/v/site-packages/pytorch_lightning/trainer/call.py",
            "_call_callback_hooks",
            "Lightning: hook dispatch",
        ),
        ("/v/site-packages/pytorch_lightning/core/module.py", "log", "Lightning: self.log and results"),
        ("/v/site-packages/pytorch_lightning/core/module.py", "__to_tensor", "Lightning: self.log and results"),
        ("/v/site-packages/pytorch_lightning/loops/fetchers.py", "__next__", "Lightning: data fetcher"),
        (
            "/v/site-packages/pytorch_lightning/loops/optimization/automatic.py",
            "run",
            "Lightning: optimizer closure, strategy, precision",
        ),
        (
            "/v/site-packages/pytorch_lightning/loops/training_epoch_loop.py",
            "advance",
            "Lightning: loops and progress tracking",
        ),
        ("/v/site-packages/tqdm/std.py", "update", "progress bar"),
        (
            "/v/site-packages/pytorch_lightning/utilities/signature_utils.py",
            "is_param_in_hook_signature",
            "Lightning: hook signature checks (inspect)",
        ),
        (
            "/v/site-packages/pytorch_lightning/trainer/trainer.py",
            "training",
            "Lightning: Trainer state and properties",
        ),
        ("/v/site-packages/torch/optim/adam.py", "step", "optimizer and GradScaler (Python)"),
        ("/v/site-packages/torch/nn/modules/linear.py", "forward", "model forward and loss"),
        ("/repo/raw_torch/loop.py", "fit", "raw loop"),
        ("/repo/with_lightning/trainer.py", "on_train_batch_end", "our callbacks (History, RunState)"),
        ("/v/site-packages/somewhere/else.py", "f", "other Python"),
        ("/v/site-packages/torch/nn/modules/module.py", "__getattr__", None),  # neutral: the caller's
        ("/v/site-packages/torch/nn/parameter.py", "__instancecheck__", None),
        ("/v/site-packages/lightning_utilities/core/apply_func.py", "apply_to_collection", None),
    ],
)
def test_component_rules(path, function, component):
    assert classify(path, function) == component


def test_stdlib_code_is_charged_to_its_caller():
    import contextlib

    assert classify(contextlib.__file__, "__enter__") is None


def test_windows_start_and_stop_at_the_fetch_edges_and_stop_the_run():
    events = []
    sampler = Windows(range(100), lambda: events.append("start"), lambda w: events.append(tuple(w)))
    seen = []
    with pytest.raises(WindowsDone):
        for i in sampler:
            seen.append(i)
            events.append(i)
    last = WINDOWS[-1][1]
    assert seen == list(range(last))  # every batch handed on unchanged, up to the last window's end
    for a, b in WINDOWS:
        assert events[events.index(a) - 1] == "start"  # started just before batch a is handed on
        assert events[events.index(b - 1) + 1] == (a, b)  # stopped just after batch b-1's step
    assert events.count("start") == len(WINDOWS)


def test_opcodes_are_counted_inside_windows_only():
    counter = OpcodeCounter()
    total = 0
    try:
        for i in Windows(range(100), counter.start, counter.stop):
            for _ in range(50 if i < WINDOWS[0][0] else 10):  # more work before the first window: not counted
                total += i
    except WindowsDone:
        pass
    per_window = [sum(w["opcodes"].values()) for w in counter.windows]
    lengths = [b - a for a, b in WINDOWS]
    assert len(per_window) == len(WINDOWS) and all(n > 0 for n in per_window)
    per_step = [n / k for n, k in zip(per_window, lengths, strict=True)]
    assert max(per_step) / min(per_step) < 1.3  # the same work per step in every window


def test_the_report_explains_the_committed_run(tmp_path):
    """The saved `nox -s instructions` run beside the reference bench run: the section is there, the parts
    add up to the measured difference, and the catch-all parts stay under 10% of Lightning's extra."""
    from benchmarks.report import build as report
    from benchmarks.report import instructions as report_instructions
    from benchmarks.store.runs import load_run, newest_of_kind, result

    folder = Path(__file__).resolve().parents[1] / "results" / "cpu-amd-epyc-2core" / "Linux-CPython-3.11-64bit"
    source = newest_of_kind(folder, "instructions")
    if source is None:
        pytest.skip("no saved instructions run")
    info = result(load_run(source))
    for workload in ("minimal", "autoencoder"):
        raw, lit = (
            report_instructions.find(info["items"], group="main", workload=workload, precision="32-true", impl=impl)
            for impl in ("raw", "lightning")
        )
        _, split = report_instructions.parts_table(raw, lit)
        assert split["total"] == pytest.approx(split["measured"], rel=0.02)
        assert split["other"] < 0.10
        if "gc" in raw:  # runs since the collector is counted apart: the bounds on the headline cases
            assert max(raw["spread"], lit["spread"]) <= 0.001
            assert max(raw["nonlinearity"], lit["nonlinearity"]) <= 0.002
    for fix in (i for i in info["items"] if i["group"] == "ablation"):  # PR #21769's short cut, where counted
        raw, lit = (
            report_instructions.find(info["items"], group="main", workload=fix["workload"], precision="32-true",
                                     impl=impl)
            for impl in ("raw", "lightning")
        )  # fmt: skip
        assert 1e6 < lit["per_step"] - fix["per_step"] < lit["per_step"] - raw["per_step"]  # part of the extra
    lines = report.instructions_part(folder / "0002_bench.json", tmp_path / "instructions.png", Path("plots"))
    text = "\n".join(lines)
    assert "### Instructions per step" in text and "Independent checks" in text and "0.06 s" in text
    assert ("#### What a proposed fix would save" in text) == any(i["group"] == "ablation" for i in info["items"])
    assert "collections per window" in text and "The ladder's" in text
    assert (tmp_path / "instructions.png").stat().st_size > 0


def test_the_callgrind_counter_notes_each_window_and_its_collections():
    """Outside valgrind the toggles are no-ops (client requests); the manifest still says which window each
    dump is and how many collections of each generation ran inside it."""
    import gc

    from benchmarks.instructions.counting import callgrind_counter

    manifest: list = []
    start, stop = callgrind_counter(manifest)
    gc.disable()  # only the collections asked for here
    try:
        start()
        gc.collect(0)
        gc.collect(1)
        stop((24, 32))
        start()
        stop((32, 48))
    finally:
        gc.enable()
    assert manifest[0][:2] == [24, 32] and manifest[0][2][:2] == [1, 1]
    assert manifest[1] == [32, 48, [0, 0, 0]]


def test_pr21769s_short_cut_keeps_lightning_bitwise_and_is_taken_every_step(tmp_path):
    """The ablation `nox -s instructions` counts (ablations.py): Lightning with PR #21769's `_ResultMetric.to`
    computes what the raw twin computes, to the last bit (synthetic autoencoder, 2 epochs with validation and the
    sanity check), takes the short cut at every training step, and leaves Lightning's own method in place after."""
    from conftest import run_side
    from pytorch_lightning.trainer.connectors.logger_connector.result import _ResultMetric

    from benchmarks.instructions.ablations import metric_move_short_cut
    from raw_torch.common.config import RunConfig

    full_path = _ResultMetric.to
    cfg = RunConfig.for_workload("autoencoder", device="cpu", dataset="synthetic", epochs=2, limit_train_batches=6,
                                 limit_val_batches=2, progress_bar=False)  # fmt: skip
    raw = run_side("raw", cfg.replace(out=str(tmp_path / "raw")))
    with metric_move_short_cut() as calls:
        lit = run_side("lightning", cfg.replace(out=str(tmp_path / "lightning")))
    assert _ResultMetric.to is full_path
    assert calls["short"] >= 12  # one self.log("train_loss") a step, 2 epochs of 6; validation and test log too
    assert {k: v for k, v in raw.to_json().items() if k != "impl"} == {
        k: v for k, v in lit.to_json().items() if k != "impl"
    }
