"""`python -m benchmarks.probe`: see session.py beside this file."""

import sys

from benchmarks.probe import main
from raw_torch.common.cli import main_guard

sys.exit(main_guard("benchmarks.probe", main, kept="--out holds whole files or none"))
