"""Results of experiments: metric expressions over summed replicate arrays, filters, slices, windows, SQL.

The entry points: build a :class:`Query` and call :func:`run_query` (or :func:`cumulative_results` for a time series);
:func:`results_sql` writes the same computation as DuckDB or Trino SQL. Running that SQL in process
(:mod:`rayab.query.sql_run`) imports DuckDB, so it is not re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayab.aggregate.cell_sums import CellSums
    from rayab.query.compare import MetricResult
    from rayab.query.filters import And, Equals, Filter, In, Or, filter_from_dict, parse_filter
    from rayab.query.results import cumulative_results, experiment_results, run_query
    from rayab.query.spec import Query
    from rayab.query.sql import results_sql
    from rayab.query.window import sum_partitions

__all__ = [
    "And",
    "CellSums",
    "Equals",
    "Filter",
    "In",
    "MetricResult",
    "Or",
    "Query",
    "cumulative_results",
    "experiment_results",
    "filter_from_dict",
    "parse_filter",
    "results_sql",
    "run_query",
    "sum_partitions",
]

# name -> module: each is imported on first use, so importing one light module of this package (a type, a
# validator) does not load numba, scipy or the rest of the package
_LAZY = {
    "And": "rayab.query.filters",
    "CellSums": "rayab.aggregate.cell_sums",
    "Equals": "rayab.query.filters",
    "Filter": "rayab.query.filters",
    "In": "rayab.query.filters",
    "MetricResult": "rayab.query.compare",
    "Or": "rayab.query.filters",
    "Query": "rayab.query.spec",
    "cumulative_results": "rayab.query.results",
    "experiment_results": "rayab.query.results",
    "filter_from_dict": "rayab.query.filters",
    "parse_filter": "rayab.query.filters",
    "results_sql": "rayab.query.sql",
    "run_query": "rayab.query.results",
    "sum_partitions": "rayab.query.window",
}


def __getattr__(name: str) -> Any:
    from rayab._lazy import load_lazy

    return load_lazy(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
