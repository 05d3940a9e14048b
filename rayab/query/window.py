"""Sum the hourly aggregate partitions of a window into per-cell arrays.

Only the partitions needed are read (``exp_id`` and ``hour`` partition pruning) and only the needed columns.
Because the stored sums are exact integers, the sum over a window equals, bit for bit, what one run over the whole
window would have produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rayab.errors import NotFoundError, ValidationError
from rayab.model import UNITS_METRIC, AnalysisType
from rayab.model.hours import hours_between
from rayab.query.cells import cell_index, replicate_matrix
from rayab.storage.schemas import reps_column
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

__all__ = ["WindowSums", "read_window", "sum_window"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WindowSums:
    """Per cell (variant_id, *projection): event counts, raw sums and replicate sums of each additive metric."""

    key_names: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    n_events: I64
    raw: dict[str, I64]
    reps: dict[str, I64]
    hours: tuple[str, ...]

    def cell(self, key: tuple[str, ...]) -> int:
        """Row number of a cell."""
        try:
            return self.keys.index(key)
        except ValueError:
            raise NotFoundError(f"no data for cell {dict(zip(self.key_names, key, strict=True))}") from None


def check_projection(analysis_type: AnalysisType, projection: Sequence[str]) -> None:
    """Every projected name must be a dimension of the analysis type."""
    for i, dim in enumerate(projection):
        if dim not in analysis_type.dimensions:
            raise ValidationError(f"projection[{i}]", dim, f"must be a dimension of {analysis_type.name}: "
                                  f"{list(analysis_type.dimensions)}")


def read_window(warehouse: Warehouse, analysis_type: AnalysisType, exp_id: str, start_hour: str, end_hour: str,
                metrics: Sequence[str], projection: Sequence[str] = ()) -> pa.Table:
    """The rows of ``agg_<type>`` for one experiment and the hours in ``[start_hour, end_hour)``."""
    check_projection(analysis_type, projection)
    hours = hours_between(start_hour, end_hour)
    if not hours:
        raise ValidationError("end_hour", end_hour, f"must be after start_hour {start_hour}")
    columns = ["variant_id", "hour", "n_events", *projection]
    for metric in metrics:
        columns += [metric, reps_column(metric)]
    return read_rows(warehouse, analysis_type.table, where={"exp_id": exp_id, "hour": list(hours)},
                     columns=list(dict.fromkeys(columns)))


def sum_window(table: pa.Table, analysis_type: AnalysisType, metrics: Sequence[str],
               projection: Sequence[str] = ()) -> WindowSums:
    """Sum rows per (variant_id, *projection)."""
    check_projection(analysis_type, projection)
    key_names = ("variant_id", *projection)
    keys, cells = cell_index(table, key_names)
    n_cells, b = len(keys), analysis_type.n_replicates
    n_events = np.zeros(n_cells, np.int64)
    if table.num_rows:
        np.add.at(n_events, cells, np.asarray(table.column("n_events"), np.int64))
    raw, reps = {}, {}
    for metric in metrics:
        raw[metric] = np.zeros(n_cells, np.int64)
        reps[metric] = np.zeros((n_cells, b), np.int64)
        if table.num_rows:
            np.add.at(raw[metric], cells, np.asarray(table.column(metric), np.int64))
            np.add.at(reps[metric], cells, replicate_matrix(table.column(reps_column(metric)), b, metric))
    hours = tuple(sorted(set(table.column("hour").to_pylist()))) if table.num_rows else ()
    return WindowSums(key_names, keys, n_events, raw, reps, hours)


def metric_scale(analysis_type: AnalysisType, metric: str) -> int:
    """The integer scale of an additive metric (``units`` counts have scale 1)."""
    return 1 if metric == UNITS_METRIC else analysis_type.metric(metric).scale
