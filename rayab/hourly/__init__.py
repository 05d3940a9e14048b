"""rayab.hourly: the hourly and daily jobs on Ray, a thin edge over :mod:`rayab.aggregate`.

:mod:`~rayab.hourly.job` plans an hour, fans map and shard tasks out over the cluster and commits through one
reducer; :mod:`~rayab.hourly.kpi_outcome` is the daily per-unit KPI job.
"""
