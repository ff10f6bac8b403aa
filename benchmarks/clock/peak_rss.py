"""Peak resident memory of `python -m MODULE ARGS...`, measured like /usr/bin/time does, printed in MiB.

    python -m benchmarks.clock.peak_rss raw_torch.minimal --epochs 1 ...

Why this little relay: Linux carries a process's high-water RSS across exec, and Python starts a
subprocess by vfork, so a command launched straight from a pytest process that holds torch (~1 GB)
would report the parent's peak, not its own. This relay is small (stdlib only), launches the command,
and reads the command's own ru_maxrss from os.wait4. The last stderr line is `peak_rss_mib N`.
"""

from __future__ import annotations

import os
import subprocess
import sys

if __name__ == "__main__":
    proc = subprocess.Popen([sys.executable, "-m", *sys.argv[1:]], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    print(f"peak_rss_mib {usage.ru_maxrss * scale / 2**20:.1f}", file=sys.stderr)
    sys.exit(code)
