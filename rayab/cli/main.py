"""The ``rayab`` command: every subcommand lives in its own module with a ``register(subparsers)`` function.

Exit codes: 0 success, 1 a check failed (e.g. the demo's planted effect missed), 2 bad input (the message names
the field), 3 not found, 4 storage or input-data failure, 5 an hour without input (no file or no row at the
``--logs`` path; nothing committed).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from rayab.errors import InputDataError, MissingInputError, NotFoundError, RayabError, StorageError, ValidationError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# One module per subcommand, in the order `rayab --help` lists them.
COMMAND_MODULES = (
    "rayab.cli.demo",
    "rayab.cli.run_hour", "rayab.cli.backfill", "rayab.cli.kpi_outcome", "rayab.cli.covariates",
    "rayab.cli.assignments",
    "rayab.cli.results",
    "rayab.cli.sql", "rayab.cli.sql_file",
    "rayab.cli.health", "rayab.cli.maintain",
    "rayab.cli.power",
    "rayab.cli.report",
    "rayab.cli.serve", "rayab.cli.experiments",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="rayab", description="A/B testing on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _one_line(err: BaseException) -> str:
    """The error's message on one line (a multi-line message keeps its first line)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _exit_code(err: BaseException) -> tuple[int, str]:
    """The documented exit code of an error and the one line that says what went wrong."""
    if isinstance(err, ValidationError):
        return 2, f"invalid input: {_one_line(err)}"
    if isinstance(err, NotFoundError):
        return 3, f"not found: {_one_line(err)}"
    if isinstance(err, MissingInputError):
        return 5, f"no input: {_one_line(err)}"
    if isinstance(err, (StorageError, InputDataError)):
        return 4, _one_line(err)
    if isinstance(err, RayabError):
        return 1, _one_line(err)
    if isinstance(err, FileNotFoundError):
        return 3, f"not found: {err.filename or _one_line(err)}"
    if isinstance(err, (PermissionError, IsADirectoryError, NotADirectoryError)):
        return 4, f"cannot use {err.filename or ''}: {err.strerror or _one_line(err)}".replace(" :", ":")
    if isinstance(err, OSError):
        return 4, f"storage or input failure: {_one_line(err)}"
    return 1, f"internal error ({type(err).__name__}): {_one_line(err)}; set RAYAB_DEBUG=1 for the traceback"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Every error ends in its exit code and one line on standard error, never a traceback (``RAYAB_DEBUG=1``
    re-raises errors that are not rayab's own, to debug them).
    """
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("rayab: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the one place that turns errors into exit codes
        if os.environ.get("RAYAB_DEBUG") and not isinstance(err, RayabError):
            raise
        code, line = _exit_code(err)
        print(f"rayab: {line}", file=sys.stderr)
        return code
    return code


if __name__ == "__main__":
    sys.exit(main())
