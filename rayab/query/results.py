"""Results of an experiment: run a :class:`~rayab.query.spec.Query` over a window, or as of every hour of it.

:func:`run_query` reads the window's partitions once (pruned to the experiment and hours, only the needed columns),
keeps the rows passing the filter, sums them per ``(variant_id, *projection)`` and computes every metric
(:mod:`rayab.query.compare`), then corrects p-values when asked (:mod:`rayab.query.correction`).

:func:`cumulative_results` gives the same results as of the end of every hour of the window: it sums per hour once,
then takes prefix sums over hours, so the entry for ``end_hour = h`` equals :func:`run_query` over
``[start_hour, h)`` exactly (the replicate sums are integers).

**Sequential looks.** With ``interval="sequential"`` every hour of the window is a look. A confidence sequence
holds at all looks at once, so what may be reported at look ``t`` is the intersection of the intervals of looks
``1..t`` and the always-valid p-value is the running minimum of the looks' p-values
(:func:`running_looks`): it never goes back up once the data showed evidence. :func:`run_query` with
``interval="sequential"`` gives the last look of that series, so it agrees with :func:`cumulative_results`.

>>> import numpy as np
>>> h0, h1 = "2026-01-01T00", "2026-01-01T01"
>>> by_hour = CellSums(("hour", "variant_id"), ((h0, "a"), (h1, "a"), (h1, "b")), np.array([1, 2, 3]),
...                      {"clicks": np.array([1, 2, 3])}, {"clicks": np.array([[1, 0], [2, 2], [3, 4]])}, ())
>>> series = cumulative_sums(by_hour, [h0, h1])
>>> series.keys
(('2026-01-01T01', 'a'), ('2026-01-01T02', 'a'), ('2026-01-01T02', 'b'))
>>> series.reps["clicks"].tolist()
[[1, 0], [3, 2], [3, 4]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from rayab.aggregate.cell_sums import CellSums
from rayab.errors import NotFoundError, ValidationError
from rayab.model import AnalysisType, Experiment
from rayab.model.hours import format_hour, hours_between, parse_hour
from rayab.query.compare import END_HOUR_KEY, MetricResult, compare_metric
from rayab.query.correction import correct_pvalues
from rayab.query.filters import Filter
from rayab.query.quantiles import WindowSketches, compare_quantile, cumulative_sketches, quantile_names, sum_sketches
from rayab.query.spec import CIMethod, Correction, Query, additive_metrics
from rayab.query.window import sum_partitions
from rayab.storage.warehouse import Warehouse

__all__ = ["HourSums", "MetricResult", "compare_variants", "cumulative_results", "cumulative_sums",
           "experiment_results", "results_from_sums", "run_query", "running_looks"]

I64 = npt.NDArray[np.int64]


def _bind(query: Query, analysis_type: AnalysisType, experiment: Experiment) -> Query:
    if query.exp_id != experiment.exp_id:
        raise ValidationError("exp_id", query.exp_id, f"does not match the experiment {experiment.exp_id}")
    return query.resolve(analysis_type)


def results_from_sums(sums: CellSums, analysis_type: AnalysisType, experiment: Experiment,
                      query: Query, sketches: WindowSketches | None = None) -> list[MetricResult]:
    """Every metric of ``query`` (metric by metric, cells in key order), corrected if the query asks; quantile
    metrics (``latency_p90``) come from ``sketches``, summed like ``sums`` (:mod:`rayab.query.quantiles`)."""
    query = _bind(query, analysis_type, experiment)
    out = [r for name in query.metrics for r in _compare(sums, sketches, analysis_type, experiment, name, query)]
    if query.interval == "sequential" and END_HOUR_KEY in sums.key_names:
        out = running_looks(out)
    return correct_pvalues(out, query.correction, query.correct_across_slices) if query.correction else out


def _compare(sums: CellSums, sketches: WindowSketches | None, analysis_type: AnalysisType,
             experiment: Experiment, name: str, query: Query) -> list[MetricResult]:
    if analysis_type.quantile_output(name) is None:
        return compare_metric(sums, analysis_type, experiment, name, query)
    if sketches is None:
        raise ValidationError("metrics", name, "is a quantile metric: its results need the window's sketches")
    return compare_quantile(sums, sketches, analysis_type, experiment, name, query)


_RUNNING = (("ci_lower", "ci_upper"), ("abs_ci_lower", "abs_ci_upper"), ("rel_ci_lower", "rel_ci_upper"))


def running_looks(results: Sequence[MetricResult]) -> list[MetricResult]:
    """Sequential results as reported after every look: p the running minimum, intervals the running intersection.

    Looks of one (metric, variant, slice) are taken in ``end_hour`` order; a look without a p-value or interval
    (an error) keeps what the earlier looks gave. An empty intersection (possible: the sequences are asymptotic)
    is reported as NaN bounds with ``error="empty_intersection"``.

    >>> from rayab.query.compare import MetricResult
    >>> def look(end, p, low, high):
    ...     return MetricResult("e", "ctr", "t", (), 0, 0, 0.0, low, high, "c", 0.0, low, high, 0.0, low, high, p,
    ...                         0.95, 10, 0, "", interval="sequential", end_hour=end)
    >>> out = running_looks([look("h1", 1.0, -1.0, 2.0), look("h2", 0.592, -0.5, 1.0), look("h3", 1.0, -0.8, 3.0)])
    >>> [(r.pvalue, r.abs_ci_lower, r.abs_ci_upper) for r in out]
    [(1.0, -1.0, 2.0), (0.592, -0.5, 1.0), (0.592, -0.5, 1.0)]
    """
    order = sorted(range(len(results)), key=lambda i: results[i].end_hour)
    best: dict[tuple[object, ...], dict[str, float]] = {}
    out = list(results)
    for i in order:
        r = results[i]
        seen = best.setdefault((r.metric, r.variant_id, r.slice), {})
        changes: dict[str, object] = {}
        if math.isfinite(r.pvalue) or "pvalue" in seen:
            p = min(x for x in (r.pvalue, seen.get("pvalue", math.inf)) if math.isfinite(x))
            seen["pvalue"] = changes["pvalue"] = p
        for low_name, high_name in _RUNNING:
            low, high = getattr(r, low_name), getattr(r, high_name)
            if math.isfinite(low) and math.isfinite(high):
                low, high = max(low, seen.get(low_name, -math.inf)), min(high, seen.get(high_name, math.inf))
            elif low_name in seen:
                low, high = seen[low_name], seen[high_name]
            else:
                continue
            seen[low_name], seen[high_name] = low, high
            if low > high:
                changes.update({low_name: math.nan, high_name: math.nan, "error": r.error or "empty_intersection"})
            else:
                changes.update({low_name: low, high_name: high})
        out[i] = r._replace(**changes)  # type: ignore[arg-type]
    return out


HourSums = Callable[[Sequence[str]], CellSums]
"""The per-hour sums (cells ``(hour, variant_id, *projection)``) of a query's window for the metrics given, e.g.
from a :class:`~rayab.query.hour_cache.HourSumsCache` shared by the window's results and its series."""


def _read(warehouse: Warehouse, analysis_type: AnalysisType, query: Query, by_hour: bool,
          hour_sums: HourSums | None = None) -> CellSums:
    metrics = additive_metrics(analysis_type, query.metrics)
    if hour_sums is not None:
        per_hour = hour_sums(metrics)
        sums = per_hour if by_hour else per_hour.regroup(per_hour.key_names[1:])
    else:
        sums = sum_partitions(warehouse, analysis_type, query.exp_id, query.start_hour, query.end_hour, metrics,
                              query.projection, query.where, by_hour)
    if not sums.keys:
        matching = " matching the filter" if query.where is not None else ""
        raise NotFoundError(f"no aggregated data{matching} for {query.exp_id} in {analysis_type.table} "
                            f"between {query.start_hour} and {query.end_hour}")
    return sums


def run_query(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment,
              query: Query, hour_sums: HourSums | None = None) -> list[MetricResult]:
    """The results of ``query`` over its window (with sequential intervals: the last of the hourly looks).

    With ``hour_sums`` the window's sums are the sum of its per-hour sums (equal, bit for bit, to a direct read)."""
    query = _bind(query, analysis_type, experiment)
    if query.interval == "sequential":
        return [r for r in cumulative_results(warehouse, analysis_type, experiment, query, hour_sums)
                if r.end_hour == query.end_hour]
    return results_from_sums(_read(warehouse, analysis_type, query, False, hour_sums), analysis_type, experiment,
                             query, _read_sketches(warehouse, analysis_type, query, by_hour=False))


def _read_sketches(warehouse: Warehouse, analysis_type: AnalysisType, query: Query,
                   by_hour: bool) -> WindowSketches | None:
    names = quantile_names(analysis_type, query.metrics)
    if not names:
        return None
    return sum_sketches(warehouse, analysis_type, query.exp_id, query.start_hour, query.end_hour, names,
                        query.projection, query.where, by_hour)


def _next_hour(hour: str) -> str:
    return format_hour(parse_hour(hour) + timedelta(hours=1))


def cumulative_sums(by_hour: CellSums, hours: Sequence[str]) -> CellSums:
    """Prefix sums of per-hour sums (cells ``(hour, variant_id, ...)``) as of the end of each of ``hours``: the
    running ``+`` of :meth:`rayab.aggregate.cell_sums.CellSums.cumulative`.

    Cells become ``(end_hour, variant_id, ...)``; a cell appears from the first hour it has rows.
    """
    return by_hour.cumulative(hours, [_next_hour(h) for h in hours], END_HOUR_KEY)


def cumulative_results(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment,
                       query: Query, hour_sums: HourSums | None = None) -> list[MetricResult]:
    """The results of ``query`` as of the end of every hour of its window (``end_hour`` tells which), from
    ``hour_sums`` when given."""
    query = _bind(query, analysis_type, experiment)
    by_hour = _read(warehouse, analysis_type, query, True, hour_sums)
    hours = hours_between(query.start_hour, query.end_hour)
    sums = cumulative_sums(by_hour, hours)
    sketches = _read_sketches(warehouse, analysis_type, query, by_hour=True)
    if sketches is not None:
        sketches = cumulative_sketches(sketches, hours, [_next_hour(h) for h in hours])
    return results_from_sums(sums, analysis_type, experiment, query, sketches)


def compare_variants(sums: CellSums, analysis_type: AnalysisType, experiment: Experiment, metric: str,
                     confidence_level: float = 0.95, method: CIMethod = "percentile") -> list[MetricResult]:
    """Results of ``metric`` for every variant of every slice in ``sums`` (fixed-horizon intervals)."""
    hours = sums.hours or ("1970-01-01T00",)
    query = Query(experiment.exp_id, hours[0], _next_hour(hours[-1]), metrics=(metric,),
                  confidence_level=confidence_level, method=method)
    return compare_metric(sums, analysis_type, experiment, metric, query)


def experiment_results(
    warehouse: Warehouse,
    analysis_type: AnalysisType,
    experiment: Experiment,
    start_hour: str,
    end_hour: str,
    metrics: Sequence[str] | None = None,
    projection: Sequence[str] = (),
    confidence_level: float = 0.95,
    method: CIMethod = "percentile",
    *,
    where: Filter | None = None,
    correction: Correction | None = None,
) -> list[MetricResult]:
    """Read the window ``[start_hour, end_hour)`` and compute every requested metric (default: all of them)."""
    query = Query(experiment.exp_id, start_hour, end_hour, metrics=tuple(metrics or ()),
                  projection=tuple(projection), where=where, confidence_level=confidence_level, method=method,
                  correction=correction)
    return run_query(warehouse, analysis_type, experiment, query)
