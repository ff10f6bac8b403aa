"""`python -m benchmarks.releases`: see session.py beside this file."""

import sys

from benchmarks.releases import main
from raw_torch.common.cli import main_guard

sys.exit(main_guard("benchmarks.releases", main, kept="nothing saved, and the venv holds what it held before"))
