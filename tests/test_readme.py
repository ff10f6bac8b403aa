"""The cheap commands of README.md and docs/*.md, run as written, and the README's answer, read from results/.

A shell block marked `<!-- tested -->` on the line before its fence runs here, line by line, in an empty
working directory (so `runs/...` lands in a temporary folder), with this interpreter first on PATH as `python`.
A line ending in `# exit N` must exit N; every other line must exit 0. A ```text block right after it holds
lines that must appear in what the commands printed. Long runs, measured numbers and commands that need the
network are not marked. The whole file takes about 30 s here (docs/running.md's block and docs/probe.md's most).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- tested -->"


def marked_blocks(text: str) -> list[tuple[int, list[str], list[str]]]:
    """(line number, commands, expected output lines) of every marked block."""
    lines, blocks = text.splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        assert lines[i + 1].startswith("```bash"), f"line {i + 1}: {MARK} must sit right above a ```bash block"
        end = lines.index("```", i + 2)
        commands = [c for c in lines[i + 2 : end] if c.strip() and not c.lstrip().startswith("#")]
        expected = []
        after = end + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        if after < len(lines) and lines[after].startswith("```text"):
            expected = [e for e in lines[after + 1 : lines.index("```", after + 1)] if e.strip()]
        blocks.append((i + 1, commands, expected))
    return blocks


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(f"{path.relative_to(ROOT)}:{line}", *block[1:]) for path in DOCS for block in marked_blocks(path.read_text())
          for line in [block[0]]]  # fmt: skip


def test_the_docs_mark_their_cheap_blocks():
    assert len(BLOCKS) >= 1
    assert sum(len(commands) for _, commands, _ in BLOCKS) >= 5 and all(expected for _, _, expected in BLOCKS)


def test_a_marked_block_in_docs_is_found(tmp_path):
    """Control: a block in a docs/ file is collected like one in the README."""
    text = "x\n\n<!-- tested -->\n```bash\necho hi\n```\n\n```text\nhi\n```\n"
    assert marked_blocks(text) == [(3, ["echo hi"], ["hi"])]
    assert any(where.startswith("docs/") for where, _, _ in BLOCKS)


@pytest.mark.parametrize("line, commands, expected", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_readme_block_runs_as_written(tmp_path, line, commands, expected):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTEST_XDIST_WORKER", None)
    printed = []
    for command in commands:
        want = int(m.group(1)) if (m := re.search(r"#\s*exit (\d+)\s*$", command)) else 0
        proc = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == want, f"{line}: {command}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        printed.append(proc.stdout + proc.stderr)
    missing = [e for e in expected if e not in "".join(printed)]
    assert missing == [], f"{line}: not printed: {missing}"


def test_the_readme_opens_with_the_answer_read_from_results(tmp_path, monkeypatch):
    """README.md's answer block is what `nox -s report` writes from the committed runs: its first `##` section,
    at most 8 lines and one plot, every number from the saved JSON (a stale README fails here)."""
    from benchmarks.report.answer import BEGIN, END, answer_section
    from benchmarks.report.reference import reference_runs

    text = (ROOT / "README.md").read_text()
    block = text.split(BEGIN)[1].split(END)[0].strip("\n").splitlines()
    first = next(line for line in text.splitlines() if line.startswith("## "))
    assert block[0] == first and first.startswith("## The answer")
    body = [line for line in block[1:] if line.strip()]
    assert len(body) <= 9 and sum(line.startswith("![") for line in body) == 1  # 8 lines and the plot
    monkeypatch.chdir(ROOT)  # the sources are named as `nox -s report` names them, from the checkout
    written = answer_section(reference_runs(Path("results")), tmp_path / "answer.png", Path("results/plots"))
    assert block == "\n".join(written).strip("\n").splitlines(), "README.md is stale: run `nox -s report`"
    assert (tmp_path / "answer.png").stat().st_size > 10_000
