"""The README's cheap commands, run as written.

A shell block marked `<!-- tested -->` on the line before its fence runs here, line by line, in an empty
working directory (so `runs/...` lands in a temporary folder), with this interpreter first on PATH as `python`.
A line ending in `# exit N` must exit N; every other line must exit 0. A ```text block right after it holds
lines that must appear in what the commands printed. Long runs, measured numbers and commands that need the
network are not marked. The whole file stays under 20 s here.
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
        assert lines[i + 1].startswith("```bash"), f"README.md:{i + 1}: {MARK} must sit right above a ```bash block"
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


BLOCKS = marked_blocks((ROOT / "README.md").read_text())


def test_the_readme_marks_its_cheap_blocks():
    assert len(BLOCKS) >= 1
    assert sum(len(commands) for _, commands, _ in BLOCKS) >= 5 and all(expected for _, _, expected in BLOCKS)


@pytest.mark.parametrize("line, commands, expected", BLOCKS, ids=[f"README.md:{b[0]}" for b in BLOCKS])
def test_readme_block_runs_as_written(tmp_path, line, commands, expected):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTEST_XDIST_WORKER", None)
    printed = []
    for command in commands:
        want = int(m.group(1)) if (m := re.search(r"#\s*exit (\d+)\s*$", command)) else 0
        proc = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == want, f"README.md:{line}: {command}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        printed.append(proc.stdout + proc.stderr)
    missing = [e for e in expected if e not in "".join(printed)]
    assert missing == [], f"README.md:{line}: not printed: {missing}"
