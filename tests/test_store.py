"""Saved runs: the instruments' own schema, the runs saved before it, and pytest-benchmark's files, read alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.store import runs

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "results").glob(f"*/*/{runs.RUN_GLOB}"))


def _legacy(kind: str, result: dict) -> dict:
    """An instrument's run as saved before the schema: pytest-benchmark's shape, one entry named after its kind."""
    return {
        "machine_info": {"paired": {"torch": "2.x"}},
        "commit_info": {"id": "0" * 40, "dirty": False},
        "datetime": "2026-12-01T00:00:00+00:00",
        "version": f"paired-{kind}-1",
        "benchmarks": [{"name": kind, "group": kind, "extra_info": {"kind": kind, **result}}],
    }


def test_an_instrument_run_is_saved_in_the_schema_and_read_back(tmp_path):
    result = {"cases": [{"workload": "minimal", "per_step": 1.5}], "smoke": True}
    first = runs.save(tmp_path, "ddp", "paired-ddp-1", {"paired": {}}, result)
    second = runs.save(tmp_path, "instructions", "paired-instructions-2", {"paired": {}}, {"items": []})
    assert (first.name, second.name) == ("0001_ddp.json", "0002_instructions.json")  # one numbering per folder
    data = runs.read(first)
    assert data["schema"] == runs.SCHEMA and data["schema_version"] == runs.SCHEMA_VERSION
    assert data["kind"] == "ddp" and data["tool"] == "paired-ddp-1" and "id" in data["commit_info"]
    assert runs.result(data) == result and runs.kinds(data) == {"ddp"}
    assert runs.newest_of_kind(first.parent, "ddp") == first
    assert runs.newest_of_kind(first.parent, "instructions") == second


def test_a_run_saved_before_the_schema_reads_as_the_same_result(tmp_path):
    result = {"cases": [{"workload": "minimal", "per_step": 1.5}]}
    folder = tmp_path / "cpu-test" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    old = folder / "0001_ddp.json"
    old.write_text(json.dumps(_legacy("ddp", result)))
    data = runs.read(old)
    assert runs.kinds(data) == {"ddp"} and runs.result(data) == {"kind": "ddp", **result}
    assert runs.newest_of_kind(folder, "ddp") == old


def test_every_committed_run_stays_readable():
    """The committed runs, the H200 `0001` and the instruments' runs from before the schema included."""
    assert len(COMMITTED) >= 10
    seen = set()
    for path in COMMITTED:
        data = runs.read(path)
        found = runs.kinds(data)
        assert found, path
        seen |= found
        if found & {"instructions", "ddp"}:
            assert isinstance(runs.result(data), dict) and runs.result(data), path
    assert {"step_cost", "resolve", "instructions", "ddp"} <= seen


def test_a_run_kind_comes_from_its_json_not_its_text(tmp_path):
    """A step-cost run whose text happens to hold `"kind": "ddp"` (a nested value) is no DDP run."""
    folder = tmp_path / "m" / "id"
    folder.mkdir(parents=True)
    run = {
        "machine_info": {},
        "benchmarks": [{"name": "x", "extra_info": {"kind": "step_cost", "config": {"kind": "ddp"}}}],
    }
    path = folder / "0001_bench.json"
    path.write_text(json.dumps(run))
    assert '"kind": "ddp"' in path.read_text()  # what a search of the text would have taken for a DDP run
    assert runs.newest_of_kind(folder, "ddp") is None
    assert runs.newest_of_kind(folder, "step_cost") == path
    assert runs.newest_runs(tmp_path) == [path]


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"schema": "paired-run", "schema_version": 99, "kind": "ddp", "machine_info": {}, "result": {}}, "99"),
        ({"schema": "paired-run", "schema_version": 1, "kind": "ddp", "machine_info": {}}, "'result'"),
        ({"benchmarks": [], "machine_info": {}, "incomplete": True}, "did not finish"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_what_is_not_a_run_is_named_and_passed_over(tmp_path, capsys, payload, words):
    path = tmp_path / "0001_x.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(runs.NotARun, match=words):
        runs.read(path)
    assert runs.load_run(path) is None
    assert f"skipping {path}" in capsys.readouterr().err


def test_a_pytest_run_is_filed_whole_under_the_next_number(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "t", "extra_info": {}}]}) + "\n")
    first = runs.save_pytest_run(run_json, tmp_path / "results", "bench", "cpu")
    second = runs.save_pytest_run(run_json, tmp_path / "results", "resolve", "cpu")
    assert (first.name, second.name) == ("0001_bench.json", "0002_resolve.json")
    assert first.read_bytes() == run_json.read_bytes()
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"machine_info": {}, "benchmarks": []}))
    with pytest.raises(runs.NotARun, match="no benchmark"):
        runs.save_pytest_run(empty, tmp_path / "results", "bench", "cpu")
    assert sorted(p.name for p in first.parent.iterdir()) == ["0001_bench.json", "0002_resolve.json"]


def _bench_run(path: Path, floor_sd: float) -> None:
    case = {"kind": "step_cost", "step": {"floor": {"mean": 1.0, "sd": floor_sd}}}
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "c", "extra_info": case}]}))


def test_the_reference_run_is_the_quietest_complete_run_not_superseded(tmp_path):
    from benchmarks.report.reference import choose, reference_runs

    folder = tmp_path / "cpu-test" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    for name, sd in (("0001", 0.01), ("0002", 0.03), ("0003", 0.10), ("0004", 0.03)):
        _bench_run(folder / f"{name}_bench.json", sd)
    (folder / "superseded.json").write_text(json.dumps({"0001_bench.json": "measured before the fix"}))
    choice = choose(folder)
    assert choice["reference"].name == "0004_bench.json"  # 0001 is quieter but superseded; a tie goes to the newest
    assert [(p.name, noisy) for p, _, noisy in choice["others"]] == [
        ("0002_bench.json", False),
        ("0003_bench.json", True),
    ]
    assert choice["superseded"] == {"0001_bench.json": "measured before the fix"}
    assert reference_runs(tmp_path) == [folder / "0004_bench.json"]


def test_the_committed_cpu_reference_is_0007():
    from benchmarks.report.reference import choose

    choice = choose(ROOT / "results" / "cpu-amd-epyc-2core" / "Linux-CPython-3.11-64bit")
    assert choice["reference"].name == "0007_bench.json"
    assert {p.name for p, _, noisy in choice["others"] if noisy} == {"0009_bench.json", "0010_bench.json"}


def test_the_answer_holds_points_a_log_plot_cannot(tmp_path):
    """A run where Lightning came out no slower (a smoke run's noise): the answer still reads, says so, and draws
    no empty plot (a CI run of bench_ddp's smoke once failed here)."""
    from benchmarks.report.answer import answer_section

    folder = tmp_path / "cpu-test" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    case = {"kind": "step_cost", "case": "minimal-cpu-32-true", "step": {"raw": {"mean": 4e-4}},
            "overhead": {"step": {"mean": -1e-5, "ci": 2e-5}}}  # fmt: skip
    run = folder / "0001_bench.json"
    run.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "c", "extra_info": case}]}))
    lines = answer_section([run], tmp_path / "answer.png", Path("plots"))
    text = "\n".join(lines)
    assert "1 point(s) where Lightning was no slower are not on the log plot" in text
    assert "![" not in text and not (tmp_path / "answer.png").exists()
    assert "none (no machine's median overhead is above zero)" in text


def test_the_answer_plots_labels_do_not_cover_each_other(monkeypatch):
    """The committed runs' points sit in clusters a few pixels wide (the CPU and H200 cases near 1 ms): each label
    finds a spot of its own, so none covers another (they did, before labels were placed)."""
    import matplotlib.pyplot as plt
    import matplotlib.text

    from benchmarks.report import answer, plots
    from benchmarks.report.reference import reference_runs

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    monkeypatch.setattr(plots.plt, "close", lambda fig: None)
    shown = plots.plot_answer(answer.points(reference_runs(ROOT / "results")), Path("unused.png"), answer.SHARES)
    (ax,) = figures[0].axes
    renderer = figures[0].canvas.get_renderer()
    labels = [t for t in ax.texts if not t.get_text().startswith("overhead =")]
    assert len(labels) == shown >= 10
    boxes = []
    for label in labels:
        label.update_positions(renderer)
        boxes.append(matplotlib.text.Text.get_window_extent(label, renderer))
    crossed = [(a.get_text(), b.get_text()) for i, a in enumerate(labels) for j, b in enumerate(labels)
               if i < j and boxes[i].overlaps(boxes[j])]  # fmt: skip
    assert not crossed, crossed
    plt.close(figures[0])
