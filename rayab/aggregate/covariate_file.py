"""A per-unit pre-period covariate from a table a team already has, as rows of the ``covariate`` table.

CUPED needs one ``x`` per unit: the unit's pre-period value of a metric. When the team already has it (last month's
revenue per customer), :func:`covariate_rows_from` takes it from a column instead of from pre-period events. The
value becomes an exact integer at the metric's scale (cents for ``decimals=2``), rounded half to even beyond it and
counted, like event values (:mod:`rayab.aggregate.validate`). Quarantined, with the reason: a null or empty unit id,
a value that is empty, not a number, NaN, infinite, or negative where the metric does not allow it, and every row of a
unit that has several rows with different values (which one is right cannot be told); a unit repeated with the same
value is kept once and its repeats counted. A unit without a row has ``x = 0`` (:mod:`rayab.aggregate.covariates`).

>>> from rayab.model import AnalysisType, Metric
>>> metric = Metric("revenue", decimals=2)
>>> table = pa.table({"unit_id": [1, 2, 2, 3, 3, 4], "rev": ["1.005", "2", "2.00", "x", "5", "7"],
...                   "spare": [0, 0, 0, 0, 0, 0]})
>>> loaded = covariate_rows_from(table, "e", metric, "rev", "f.csv")
>>> loaded.rows.column("unit_id").to_pylist(), loaded.rows.column("x").to_pylist(), loaded.values_rounded
(['1', '2', '3', '4'], [100, 200, 500, 700], 1)
>>> loaded.quarantined.column("reason").to_pylist(), loaded.duplicates
(['rev is not a number (column type string)'], 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.assignment_file import quarantine_rows, scalar_text
from rayab.aggregate.covariates import COVARIATE, COVARIATE_TABLE, covariate_table, write_covariates
from rayab.aggregate.validate import Reasons, metric_integers
from rayab.errors import ValidationError
from rayab.model import Metric
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

__all__ = ["LoadedCovariates", "covariate_rows_from", "replace_metric_covariates"]


@dataclass(frozen=True)
class LoadedCovariates:
    """The ``covariate`` rows of one metric, the quarantined rows and the counts."""

    rows: pa.Table
    quarantined: pa.Table
    rows_read: int
    duplicates: int
    values_rounded: int


def covariate_rows_from(table: pa.Table, exp_id: str, metric: Metric, column: str, source: str,
                        unit_column: str = "unit_id") -> LoadedCovariates:
    """Validate ``table``'s ``column`` as the pre-period value of ``metric`` per unit of ``unit_column``."""
    for option, name in (("--unit-column", unit_column), ("--column", column)):
        if name not in table.column_names:
            raise ValidationError(option, name, f"is not a column of {source} (columns: "
                                  f"{', '.join(table.column_names[:20])})")
    units, inexact = scalar_text(table.column(unit_column))
    # the value column is checked as event values are: the same parsing, rounding and reasons
    as_events = pa.table({"unit_id": units, column: table.column(column)})
    kind = Metric(metric.name, column=column, decimals=metric.decimals, allow_negative=metric.allow_negative)
    reasons = Reasons(table.num_rows)
    reasons.flag(inexact, f"{unit_column} is a float that is not an exact integer: write ids as text or integers")
    values, rounded = metric_integers(as_events, kind, reasons)
    empty = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(units), 0), True), bool)
    reasons.flag(empty, f"{unit_column} is null or empty")
    unit_text = np.asarray(units.to_pylist(), dtype=object)
    good = ~reasons.bad
    order = np.flatnonzero(good)
    order = order[np.argsort(unit_text[order].astype(str), kind="stable")]
    first = np.ones(len(order), bool)
    first[1:] = unit_text[order][1:] != unit_text[order][:-1]
    group = np.cumsum(first) - 1
    lead = order[np.flatnonzero(first)]
    conflict_groups = np.unique(group[values[order] != values[lead[group]]])
    conflicted = np.isin(group, conflict_groups)
    mask = np.zeros(table.num_rows, bool)
    mask[order[conflicted]] = True
    reasons.flag(mask, f"{unit_column} has several rows with different {column} values")
    keep = lead[~np.isin(np.arange(len(lead)), conflict_groups)]
    duplicates = int(np.count_nonzero(~first & ~conflicted))
    rows = covariate_table(exp_id, unit_text[keep].tolist(), metric.name, values[keep]) if len(keep) else \
        COVARIATE.empty_table()
    quarantined = quarantine_rows(table, reasons, exp_id, f"covariates:{metric.name}", source)
    return LoadedCovariates(rows, quarantined, table.num_rows, duplicates,
                            int(np.count_nonzero(rounded & ~reasons.bad)))


def replace_metric_covariates(warehouse: Warehouse, exp_id: str, metric: str, rows: pa.Table) -> bool:
    """Make ``rows`` the experiment's covariates of ``metric``, keeping its other metrics' rows; one commit, none
    when the table already holds exactly these rows (so loading a file twice changes nothing). Returns whether it
    wrote."""
    have = read_rows(warehouse, COVARIATE_TABLE, where={"exp_id": exp_id})
    if have.num_rows:
        have = have.select(COVARIATE.names).cast(COVARIATE)
    same_metric = have.filter(pc.equal(have.column("metric"), metric)) if have.num_rows else COVARIATE.empty_table()
    if same_metric.sort_by("unit_id").equals(rows.sort_by("unit_id")):
        return False
    others = have.filter(pc.not_equal(have.column("metric"), metric)) if have.num_rows else COVARIATE.empty_table()
    write_covariates(warehouse, exp_id, pa.concat_tables([others, rows.select(COVARIATE.names).cast(COVARIATE)]))
    return True
