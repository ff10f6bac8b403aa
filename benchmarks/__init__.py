"""The instruments that measure what Lightning costs, one subpackage each, beside the pytest-benchmark cases.

clock/ (the step clock: `nox -s bench`, `bench_gpu`, `resolve`), instructions/ (`nox -s instructions`),
ddp/ (`nox -s bench_ddp`), report/ (`nox -s report`); store/ saves and finds their runs. The case files
(`bench_*.py`, `cases.py`, `conftest.py`) stay here, where pytest collects them.
"""
