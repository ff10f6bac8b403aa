"""The front door. `nox -s tests` proves the twins equal; `nox -s bench` then `nox -s report` measure them."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"  # the venv holds a ~5 GB torch: reuse it, `nox -s tests --reuse-venv=no` to rebuild
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """Parity, feature and bad-input tests, plus every benchmark once in smoke mode."""
    session.install("-e", ".[test,bench]")
    session.run("pytest", "--benchmark-disable", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
