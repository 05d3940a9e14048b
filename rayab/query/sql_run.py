"""Run the generated DuckDB SQL against the warehouse, in process.

DuckDB reads the current Parquet files of the window's partitions (listed from the Delta log, so a half-written or
replaced file is never read) with ``read_parquet([...], hive_partitioning = true)``; Delta's own ``delta_scan``
would need an extension downloaded at run time. An S3 warehouse is reached through its fsspec filesystem
registered with DuckDB, so no DuckDB extension is needed either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from rayab.errors import NotFoundError
from rayab.model import AnalysisType, Experiment
from rayab.model.hours import hours_between
from rayab.query.spec import Query
from rayab.query.sql import results_sql
from rayab.query.sql_parts import QuantileRule, parquet_source
from rayab.storage.partitions import list_partition_files, partition_uris
from rayab.storage.warehouse import Warehouse

if TYPE_CHECKING:
    import duckdb

__all__ = ["duckdb_source", "run_duckdb"]


def duckdb_source(warehouse: Warehouse, analysis_type: AnalysisType, query: Query) -> exp.Expr:
    """``read_parquet`` over the current files of the query's partitions (pruned on the Delta log)."""
    hours = hours_between(query.start_hour, query.end_hour)
    files = list_partition_files(warehouse, analysis_type.table, query.exp_id, hours)
    if not files:
        raise NotFoundError(f"no aggregated data for {query.exp_id} in {analysis_type.table} "
                            f"between {query.start_hour} and {query.end_hour}")
    return parquet_source(partition_uris(warehouse, analysis_type.table, files))


def _counts_source(warehouse: Warehouse, analysis_type: AnalysisType, query: Query) -> exp.Expr | None:
    """``read_parquet`` over the ``cnv_<type>`` files of the window when the query reads conversion counts."""
    if not analysis_type.conversion_metrics:
        return None
    from rayab.storage.schemas import conversion_table

    table = conversion_table(analysis_type)
    files = list_partition_files(warehouse, table, query.exp_id, hours_between(query.start_hour, query.end_hour))
    if not files:
        return None
    return parquet_source(partition_uris(warehouse, table, files))


def _connect(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    import duckdb  # the `sql` extra, needed only to execute

    con = duckdb.connect()
    if warehouse.is_s3:
        con.register_filesystem(warehouse.filesystem())
    return con


def run_duckdb(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment, query: Query,
               quantiles: QuantileRule | None = None) -> pa.Table:
    """The rows of the generated DuckDB query, executed on the warehouse's partitions."""
    if any(analysis_type.quantile_output(m) is not None for m in query.metrics):
        from rayab.query.quantile_sql import quantile_results_sql
        from rayab.storage.schemas import sketch_table

        files = list_partition_files(warehouse, sketch_table(analysis_type), query.exp_id,
                                     hours_between(query.start_hour, query.end_hour))
        if not files:
            raise NotFoundError(f"no quantile sketches for {query.exp_id} in {sketch_table(analysis_type)} "
                                f"between {query.start_hour} and {query.end_hour}")
        sketches = parquet_source(partition_uris(warehouse, sketch_table(analysis_type), files))
        sql = quantile_results_sql(analysis_type, experiment, query, "duckdb",
                                   duckdb_source(warehouse, analysis_type, query), sketches, quantiles)
    else:
        sql = results_sql(analysis_type, experiment, query, "duckdb", duckdb_source(warehouse, analysis_type, query),
                          quantiles, counts=_counts_source(warehouse, analysis_type, query))
    con = _connect(warehouse)
    try:
        result: Any = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    table: pa.Table = result
    return table
