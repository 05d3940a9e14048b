"""Results of experiments: metric expressions over summed replicate arrays, filters, slices, windows, SQL.

The entry points: build a :class:`Query` and call :func:`run_query` (or :func:`cumulative_results` for a time series);
:func:`results_sql` writes the same computation as DuckDB or Trino SQL. Running that SQL in process
(:mod:`rayab.query.sql_run`) imports DuckDB, so it is not re-exported here.
"""

from __future__ import annotations

from rayab.query.compare import MetricResult
from rayab.query.filters import And, Equals, Filter, In, Or, filter_from_dict, parse_filter
from rayab.query.results import cumulative_results, experiment_results, run_query
from rayab.query.spec import Query
from rayab.query.sql import results_sql
from rayab.query.window import WindowSums, sum_partitions

__all__ = [
    "And",
    "Equals",
    "Filter",
    "In",
    "MetricResult",
    "Or",
    "Query",
    "WindowSums",
    "cumulative_results",
    "experiment_results",
    "filter_from_dict",
    "parse_filter",
    "results_sql",
    "run_query",
    "sum_partitions",
]
