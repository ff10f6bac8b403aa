"""`python -m benchmarks.store`: see save.py beside this file."""

import sys

from benchmarks.store import main
from raw_torch.common.cli import main_guard

sys.exit(main_guard("benchmarks.store", main, kept="every run already filed is whole"))
