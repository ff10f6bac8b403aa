"""Ctrl-C while a command starts: one line, not a traceback.

`python -m raw_torch.minimal` spends its first second or so importing torch (Lightning's commands about three,
importing Lightning too) before `cli.main_guard` is running. A SIGINT there would print some 30 lines of
KeyboardInterrupt traceback and kill the process by the signal. Both packages' `__init__.py` call
`quiet_start()` first: while Python imports the package of the module `-m` names (and only then: sys.argv[0]
is "-m" during that import), SIGINT and SIGTERM end the command with one line and 128 + the signal number,
before it has written anything. `main_guard` hands the signals back (`hand_over`) as soon as it runs. This
module imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
import sys

_command: str | None = None  # the module `python -m` runs, while its start-up handlers are in place


def command_name() -> str | None:
    """The module `python -m` is starting, while Python imports its package; None in any other process."""
    argv = list(getattr(sys, "orig_argv", []))
    if sys.argv[:1] != ["-m"] or "-m" not in argv[:-1]:
        return None
    return argv[argv.index("-m") + 1]


def _stop(signum, frame) -> None:
    message = f"{_command}: interrupted by {signal.Signals(signum).name} while starting; nothing was written\n"
    os.write(2, message.encode())
    os._exit(128 + signum)  # nothing to clean up yet: no file is open for writing before main_guard runs


def quiet_start() -> None:
    """In `python -m <this package>.<command>`: SIGINT and SIGTERM stop the start-up with one line."""
    global _command
    if _command is None and (name := command_name()) is not None:
        _command = name
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)


def hand_over() -> None:
    """The command runs (main_guard): SIGINT raises KeyboardInterrupt again, SIGTERM gets its default back."""
    global _command
    if _command is not None:
        _command = None
        if signal.getsignal(signal.SIGINT) is _stop:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if signal.getsignal(signal.SIGTERM) is _stop:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
