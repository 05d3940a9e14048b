"""``rayab assignments load``: first assignments made elsewhere (CSV, Parquet, JSON lines or a Delta table).

Example (an experiment randomized by another system; the earliest ``assigned_at`` per unit wins, so a second load
of the same file changes nothing)::

    rayab assignments load assignments.csv --exp ranker_v2
    rayab assignments load s3://bucket/exports/assign.parquet --exp ranker_v2 --unit-column user_id \\
        --variant-column arm --variant-map 0=control,1=treatment --cluster-column household_id
    rayab assignments load export/2026-11-24.gz --input-format jsonl --exp checkout_v2 \
        --where 'event=Experiment Viewed' --where properties.experiment_id=checkout_v2 \
        --unit-column userId,anonymousId --variant-column properties.variation_id --time-column timestamp \
        --variant-map 0=control,1=treatment --keep-columns none

The column options take fields as an event source's ``columns`` do: a name or a dotted path into nested objects
(``properties.variation_id`` of a Segment "Experiment Viewed" track event, gzip JSON lines); the unit may list
fields, the first not empty wins (``userId,anonymousId``). ``--where FIELD=VALUE`` (repeatable, the same field
twice: either value) keeps the matching rows; the others are counted as filtered, not quarantined.

The summary gives the rows read, loaded, made earlier, quarantined (with reasons; the rows are kept in the
``_load_quarantine`` table), the units per variant in the file and in the table, and the sample-ratio test of the
table. With ``--cluster-column`` (or the experiment's ``cluster_column``) it also says whether the variant is
constant within that coarser id, i.e. whether clusters rather than units were randomized.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from rayab.cli.options import add_common, load_cli_config

__all__ = ["parse_keep", "parse_variant_map", "parse_where", "register"]


def parse_variant_map(text: str | None) -> dict[str, str]:
    """``"0=control,1=treatment"`` as a mapping.

    >>> parse_variant_map("0=control, 1=treatment")
    {'0': 'control', '1': 'treatment'}
    """
    from rayab.errors import ValidationError

    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValidationError("--variant-map", part.strip()[:64], "must be FILE_VALUE=VARIANT_ID pairs, "
                                  "e.g. 0=control,1=treatment")
        out[key.strip()] = value.strip()
    return out


def parse_where(items: list[str] | None) -> dict[str, tuple[str, ...]]:
    """``--where`` items ``FIELD=VALUE`` as a mapping of each field to its values.

    >>> parse_where(["event=Experiment Viewed", "properties.experiment_id=a", "properties.experiment_id=b"])
    {'event': ('Experiment Viewed',), 'properties.experiment_id': ('a', 'b')}
    """
    from rayab.errors import ValidationError
    from rayab.model.source import check_field

    out: dict[str, tuple[str, ...]] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValidationError("--where", item[:64], "must be FIELD=VALUE, e.g. 'event=Experiment Viewed'")
        check_field("--where", name.strip())  # the same field rules as a source's where
        out[name.strip()] = (*out.get(name.strip(), ()), value)
    return out


def parse_keep(text: str | None) -> tuple[str, ...] | None:
    """``--keep-columns``: ``None`` (every plain column), ``()`` for ``none``, else the names.

    >>> parse_keep(None), parse_keep("none"), parse_keep("country, household_id")
    (None, (), ('country', 'household_id'))
    """
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _load(args: argparse.Namespace) -> int:
    from rayab.aggregate.assignment_file import AssignmentColumns, first_assignments_from
    from rayab.guardrails.clustering import cluster_check, config_cluster_warnings
    from rayab.guardrails.sample_ratio import srm_check
    from rayab.storage.assignments import load_first_assignments, read_assignments
    from rayab.storage.external import read_external
    from rayab.storage.loads import replace_load_quarantine
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    exp = config.experiment(args.exp)
    warehouse = Warehouse.from_url(args.warehouse)
    columns = AssignmentColumns(args.unit_column, args.variant_column, args.time_column,
                                parse_variant_map(args.variant_map), parse_where(args.where),
                                parse_keep(args.keep_columns))
    source = read_external(args.source, dict(warehouse.storage_options) or None, args.input_format)
    loaded = first_assignments_from(source.table, exp, args.source, columns)
    cluster = args.cluster_column or exp.cluster_column
    if cluster and cluster not in loaded.extra_columns:
        from rayab.errors import ValidationError

        raise ValidationError("--cluster-column", cluster, f"is not a column kept from {args.source} (kept: "
                              f"{', '.join(loaded.extra_columns) or 'none'})")
    counts = load_first_assignments(warehouse, loaded.rows)
    replace_load_quarantine(warehouse, exp.exp_id, "assignments", args.source, loaded.quarantined)
    (srm, *_) = srm_check(warehouse, exp)
    in_file = Counter(loaded.rows.column("variant_id").to_pylist())
    warnings = config_cluster_warnings(exp, config.analysis_types_of(exp.exp_id))
    check = None
    if cluster:
        table = read_assignments(warehouse, exp.exp_id, ["variant_id", cluster])
        check = cluster_check(table, cluster, {v.variant_id: v.traffic_pct for v in exp.variants})
        if check.clustered:
            warnings.append(check.message())
    summary: dict[str, Any] = {
        "exp_id": exp.exp_id, "source": args.source, "format": source.format, "source_version": source.version,
        "rows_read": loaded.rows_read, "rows_filtered": loaded.rows_filtered, "units_loaded": loaded.rows.num_rows,
        "inserted": counts.inserted,
        "made_earlier": counts.made_earlier, "unchanged": counts.unchanged, "table_version": counts.version,
        "rows_quarantined": loaded.quarantined.num_rows, "quarantine_reasons": loaded.reasons(),
        "duplicate_rows": loaded.duplicates, "units_with_several_variants": loaded.units_with_several_variants,
        "kept_columns": list(loaded.extra_columns), "skipped_columns": list(loaded.skipped_columns),
        "units_in_file": {v: int(in_file.get(v, 0)) for v in srm.variant_ids},
        "units_in_table": dict(zip(srm.variant_ids, srm.counts, strict=True)),
        "srm": {"pvalue": srm.pvalue, "mismatch": srm.mismatch, "expected": list(srm.expected),
                "error": srm.error},
        "cluster_check": None if check is None else {
            "column": check.column, "clusters": check.clusters, "multi_unit_clusters": check.multi_unit_clusters,
            "mixed_clusters": check.mixed_clusters, "expected_mixed": check.expected_mixed,
            "clustered": check.clustered, "message": check.message()},
        "warnings": warnings,
    }
    if args.format == "json":
        print(json.dumps(summary, indent=1))
    else:
        print(_text(summary, check.message() if check is not None and not check.clustered else ""))
    return 0


def _text(s: dict[str, Any], cluster_note: str) -> str:
    filtered = f" ({s['rows_filtered']} left out by --where)" if s["rows_filtered"] else ""
    lines = [f"assignments {s['exp_id']} from {s['source']} ({s['format']}): {s['rows_read']} rows read{filtered}, "
             f"{s['units_loaded']} units valid: {s['inserted']} new, {s['made_earlier']} made earlier, "
             f"{s['unchanged']} unchanged (earliest assigned_at wins); {s['rows_quarantined']} quarantined, "
             f"{s['duplicate_rows']} later duplicate rows dropped"]
    for reason, n in list(s["quarantine_reasons"].items())[:5]:
        lines.append(f"  quarantined {n}: {reason}")
    if s["units_with_several_variants"]:
        lines.append(f"  {s['units_with_several_variants']} units appear with several variants: their earliest row "
                     "is kept")
    if s["kept_columns"] or s["skipped_columns"]:
        lines.append(f"  columns kept as text: {', '.join(s['kept_columns']) or 'none'}"
                     + (f"; not kept (not plain names): {', '.join(s['skipped_columns'])}"
                        if s["skipped_columns"] else ""))
    lines.append("  variant      in file   in table")
    for variant, n in s["units_in_table"].items():
        lines.append(f"  {variant:<12} {s['units_in_file'][variant]:>7}   {n:>8}")
    srm = s["srm"]
    verdict = "MISMATCH: check the randomization and the export" if srm["mismatch"] else "no mismatch"
    lines.append(f"  SRM (table): p = {srm['pvalue']:.4g}, {verdict}" + (f" ({srm['error']})" if srm["error"] else ""))
    if cluster_note:
        lines.append(f"  {cluster_note}")
    lines += s["warnings"]
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("assignments", help="first assignments made elsewhere")
    actions = cmd.add_subparsers(dest="action", required=True)
    load = actions.add_parser("load", help="load first assignments from CSV, Parquet, JSON lines or a Delta table")
    add_common(load)
    load.add_argument("source", help="a .csv, .parquet or .jsonl file (text also .gz/.zst), or a Delta table folder")
    load.add_argument("--input-format", choices=("csv", "parquet", "jsonl"), default=None,
                      help="the format of a file whose name does not say (e.g. a Segment export's *.gz)")
    load.add_argument("--exp", required=True)
    load.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    load.add_argument("--unit-column", default="unit_id",
                      help="field of the unit id, or fields (the first not empty wins): userId,anonymousId "
                           "(default unit_id)")
    load.add_argument("--variant-column", default="variant_id",
                      help="field of the variant, e.g. properties.variation_id (default variant_id)")
    load.add_argument("--time-column", default="assigned_at",
                      help="column of the assignment time, ISO 8601; no zone means UTC (default assigned_at)")
    load.add_argument("--variant-map", default=None, help="rename variant values, e.g. 0=control,1=treatment")
    load.add_argument("--where", action="append", default=None, metavar="FIELD=VALUE",
                      help="keep only rows whose field holds the value (repeatable); the others are counted")
    load.add_argument("--keep-columns", default=None,
                      help="columns kept as assignment-time dimensions, comma-separated, or none "
                           "(default: every plain column holding scalars)")
    load.add_argument("--cluster-column", default=None,
                      help="a coarser id (e.g. household_id): warn if the variant is constant within it")
    load.set_defaults(func=_load)
