"""The ``rayab`` command.

Exit codes: 0 success, 1 a check failed (e.g. the demo's planted effect missed), 2 bad input (the message names
the field), 3 not found, 4 storage or input-data failure.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence

from rayab.cli.render import format_number, format_pct, render_table
from rayab.errors import InputDataError, NotFoundError, RayabError, StorageError, ValidationError
from rayab.query.results import MetricResult

__all__ = ["main"]


def results_table(results: Sequence[MetricResult]) -> str:
    """Results as an aligned text table."""
    rows = []
    for r in results:
        level = f"{r.confidence_level:.0%}"
        rows.append([r.exp_id, r.metric, r.variant_id, ",".join(f"{k}={v}" for k, v in r.slice) or "all",
                     r.units, format_number(r.estimate),
                     f"[{format_number(r.ci_lower)}, {format_number(r.ci_upper)}]",
                     format_pct(r.rel_diff), f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]",
                     format_number(r.pvalue, 3)])
    level = f"{results[0].confidence_level:.0%}" if results else "95%"
    return render_table(["experiment", "metric", "variant", "slice", "units", "estimate", f"{level} CI",
                         "lift", f"lift {level} CI", "p-value"], rows)


def _print_results(results: Sequence[MetricResult], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([r._asdict() for r in results], indent=1, default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(MetricResult._fields)
        writer.writerows([[json.dumps(v) if isinstance(v, tuple) else v for v in r] for r in results])
        print(buffer.getvalue(), end="")
    else:
        print(results_table(results))


def _cmd_demo(args: argparse.Namespace) -> int:
    from rayab.cli.demo import run_demo

    outcome = run_demo(units=args.units, hours=args.hours, warehouse_url=args.warehouse, logs=args.logs,
                       n_shards=args.shards, seed=args.seed, num_cpus=args.num_cpus, address=args.address)
    _print_results(outcome.results, args.format)
    if args.format == "table":
        print(f"\nplanted CTR lift {outcome.planted_lift:+.1%} inside its CI: "
              f"{'yes' if outcome.planted_inside_ci else 'NO'}; "
              f"A/A lift CI contains 0: {'yes' if outcome.aa_contains_zero else 'NO'}; "
              f"{outcome.seconds:.0f} s in all")
    return 0 if outcome.planted_inside_ci and outcome.aa_contains_zero else 1


def _load_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from rayab.model import load_config
    from rayab.storage.specs import load_saved_config
    from rayab.storage.warehouse import Warehouse

    if args.config:
        return load_config(args.config)
    return load_saved_config(Warehouse.from_url(args.warehouse))


def _cmd_run_hour(args: argparse.Namespace) -> int:
    from rayab.pipeline.job import run_hour
    from rayab.pipeline.runtime import ray_session
    from rayab.storage.warehouse import Warehouse

    config = _load_config(args)
    with ray_session(args.address, args.num_cpus):
        summaries = run_hour(config, args.hour, args.logs, Warehouse.from_url(args.warehouse),
                             analysis_types=args.analysis_type or None, n_shards=args.shards,
                             skip_corrupt=args.skip_corrupt)
    for summary in summaries:
        print(summary.line())
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from rayab.query.results import experiment_results
    from rayab.storage.warehouse import Warehouse

    config = _load_config(args)
    exp = config.experiment(args.exp)
    analysis_type = (config.analysis_type(args.analysis_type) if args.analysis_type
                     else config.analysis_types_of(exp.exp_id)[0])
    results = experiment_results(Warehouse.from_url(args.warehouse), analysis_type, exp, args.start, args.end,
                                 metrics=args.metric or None, projection=args.by or (),
                                 confidence_level=args.confidence_level, method=args.ci_method)
    _print_results(results, args.format)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="rayab", description="A/B testing on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--warehouse", default=None, help="warehouse folder or s3:// URL (default ./rayab-warehouse)")
        p.add_argument("--format", choices=["table", "json", "csv"], default="table")

    def ray_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
        p.add_argument("--num-cpus", type=int, default=2, help="CPUs of a local Ray (default 2)")
        p.add_argument("--shards", type=int, default=2, help="number of shard tasks S (default 2)")

    demo = sub.add_parser("demo", help="simulate a day for two experiments, run the hourly jobs, print results")
    common(demo)
    ray_options(demo)
    demo.add_argument("--units", type=int, default=200_000)
    demo.add_argument("--hours", type=int, default=24)
    demo.add_argument("--logs", default="./rayab-logs", help="where the simulated raw logs go")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run-hour", help="aggregate one hour of raw logs and commit it")
    common(run)
    ray_options(run)
    run.add_argument("--hour", required=True, help="the hour, e.g. 2026-11-24T10 (UTC)")
    run.add_argument("--logs", required=True, help="root of the raw logs (…/date=YYYY-MM-DD/hour=HH/*.parquet)")
    run.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    run.add_argument("--analysis-type", action="append", help="only this analysis type (repeatable)")
    run.add_argument("--skip-corrupt", action="store_true", help="record unreadable files instead of failing")
    run.set_defaults(func=_cmd_run_hour)

    res = sub.add_parser("results", help="estimates, lifts and confidence intervals over a window of hours")
    common(res)
    res.add_argument("--exp", required=True)
    res.add_argument("--start", required=True, help="first hour of the window, e.g. 2026-11-23T00")
    res.add_argument("--end", required=True, help="hour after the last one (the window is [start, end))")
    res.add_argument("--metric", action="append", help="metric name (repeatable; default: all)")
    res.add_argument("--by", action="append", help="projection dimension (repeatable)")
    res.add_argument("--analysis-type", default=None)
    res.add_argument("--config", default=None)
    res.add_argument("--confidence-level", type=float, default=0.95)
    res.add_argument("--ci-method", choices=["percentile", "basic", "normal"], default="percentile")
    res.set_defaults(func=_cmd_results)
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
    except (StorageError, InputDataError) as err:
        print(f"rayab: {err}", file=sys.stderr)
        return 4
    except RayabError as err:
        print(f"rayab: {err}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
