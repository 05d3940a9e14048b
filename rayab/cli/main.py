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

__all__ = ["COMMANDS", "COMMAND_MODULES", "build_parser", "main"]

# Every subcommand: its module (with a ``register(subparsers)`` function) and its one-line help, in the order
# ``rayab --help`` lists them. Only the module of the command being run is imported, so ``rayab --help`` and light
# commands start fast; tests/cli/test_cli_startup.py checks that each module registers the name and help given here.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("rayab.cli.demo", "simulate a day for two experiments, run the hourly jobs, print results"),
    "run-hour": ("rayab.cli.run_hour", "aggregate one hour of raw logs and commit it"),
    "backfill": ("rayab.cli.backfill", "re-run the hours of a range whose inputs changed (or all, --force)"),
    "kpi-outcome": ("rayab.cli.kpi_outcome", "build the kpi_outcome table for one day"),
    "covariates": ("rayab.cli.covariates", "per-unit CUPED covariates from pre-period kpi_outcome rows, or "
                   "`covariates load FILE` from a file of one value per unit"),
    "assignments": ("rayab.cli.assignments", "first assignments made elsewhere"),
    "results": ("rayab.cli.results", "estimates, lifts and confidence intervals over a window of hours"),
    "sql": ("rayab.cli.sql", "print (or run) the SQL of a results query, for DuckDB or Trino / Athena"),
    "sql-file": ("rayab.cli.sql_file", "run an SQL file against the warehouse's tables (DuckDB, in process)"),
    "health": ("rayab.cli.health", "SRM, assignment rate, data quality and guardrail checks"),
    "maintain": ("rayab.cli.maintain", "checkpoint, compact and vacuum the warehouse's Delta tables "
                 "(idempotent, safe from cron)"),
    "cap": ("rayab.cli.cap", "derive a frozen cap (a quantile of unit-hour totals of past logs) for a capped metric"),
    "power": ("rayab.cli.power", "sample size, duration and MDE from past data"),
    "report": ("rayab.cli.report", "a self-contained HTML report with charts"),
    "serve": ("rayab.cli.serve", "serve Assign/BatchAssign and the admin API over gRPC"),
    "experiments": ("rayab.cli.experiments",
                    "create, list, get, update, ship or archive experiments, or show their history"),
    "console": ("rayab.cli.console", "the web console: catalogue, experiment pages, explore, operate"),
}
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word that is one), or None."""
    return next((word for word in argv if word in COMMANDS), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: the command named in ``argv`` fully registered, every other one by name and help only
    (``argv=None``: every command fully registered)."""
    parser = argparse.ArgumentParser(prog="rayab", description="A/B testing on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = _chosen(argv) if argv is not None else None
    for name, (module, help_text) in COMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=help_text or None)
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
    if isinstance(err, ImportError):
        from rayab.cli.extras import missing_extra_line

        if (line := missing_extra_line(err)) is not None:
            return 1, line
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
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(words).parse_args(words)
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
