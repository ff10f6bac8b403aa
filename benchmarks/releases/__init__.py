"""Lightning across its releases: the same pair on every minor release from 2.0 to 2.6 (and the note's 1.9), with
torch, the raw twin and the floor fixed. Per release: parity of both workloads (32-true, bf16-mixed), Lightning's
instructions per step by part, and on the first and last release the feature ladder. `nox -s releases`
(~23 min here; `-- --smoke`: two releases, short windows, ~4.5 min). Each release is installed into a folder of
its own and put first on PYTHONPATH for the processes that measure it: the session's venv itself is never changed."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.releases`'s entry point (session.main), imported only when called."""
    from benchmarks.releases.session import main as run

    return run(argv)
