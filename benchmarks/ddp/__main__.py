"""`python -m benchmarks.ddp`: see session.py beside this file."""

import sys

from benchmarks.ddp import main
from raw_torch.common.cli import main_guard

sys.exit(main_guard("benchmarks.ddp", main, kept="nothing saved (a run is saved whole when it ends)"))
