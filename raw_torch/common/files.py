"""Write-then-rename: every file the suite keeps (checkpoints, metrics.json, benchmark JSON, REPORT.md,
plots) is either the old one or the complete new one, never half of either."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: Path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block finishes.

    An error, Ctrl-C or SIGTERM (see cli.main_guard) inside the block removes the temporary file, so
    a reader only ever sees the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Ctrl-C or SIGTERM between creating the temporary file and entering `try` would leave it behind: hold
    # both signals until the file's name is known; a signal that arrived meanwhile is raised inside `try`.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        yield Path(tmp)
        os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600; a kept file gets the mode open() would give it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_json_atomic(path: Path, obj) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
