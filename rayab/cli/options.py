"""Options and helpers shared by the subcommands: warehouse, output format, Ray connection, config loading."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rayab.cli.render import format_number, format_pct, render_table
from rayab.model import Config
from rayab.query.results import MetricResult

__all__ = ["add_common", "add_ray_options", "load_cli_config", "print_records", "print_results", "results_table"]


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--warehouse`` and ``--format``."""
    parser.add_argument("--warehouse", default=None, help="warehouse folder or s3:// URL (default ./rayab-warehouse)")
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table")


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """``--address``, ``--num-cpus`` and ``--shards``."""
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of a local Ray (default 2)")
    parser.add_argument("--shards", type=int, default=2, help="number of shard tasks S (default 2)")


def load_cli_config(args: argparse.Namespace) -> Config:
    """The config from ``--config`` if given, else the one saved in the warehouse."""
    from rayab.model import load_config
    from rayab.storage.specs import load_saved_config
    from rayab.storage.warehouse import Warehouse

    if getattr(args, "config", None):
        return load_config(args.config)
    return load_saved_config(Warehouse.from_url(args.warehouse))


def results_table(results: Sequence[MetricResult]) -> str:
    """Results as an aligned text table."""
    rows = []
    for r in results:
        rows.append([r.exp_id, r.metric, r.variant_id, ",".join(f"{k}={v}" for k, v in r.slice) or "all",
                     r.units, format_number(r.estimate),
                     f"[{format_number(r.ci_lower)}, {format_number(r.ci_upper)}]",
                     format_pct(r.rel_diff), f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]",
                     format_number(r.pvalue, 3)])
    level = f"{results[0].confidence_level:.0%}" if results else "95%"
    return render_table(["experiment", "metric", "variant", "slice", "units", "estimate", f"{level} CI",
                         "lift", f"lift {level} CI", "p-value"], rows)


def print_records(records: Sequence[Any], fields: Sequence[str], table: str, fmt: str) -> None:
    """Print NamedTuple ``records`` as JSON, CSV (``fields`` as header, tuples JSON-encoded) or the given table."""
    if fmt == "json":
        print(json.dumps([r._asdict() for r in records], indent=1, default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(fields)
        writer.writerows([[json.dumps(v) if isinstance(v, tuple) else v for v in r] for r in records])
        print(buffer.getvalue(), end="")
    else:
        print(table)


def print_results(results: Sequence[MetricResult], fmt: str) -> None:
    """Print results as a table, JSON or CSV."""
    print_records(results, MetricResult._fields, results_table(results) if fmt == "table" else "", fmt)
