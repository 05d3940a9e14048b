"""Arrow schemas of the warehouse tables (DESIGN section 3) and their partition columns.

>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("engagement", (Metric("clicks"),), dimensions=("country",), n_replicates=4)
>>> agg_schema(at).names
['exp_id', 'hour', 'variant_id', 'country', 'n_events', 'units', 'units_reps', 'clicks', 'clicks_reps']
"""

from __future__ import annotations

import pyarrow as pa

from rayab.model import UNITS_METRIC, AnalysisType

__all__ = [
    "ASSIGNMENT",
    "EXPERIMENT",
    "KPI_OUTCOME",
    "MANIFEST",
    "NULL_DIMENSION",
    "PARTITIONS",
    "QUARANTINE",
    "REPS_TYPE",
    "VARIANT",
    "agg_schema",
    "reps_column",
    "sketch_schema",
    "sketch_table",
]

# A dimension value that was null in the input; kept as a value so no event is dropped from a slice.
NULL_DIMENSION = "(none)"

EXPERIMENT = pa.schema([
    ("exp_id", pa.string()), ("name", pa.string()), ("start_time", pa.timestamp("us", tz="UTC")),
    ("end_time", pa.timestamp("us", tz="UTC")), ("unit", pa.string()), ("primary_kpi", pa.string()),
    ("status", pa.string()), ("layer", pa.string()), ("version", pa.int64()), ("spec", pa.string()),
])
VARIANT = pa.schema([
    ("exp_id", pa.string()), ("variant_id", pa.string()), ("traffic_pct", pa.float64()),
    ("parameters", pa.string()), ("version", pa.int64()),
])
ASSIGNMENT = pa.schema([
    ("exp_id", pa.string()), ("date", pa.string()), ("unit_id", pa.string()), ("variant_id", pa.string()),
    ("assigned_at", pa.timestamp("us", tz="UTC")),
])
KPI_OUTCOME = pa.schema([
    ("metric_date", pa.string()), ("exp_id", pa.string()), ("unit_id", pa.string()), ("kpi_name", pa.string()),
    ("kpi_value", pa.float64()),
])
MANIFEST = pa.schema([
    ("analysis_type", pa.string()), ("hour", pa.string()), ("run_id", pa.string()),
    ("committed_at", pa.timestamp("us", tz="UTC")), ("code_version", pa.string()), ("n_replicates", pa.int64()),
    ("exp_ids", pa.list_(pa.string())), ("bootstrap_salts", pa.list_(pa.string())),
    ("input_files", pa.list_(pa.string())), ("input_sizes", pa.list_(pa.int64())),
    ("rows_read", pa.int64()), ("rows_quarantined", pa.int64()), ("units", pa.int64()), ("cells", pa.int64()),
    ("skipped_files", pa.list_(pa.string())), ("seconds", pa.string()),
    # added with the assignment-join mode and the job summary (older manifests read these as null)
    ("rows_unmatched", pa.int64()), ("population", pa.string()), ("bytes_written", pa.int64()),
    ("quarantine_reasons", pa.string()),
    # files under the hour that were not read, and whether an hour without input was declared real (--allow-empty)
    ("ignored_files", pa.list_(pa.string())), ("allow_empty", pa.bool_()),
    # the commit_id that every agg_<type> and _quarantine row of the hour carries (rayab.storage.commits)
    ("commit_id", pa.string()),
    # metric values rounded half to even to their metric's decimals (counted, not quarantined)
    ("values_rounded", pa.int64()),
    # what the source was (JSON: kind, path or query and its parameters, Delta version), rows of other hours seen in
    # a flat folder, and rows left out by the source's `where`
    ("input_source", pa.string()), ("rows_outside_hour", pa.int64()), ("rows_filtered", pa.int64()),
    # units all of whose events of the hour were quarantined (they count as zero in the sums)
    ("units_quarantined", pa.int64()),
])
QUARANTINE = pa.schema([
    ("analysis_type", pa.string()), ("hour", pa.string()), ("source_file", pa.string()),
    ("row_index", pa.int64()), ("reason", pa.string()), ("row", pa.string()),
])

# The warehouse's table names: spelled here, and only here (tests/test_architecture.py checks the callers).
EXPERIMENT_TABLE = "experiment"
ANALYSIS_TYPE_TABLE = "_analysis_type"
ASSIGNMENT_TABLE = "assignment"
KPI_OUTCOME_TABLE = "kpi_outcome"
MANIFEST_TABLE = "_manifest"
QUARANTINE_TABLE = "_quarantine"

PARTITIONS: dict[str, list[str]] = {
    "experiment": [],
    "variant": [],
    "assignment": ["exp_id", "date"],
    "kpi_outcome": ["metric_date", "exp_id"],
    "_manifest": [],
    "_quarantine": ["analysis_type", "hour"],
}


# Replicate sums are list<int64> with the child named "element", as Delta writers name it: the first commit of a
# partition and every re-run then write byte-identical Parquet files.
REPS_TYPE = pa.list_(pa.field("element", pa.int64()))


def reps_column(metric: str) -> str:
    """Name of the replicate-sum column of ``metric``."""
    return f"{metric}_reps"


def agg_schema(analysis_type: AnalysisType) -> pa.Schema:
    """Schema of ``agg_<name>``: keys, dimensions, event count, then per metric a raw sum and B replicate sums."""
    fields = [pa.field("exp_id", pa.string()), pa.field("hour", pa.string()), pa.field("variant_id", pa.string())]
    fields += [pa.field(d, pa.string()) for d in analysis_type.dimensions]
    fields.append(pa.field("n_events", pa.int64()))
    for metric in (UNITS_METRIC, *analysis_type.metric_names, *analysis_type.cuped_columns):
        fields.append(pa.field(metric, pa.int64()))
        fields.append(pa.field(reps_column(metric), REPS_TYPE))
    return pa.schema(fields)


SKETCH_KEY = "bucket"


def sketch_table(analysis_type: AnalysisType) -> str:
    """Name of the table of an analysis type's quantile sketches (partitioned by ``exp_id`` and ``hour`` like
    ``agg_<name>``): ``qsk_<name>``."""
    return f"qsk_{analysis_type.name}"


def sketch_schema(analysis_type: AnalysisType) -> pa.Schema:
    """Schema of ``qsk_<name>``: one row per (cell, quantile metric, bucket) that received events in the hour,
    with the bucket's event count and its B Poisson-weighted counts (:mod:`rayab.stats.quantile_sketch`).

    >>> from rayab.model import AnalysisType, Metric, QuantileMetric
    >>> at = AnalysisType("perf", (Metric("clicks"),), dimensions=("country",),
    ...                   quantile_metrics=(QuantileMetric("latency"),))
    >>> sketch_table(at), sketch_schema(at).names
    ('qsk_perf', ['exp_id', 'hour', 'variant_id', 'country', 'metric', 'bucket', 'n_events', 'n_events_reps'])
    """
    fields = [pa.field("exp_id", pa.string()), pa.field("hour", pa.string()), pa.field("variant_id", pa.string())]
    fields += [pa.field(d, pa.string()) for d in analysis_type.dimensions]
    fields += [pa.field("metric", pa.string()), pa.field(SKETCH_KEY, pa.int32()), pa.field("n_events", pa.int64()),
               pa.field(reps_column("n_events"), REPS_TYPE)]
    return pa.schema(fields)


def conversion_table(analysis_type: AnalysisType) -> str:
    """Name of the table of an analysis type's conversion and retention counts (partitioned by ``exp_id`` and
    ``hour`` like ``agg_<name>``): ``cnv_<name>``."""
    return f"cnv_{analysis_type.name}"


def conversion_schema(analysis_type: AnalysisType) -> pa.Schema:
    """Schema of ``cnv_<name>``: the key columns of ``agg_<name>`` and, per conversion count, its raw sum and B
    replicate sums (``n_events`` is 0: these rows count units, not events).

    >>> from rayab.model import AnalysisType, ConversionMetric, Metric
    >>> at = AnalysisType("shop", (Metric("revenue"),), conversion_metrics=(ConversionMetric("bought"),))
    >>> conversion_table(at), conversion_schema(at).names
    ('cnv_shop', ['exp_id', 'hour', 'variant_id', 'n_events', 'bought', 'bought_reps'])
    """
    fields = [pa.field("exp_id", pa.string()), pa.field("hour", pa.string()), pa.field("variant_id", pa.string())]
    fields += [pa.field(d, pa.string()) for d in analysis_type.dimensions]
    fields.append(pa.field("n_events", pa.int64()))
    for name in analysis_type.conversion_columns:
        fields += [pa.field(name, pa.int64()), pa.field(reps_column(name), REPS_TYPE)]
    return pa.schema(fields)


def hits_table(analysis_type: AnalysisType) -> str:
    """Name of the table of qualifying units per hour (the per-unit state of conversion metrics): ``cvh_<name>``."""
    return f"cvh_{analysis_type.name}"


# one row per (experiment, hour, conversion metric, unit) with a qualifying event in the hour: its first and last
HITS = pa.schema([
    ("exp_id", pa.string()), ("hour", pa.string()), ("metric", pa.string()), ("unit_id", pa.string()),
    ("first_at", pa.timestamp("us", tz="UTC")), ("last_at", pa.timestamp("us", tz="UTC")),
])
