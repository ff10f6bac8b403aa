"""The three ways a command stops early, each with its own exit code (see `cli.main_guard`)."""

from __future__ import annotations

import signal


class UsageError(ValueError):
    """A bad flag or an impossible request: reported as one line, exit code 2."""


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or inf: reported as one line naming the step, exit code 1."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM turned into an exception, like SIGINT's KeyboardInterrupt, so `finally` blocks run and no
    half-written file is left behind (the default SIGTERM action kills the process where it stands)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
