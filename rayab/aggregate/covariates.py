"""Per-unit pre-period covariates for CUPED, and the CUPED value columns of unit rows.

The ``covariate`` table holds one row per (exp_id, unit_id, metric) with ``x``, the unit's pre-period total of the
metric as an exact integer at the metric's scale (cents for ``decimals=2``). A unit without a row has ``x = 0``:
no pre-period activity.

At the map stage, before the unit id is dropped, :func:`fill_cuped_columns` looks up each row's ``x`` and writes the
stored CUPED columns of :attr:`rayab.model.AnalysisType.cuped_columns`: ``x * y`` on event rows (``y`` the unit's
total in the cell and hour), ``x * units`` and ``x**2 * units`` on first-assignment rows. Because ``x`` is fixed per
unit, the hourly sums add up over any window to exactly ``sum_u w_u x_u y_u``, ``sum_u w_u x_u``, ``sum_u w_u x_u^2``.

>>> import numpy as np, pyarrow as pa
>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), cuped=("clicks",))
>>> cov = Covariates.from_table(covariate_table("e", ["u1", "u2"], "clicks", [3, 5]), at)
>>> cov.lookup("e", pa.array(["u2", "u9", "u1"])).tolist()
[[5], [0], [3]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.errors import ValidationError
from rayab.model import AnalysisType, Experiment
from rayab.storage.schemas import KPI_OUTCOME_TABLE
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

__all__ = ["COVARIATE", "COVARIATE_TABLE", "Covariates", "covariate_table", "covariates_from_kpi_outcome",
           "fill_cuped_columns", "load_covariates", "pre_period_dates", "write_covariates"]

I64 = npt.NDArray[np.int64]
COVARIATE_TABLE = "covariate"
COVARIATE = pa.schema([("exp_id", pa.string()), ("unit_id", pa.string()), ("metric", pa.string()),
                       ("x", pa.int64())])
# products are summed with Poisson weights up to 11 over many units: keep each product far below 2**63
_PRODUCT_LIMIT = float(2**53)


def covariate_table(exp_id: str, unit_ids: Sequence[str], metric: str, x: npt.ArrayLike) -> pa.Table:
    """Rows of the ``covariate`` table for one experiment and metric (``x`` already at the metric's scale)."""
    values = np.asarray(x, dtype=np.int64)
    n = len(unit_ids)
    return pa.table({"exp_id": pa.array([exp_id] * n, pa.string()), "unit_id": pa.array(list(unit_ids), pa.string()),
                     "metric": pa.array([metric] * n, pa.string()), "x": pa.array(values, pa.int64())},
                    schema=COVARIATE)


def write_covariates(warehouse: Warehouse, exp_id: str, rows: pa.Table) -> None:
    """Replace the experiment's covariates atomically (one Delta commit on the ``exp_id`` partition)."""
    bad = set(rows.column("exp_id").to_pylist()) - {exp_id} if rows.num_rows else set()
    if bad:
        raise ValidationError("covariate.exp_id", sorted(bad)[0], f"must be {exp_id!r} when writing {exp_id}")
    replace_partitions(warehouse, COVARIATE_TABLE, rows.select(COVARIATE.names).cast(COVARIATE), ["exp_id"],
                       {"exp_id": exp_id})


@dataclass(frozen=True)
class Covariates:
    """Per experiment: its units (sorted) and their ``x`` per CUPED metric, columns in ``cuped`` order."""

    cuped: tuple[str, ...]
    units: Mapping[str, pa.Array]
    x: Mapping[str, I64]

    @classmethod
    def from_table(cls, rows: pa.Table, analysis_type: AnalysisType) -> Covariates:
        """From ``covariate`` rows; rows of metrics the analysis type does not adjust are ignored; a repeated
        (exp_id, unit_id, metric) is an error (x must be fixed per unit)."""
        cuped = analysis_type.cuped
        units: dict[str, pa.Array] = {}
        xs: dict[str, I64] = {}
        if rows.num_rows == 0 or not cuped:
            return cls(cuped, units, xs)
        rows = rows.filter(pc.is_in(rows.column("metric"), pa.array(list(cuped), pa.string())))
        for exp_id in pc.unique(rows.column("exp_id")).to_pylist():
            part = rows.filter(pc.equal(rows.column("exp_id"), exp_id))
            distinct = pc.unique(part.column("unit_id")).sort()
            matrix = np.zeros((len(distinct), len(cuped)), np.int64)
            row = np.asarray(pc.index_in(part.column("unit_id"), value_set=distinct), np.int64)
            col = np.array([cuped.index(m) for m in part.column("metric").to_pylist()], np.int64)
            seen = row * len(cuped) + col
            if len(np.unique(seen)) != len(seen):
                raise ValidationError("covariate", exp_id, "has more than one row per (unit_id, metric)")
            matrix[row, col] = np.asarray(part.column("x"), np.int64)
            units[exp_id], xs[exp_id] = distinct, matrix
        return cls(cuped, units, xs)

    def lookup(self, exp_id: str, unit_ids: pa.Array) -> I64:
        """``x`` per unit (rows) and CUPED metric (columns); 0 for units without a covariate."""
        out = np.zeros((len(unit_ids), len(self.cuped)), np.int64)
        if exp_id not in self.units or len(unit_ids) == 0:
            return out
        at = pc.index_in(unit_ids, value_set=self.units[exp_id])
        found = np.asarray(pc.is_valid(at), bool)
        if found.any():
            out[found] = self.x[exp_id][np.asarray(at.filter(pc.is_valid(at)), np.int64)]
        return out


def load_covariates(warehouse: Warehouse, analysis_type: AnalysisType, exp_ids: Sequence[str]) -> Covariates:
    """The covariates of ``exp_ids`` for the analysis type's CUPED metrics (none if it adjusts none)."""
    if not analysis_type.cuped or not exp_ids:
        return Covariates(analysis_type.cuped, {}, {})
    return Covariates.from_table(read_rows(warehouse, COVARIATE_TABLE, where={"exp_id": list(exp_ids)}),
                                 analysis_type)


def _checked_product(a: I64, b: I64, what: str) -> I64:
    if len(a) and float(np.max(np.abs(a.astype(np.float64)) * np.abs(b.astype(np.float64)))) >= _PRODUCT_LIMIT:
        raise ValidationError("covariate", what, "products x*y reach 2**53; lower the metric's decimals so the "
                              "additive CUPED sums stay exact in int64")
    return a * b


def fill_cuped_columns(sums: I64, analysis_type: AnalysisType, covariates: Covariates | None,
                       exp_of_row: Sequence[str], units: pa.Array, first_assignment: bool) -> None:
    """Write the CUPED columns of collapsed unit rows in place.

    ``sums`` has the columns of :func:`rayab.aggregate.partials.metric_columns`; ``exp_of_row`` and ``units`` give
    each row's experiment and unit id. Event rows get ``x * y``; first-assignment rows ``x * units`` and
    ``x**2 * units`` (``units`` is 1 unless the unit was assigned twice in the hour)."""
    if not analysis_type.cuped:
        return
    n_metrics = 1 + len(analysis_type.metrics)
    exps = np.asarray(exp_of_row, dtype=object)
    x = np.zeros((len(exps), len(analysis_type.cuped)), np.int64)
    if covariates is not None:
        for exp_id in set(exps.tolist()):
            rows = np.flatnonzero(exps == exp_id)
            x[rows] = covariates.lookup(exp_id, units.take(pa.array(rows)))
    for j, metric in enumerate(analysis_type.cuped):
        base = n_metrics + 3 * j  # columns <m>__x, <m>__xx, <m>__xy
        if first_assignment:
            sums[:, base] = _checked_product(x[:, j], sums[:, 0], metric)
            sums[:, base + 1] = _checked_product(_checked_product(x[:, j], x[:, j], metric), sums[:, 0], metric)
        else:
            y = sums[:, 1 + analysis_type.metric_names.index(metric)]
            sums[:, base + 2] = _checked_product(x[:, j], y, metric)


def pre_period_dates(experiment: Experiment, days: int) -> list[str]:
    """The ``days`` calendar days before the experiment's start day (the pre-period window, oldest first)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ValidationError("days", days, "must be a whole number of days in [1, 366]")
    first = experiment.start_time.date()
    return [(first - timedelta(days=d)).isoformat() for d in range(days, 0, -1)]


def covariates_from_kpi_outcome(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment,
                                days: int) -> pa.Table:
    """``covariate`` rows of an experiment: per unit and CUPED metric, the ``kpi_outcome`` total over the
    ``days`` days before its start, as an exact integer at the metric's scale."""
    if not analysis_type.cuped:
        raise ValidationError("cuped", analysis_type.name, "the analysis type lists no CUPED metrics")
    dates = pre_period_dates(experiment, days)
    rows = read_rows(warehouse, KPI_OUTCOME_TABLE, where={"metric_date": dates, "exp_id": experiment.exp_id},
                     columns=["unit_id", "kpi_name", "kpi_value"])
    parts = []
    for metric in analysis_type.cuped:
        if rows.num_rows == 0:
            break
        part = rows.filter(pc.equal(rows.column("kpi_name"), metric))
        # each day's value is an integer at the metric's scale: round per row, then add exactly as int64
        scaled = pc.cast(pc.round(pc.multiply(part.column("kpi_value"), float(analysis_type.metric(metric).scale))),
                         pa.int64())
        grouped = pa.table({"unit_id": part.column("unit_id"), "x": scaled}).group_by(
            "unit_id", use_threads=False).aggregate([("x", "sum")]).sort_by("unit_id")
        parts.append(covariate_table(experiment.exp_id, grouped.column("unit_id").to_pylist(), metric,
                                     np.asarray(grouped.column("x_sum"), np.int64)))
    return pa.concat_tables(parts) if parts else COVARIATE.empty_table()
