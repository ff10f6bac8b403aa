"""File a finished pytest-benchmark run under results/, as nox -s bench, bench_gpu and resolve do.

After pytest wrote its `--benchmark-json`:

    python -m benchmarks.store save RUN.json --as NAME [--device cpu|cuda] [--results results]

The same bytes land as results/<machine>/<interpreter id>/NNNN_NAME.json with the next free number, written
whole or not at all; a run whose pytest session did not finish (Ctrl-C, -x) is refused, and no earlier run
is ever overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.store.runs import NotARun, save_pytest_run
from raw_torch.common.cli import Parser
from raw_torch.common.errors import UsageError


def build_parser() -> Parser:
    ap = Parser(prog="python -m benchmarks.store", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", parser_class=Parser, required=True)
    s = sub.add_parser("save", help="file a finished pytest-benchmark JSON under the next number")
    s.add_argument("run", type=Path, help="pytest's --benchmark-json output")
    s.add_argument("--as", dest="name", required=True, help="the saved name: NNNN_NAME.json (bench, resolve)")
    s.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="the machine folder (default cpu)")
    s.add_argument("--results", type=Path, default=Path("results"), metavar="DIR", help="default results/")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.name):
        raise UsageError(f"--as {args.name}: letters, digits, - and _ only")
    if not args.run.is_file():
        raise UsageError(f"{args.run}: no such file")
    if args.results.exists() and not args.results.is_dir():
        raise UsageError(f"--results {args.results}: is a file, not a folder")
    try:
        target = save_pytest_run(args.run, args.results, args.name, args.device)
    except NotARun as e:
        raise UsageError(f"{args.run}: not saved: {e}; earlier runs are untouched") from None
    print(f"saved {target}")
    return 0
