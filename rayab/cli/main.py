"""The ``rayab`` command: every subcommand lives in its own module with a ``register(subparsers)`` function.

Exit codes: 0 success, 1 a check failed (e.g. the demo's planted effect missed), 2 bad input (the message names
the field), 3 not found, 4 storage or input-data failure, 5 an hour without input (no file or no row at the
``--logs`` path; nothing committed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rayab.errors import InputDataError, MissingInputError, NotFoundError, RayabError, StorageError, ValidationError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# One module per subcommand, in the order `rayab --help` lists them.
COMMAND_MODULES = (
    "rayab.cli.demo",
    "rayab.cli.run_hour", "rayab.cli.backfill", "rayab.cli.kpi_outcome", "rayab.cli.covariates",
    "rayab.cli.results",
    "rayab.cli.sql", "rayab.cli.sql_file",
    "rayab.cli.health",
    "rayab.cli.power",
    "rayab.cli.report",
    "rayab.cli.serve", "rayab.cli.experiments",
    "rayab.cli.console",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="rayab", description="A/B testing on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ValidationError as err:
        print(f"rayab: invalid input: {err}", file=sys.stderr)
        return 2
    except NotFoundError as err:
        print(f"rayab: not found: {err}", file=sys.stderr)
        return 3
    except MissingInputError as err:
        print(f"rayab: no input: {err}", file=sys.stderr)
        return 5
    except (StorageError, InputDataError) as err:
        print(f"rayab: {err}", file=sys.stderr)
        return 4
    except RayabError as err:
        print(f"rayab: {err}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
