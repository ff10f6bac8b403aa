"""`python -m benchmarks.report`: see build.py beside this file."""

import sys

from benchmarks.report import main
from raw_torch.common.cli import main_guard

sys.exit(main_guard("benchmarks.report", main, kept="every file it replaced is whole"))
