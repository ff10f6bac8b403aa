"""`python -m benchmarks.instructions`: see session.py beside this file."""

import sys

from benchmarks.instructions import main
from raw_torch.common.cli import main_guard

sys.exit(main_guard("benchmarks.instructions", main, kept="nothing saved (a run is saved whole when it ends)"))
