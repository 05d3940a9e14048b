"""Options and helpers shared by the subcommands: warehouse, output format, Ray connection, config loading."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rayab.errors import NotFoundError, ValidationError
from rayab.model import Config
from rayab.report.formatting import format_number, format_pct, jsonable, render_table, to_json

if TYPE_CHECKING:
    from rayab.query.results import MetricResult

__all__ = [
    "CONFIG_SUFFIXES",
    "add_common",
    "add_ray_options",
    "config_path",
    "csv_rows",
    "format_pvalue",
    "load_cli_config",
    "primary_first",
    "print_records",
    "print_results",
    "record_dicts",
    "results_notes",
    "results_table",
]


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
        return load_config(config_path(args.config))
    return load_saved_config(Warehouse.from_url(args.warehouse))


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def config_path(value: str) -> Path:
    """The ``--config`` file: it must exist and end in ``.yaml``, ``.yml`` or ``.json`` (never read as text).

    >>> config_path("experiments.txt")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: --config == 'experiments.txt': must be a .yaml, .yml or .json file
    """
    path = Path(value)
    if path.suffix not in CONFIG_SUFFIXES:
        raise ValidationError("--config", value, "must be a .yaml, .yml or .json file")
    if not path.is_file():
        raise NotFoundError(f"--config {value!r}: no such file")
    return path


def format_pvalue(value: float, is_bound: bool = False) -> str:
    """A p-value; one at the bootstrap's floor is shown as the bound it is, rounded up (``< 0.001``).

    >>> format_pvalue(2 / 2001, True), format_pvalue(2 / 201, True), format_pvalue(0.0423), format_pvalue(float("nan"))
    ('< 0.001', '< 0.01', '0.0423', '-')
    """
    if not is_bound or not math.isfinite(value) or value <= 0:
        return format_number(value, 3)
    exponent = math.floor(math.log10(value))
    bound = math.ceil(value / 10**exponent * (1 - 1e-12)) * 10**exponent
    return f"< {round(bound, 12):g}" if bound < 1 else "< 1"


def primary_first(results: Sequence[MetricResult]) -> list[MetricResult]:
    """Each experiment's rows with its primary KPI's first, experiments and the other rows in their order."""
    experiments = list(dict.fromkeys(r.exp_id for r in results))
    return sorted(results, key=lambda r: (experiments.index(r.exp_id), not r.primary_kpi))


def _significant(r: MetricResult) -> bool:
    p = r.adjusted_pvalue if r.correction else r.pvalue
    return math.isfinite(p) and p < 1.0 - r.confidence_level


def results_notes(results: Sequence[MetricResult], across_slices: bool = False) -> list[str]:
    """The lines under a results table: primary KPI, what ``*`` means, totals and p-value bounds."""
    if not results:
        return []
    compared = [r for r in results if r.variant_id != r.control_id]
    alpha = f"{1.0 - results[0].confidence_level:.0%}"
    notes = []
    primary = sorted({f"{r.exp_id}: {r.metric}" for r in results if r.primary_kpi})
    if primary:
        notes.append(f"primary KPI ({'; '.join(primary)}) first, marked [primary]")
    if compared:
        kind = "always-valid " if results[0].interval == "sequential" else ""
        if results[0].correction:
            notes.append(f"* significant at {alpha}: {kind}p-value after {results[0].correction} correction < "
                         f"{alpha} (family: metrics x variants "
                         f"{'over all slices' if across_slices else 'per slice'}; column 'adj. p')")
        else:
            notes.append(f"* significant at {alpha}: {kind}p-value < {alpha} with no multiple-testing correction "
                         "(--correction holm adds one)")
    totals = sorted({r.metric for r in compared if r.contrast == "traffic_share"})
    if totals:
        notes.append(f"{', '.join(totals)}: totals, compared per traffic share (variant x control % / variant %: "
                     "observed vs expected, as in SRM), not effects")
    if any(math.isfinite(r.chance_to_beat_control) for r in compared):
        notes.append(f"P(beat): chance to beat control ({compared[0].bayesian} posterior, flat prior); "
                     "--format json adds the risk of shipping each arm and the credible interval of rel_diff")
    if any(r.pvalue_is_bound for r in compared):
        notes.append("'< x': the bootstrap p-value is at its floor 2 / (B + 1), the true one is smaller; "
                     "'normal p' is the normal-method p-value")
    return notes


def results_table(results: Sequence[MetricResult], across_slices: bool = False) -> str:
    """Results as an aligned text table (primary KPI first, ``*`` for significant), with notes under it."""
    rows = []
    corrected = bool(results and results[0].correction)
    for r in primary_first(results):
        control = r.variant_id == r.control_id
        row = [r.exp_id, r.metric + (" [primary]" if r.primary_kpi else ""), r.variant_id,
               ",".join(f"{k}={v}" for k, v in r.slice) or "all", r.units, format_number(r.estimate),
               f"[{format_number(r.ci_lower)}, {format_number(r.ci_upper)}]",
               format_pct(r.rel_diff), f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]",
               format_pvalue(r.pvalue, r.pvalue_is_bound), format_number(r.normal_pvalue, 3),
               format_pct(r.chance_to_beat_control, signed=False)]
        if corrected:
            row.append(format_number(r.adjusted_pvalue, 3))
        row.append("" if control else "*" if _significant(r) else "")
        rows.append(row)
    level = f"{results[0].confidence_level:.0%}" if results else "95%"
    headers = ["experiment", "metric", "variant", "slice", "units", "estimate", f"{level} CI", "lift",
               f"lift {level} CI", "p-value", "normal p", "P(beat)", *(["adj. p"] if corrected else []), "sig"]
    notes = results_notes(results, across_slices)
    return render_table(headers, rows) + ("\n\n" + "\n".join(notes) if notes else "")


def record_dicts(records: Sequence[Any]) -> list[dict[str, Any]]:
    """NamedTuple records as JSON-ready dicts: ``slice`` as an object ``{dimension: value}``, NaN as None.

    >>> from rayab.query.cuped import PrePeriodResult
    >>> r = PrePeriodResult("e", "clicks", "b", (("country", "US"),), 1.0, 1.1, 0.1, 0.1, float("nan"), 0.2, 0.5, "")
    >>> record_dicts([r])[0]["slice"], record_dicts([r])[0]["rel_ci_lower"]
    ({'country': 'US'}, None)
    """
    out = []
    for r in records:
        row = r._asdict()
        if "slice" in row:
            row["slice"] = dict(row["slice"])
        out.append(jsonable(row))
    return out


def csv_rows(records: Sequence[Any], fields: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: ``slice`` becomes one column per dimension (empty for the total), NaN an empty cell.

    A dimension whose name is also a field's is prefixed ``slice_``.

    >>> from rayab.query.cuped import PrePeriodResult
    >>> r = PrePeriodResult("e", "clicks", "b", (("country", "US"),), 1.0, 1.1, 0.1, 0.1, float("nan"), 0.2, 0.5, "")
    >>> header, rows = csv_rows([r], PrePeriodResult._fields)
    >>> header[:5], rows[0][:5], rows[0][8]
    (['exp_id', 'metric', 'variant_id', 'country', 'control_mean'], ['e', 'clicks', 'b', 'US', 1.0], '')
    """
    dims: list[str] = []
    if "slice" in fields:
        for r in records:
            dims += [d for d, _ in r.slice if d not in dims]
    names = {d: f"slice_{d}" if d in fields else d for d in dims}
    header: list[str] = []
    for f in fields:
        header += [names[d] for d in dims] if f == "slice" else [f]
    rows = []
    for r in records:
        row: list[Any] = []
        for f, v in zip(fields, r, strict=True):
            if f == "slice":
                values = dict(v)
                row += [values.get(d, "") for d in dims]
            else:
                value = jsonable(v)
                row.append("" if value is None else json.dumps(value) if isinstance(value, (list, dict)) else value)
        rows.append(row)
    return header, rows


def print_records(records: Sequence[Any], fields: Sequence[str], table: str, fmt: str) -> None:
    """Print NamedTuple ``records`` as strict JSON, CSV (one column per slice dimension) or the given table.

    JSON: a list of objects, one per record, keys the record's fields, ``slice`` an object, missing numbers null.
    CSV: header row of the fields with ``slice`` replaced by one column per dimension, missing numbers empty.
    """
    if fmt == "json":
        print(to_json(record_dicts(records)))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header, rows = csv_rows(records, fields)
        writer.writerow(header)
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        print(table)


def print_results(results: Sequence[MetricResult], fmt: str, across_slices: bool = False) -> None:
    """Print results as a table, JSON or CSV."""
    table = results_table(results, across_slices) if fmt == "table" else ""
    from rayab.query.compare import MetricResult  # the record type, loaded with the results themselves

    print_records(results, MetricResult._fields, table, fmt)
