"""Experiment health: each check is ok / warn / no_data / fail with the reason, so a scheduler can alert on it.

``no_data`` means the check had nothing to test (no unit assigned, no aggregated rows, no interval): it is never a
pass. It ranks between ``warn`` and ``fail`` in :func:`worst_status`, and ``rayab health`` exits 1 on it as on a
failure.

Checks, in order:

- ``assignment_rate``: first assignments per hour; fails when nobody was assigned in the window, warns on hours
  whose count dropped below ``rate_drop`` times the median of the three hours on either side.
- ``sample_ratio``: the chi-square SRM test on all assignments up to the end of the window, and the anytime-valid
  sequential test over every hour (fails if either flags a mismatch; ``no_data`` with no unit or a single arm). A
  failure names the hour the mismatch started (``since 2026-11-23T05: ...``, details ``mismatch_since``): the first
  hour of the last run of hourly looks that all flag it.
- ``sample_ratio_by_<dim>``: the same per value of an assignment-time dimension, Holm-corrected (warns).
- ``data_completeness``: hours of the window without a committed manifest, per analysis type (fails). An hour
  committed from no input file without ``--allow-empty`` (what older versions did for a wrong ``--logs`` path) counts
  as missing, "not arrived", and so does an uncommitted hour whose input is not there yet (analysis types with a
  ``source``, or ``logs_root``).
- ``data_quality``: share of quarantined rows, skipped (unreadable) files and ignored files (not a log format, e.g.
  ``.txt``; warns, except for hidden or marker files such as ``_SUCCESS``) in the committed hours.
- ``unmatched_events``: share of events whose unit is not in the ``assignment`` table. With ``--population log``
  they count in the metric sums but not in ``units`` (warns above ``unmatched_warn``, fails above
  ``unmatched_fail``); with ``--population assignment`` they belong to no experiment, which is normal for units
  outside every experiment (warns only when no event at all matched an assignment).
- ``quarantined_units``: units all of whose events of an hour were quarantined, summed over the window's hours
  (unit-hours; warns when there is any): a unit with no valid event counts as zero in the sums, so a metric is
  biased towards zero when bad rows cluster on some units (a client version that logs a broken value, say).
- ``late_data``: hours whose inputs changed after they were committed (warns), by the rule ``rayab backfill``
  re-runs them by (:func:`rayab.aggregate.manifest.input_change`): new, removed or resized files; for a Delta
  source a newer version whose data files holding the hour differ; for a SQL source another query text. Checked for
  the analysis types with a ``source`` in the config, and for the others with ``logs_root``.
- ``manifest_consistency``: hours whose ``agg_<type>`` or ``_quarantine`` rows (or the rows of the tables written
  beside them, ``qsk_<type>`` and ``cvh_<type>``) carry another ``commit_id`` than their newest manifest row names
  (a run killed between its commits): their manifest counts describe other data; fails and names the hours, which
  ``rayab backfill`` re-runs.
- ``pre_period_bias``: for analysis types with CUPED metrics, each variant's mean pre-period covariate per unit
  against control (from the stored ``<m>__x`` sums, :func:`rayab.query.cuped.pre_period_bias`); fails when a
  Bonferroni-corrected p-value (normal bootstrap) is below ``pre_period_alpha``, warns below ``pre_period_warn``.
- ``guardrail_<metric>``: the relative lift of each variant against control; fails when the whole interval lies
  beyond the tolerance on the harmful side, warns when it lies on the harmful side of zero (significant harm that
  may still be within the tolerance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow.compute as pc

from rayab.aggregate.manifest import input_change
from rayab.errors import NotFoundError, StorageError
from rayab.guardrails.sample_ratio import SrmLook, experiment_assignments, srm_check, srm_timeline
from rayab.model import AnalysisType, Config, Experiment
from rayab.model.guardrail import Guardrail
from rayab.model.hours import hours_between
from rayab.query.cuped import pre_period_bias
from rayab.query.results import experiment_results
from rayab.query.spec import Query
from rayab.storage.commits import hour_mismatches, side_table_mismatches
from rayab.storage.logs import LogFile
from rayab.storage.schemas import MANIFEST_TABLE, hits_table, sketch_table
from rayab.storage.sources import default_source, plan_hour
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

__all__ = ["HealthCheck", "HealthSettings", "Status", "experiment_health", "mismatch_since", "worst_status"]

Status = Literal["ok", "warn", "no_data", "fail"]
# "no_data" is never a pass: a check with nothing to test ranks above a warning and below a failure
_RANK: dict[str, int] = {"ok": 0, "warn": 1, "no_data": 2, "fail": 3}


class HealthCheck(NamedTuple):
    """One check: its name, status, a one-line reason and details for programs."""

    name: str
    status: Status
    reason: str
    details: Mapping[str, Any]


@dataclass(frozen=True)
class HealthSettings:
    """Thresholds of the checks."""

    srm_threshold: float = 0.001
    srm_min_relative_deviation: float = 0.0
    srm_by: tuple[str, ...] = ()
    rate_drop: float = 0.2
    quarantine_warn: float = 0.001
    quarantine_fail: float = 0.05
    confidence_level: float = 0.95
    pre_period_alpha: float = 0.001
    pre_period_warn: float = 0.01
    unmatched_warn: float = 0.001
    unmatched_fail: float = 0.05


def worst_status(checks: Sequence[HealthCheck]) -> Status:
    """The most severe status among ``checks`` (``ok`` for none)."""
    return max((c.status for c in checks), key=_RANK.__getitem__, default="ok")


def _assignment_rate(warehouse: Warehouse, exp: Experiment, hours: Sequence[str],
                     settings: HealthSettings) -> HealthCheck:
    rows = experiment_assignments(warehouse, exp)
    stamps = pc.strftime(rows.column("assigned_at"), format="%Y-%m-%dT%H").to_pylist() if rows.num_rows else []
    per_hour = {h: 0 for h in hours}
    for stamp in stamps:
        if stamp in per_hour:
            per_hour[stamp] += 1
    counts = np.array(list(per_hour.values()))
    details = {"assignments_per_hour": per_hour, "total": int(counts.sum())}
    if counts.sum() == 0:
        return HealthCheck("assignment_rate", "fail", "no unit was assigned in the window", details)
    # compare each hour with its neighbours (3 on each side), so daily cycles and the natural slowdown of first
    # assignments are not mistaken for an outage
    low = []
    for i, hour in enumerate(per_hour):
        neighbours = np.r_[counts[max(0, i - 3):i], counts[i + 1:i + 4]]
        if len(neighbours) and counts[i] < settings.rate_drop * float(np.median(neighbours)):
            low.append(hour)
    median = float(np.median(counts))
    if low:
        return HealthCheck("assignment_rate", "warn", f"assignments dropped below {settings.rate_drop:.0%} of the "
                           f"neighbouring hours in {len(low)} hours: {', '.join(low[:5])}", details)
    return HealthCheck("assignment_rate", "ok", f"{int(counts.sum())} units assigned, median {median:.0f}/hour",
                       details)


def _sample_ratio(warehouse: Warehouse, exp: Experiment, hours: Sequence[str], end_hour: str,
                  settings: HealthSettings) -> list[HealthCheck]:
    checks = srm_check(warehouse, exp, by=settings.srm_by, until_hour=end_hour, threshold=settings.srm_threshold,
                       min_relative_deviation=settings.srm_min_relative_deviation)
    overall = checks[0]
    looks = srm_timeline(warehouse, exp, hours[0], end_hour, threshold=settings.srm_threshold)
    sequential = looks[-1].sequential_pvalue if looks else 1.0
    counts = dict(zip(overall.variant_ids, overall.counts, strict=True))
    details = {"counts": counts, "pvalue": overall.pvalue, "sequential_pvalue": sequential,
               "timeline": [look._asdict() for look in looks]}
    details["error"] = overall.error
    bad = overall.mismatch or (looks[-1].mismatch if looks else False)
    since = mismatch_since(looks, settings.srm_threshold) if bad else ""
    details["mismatch_since"] = since
    text = f"units {counts}, chi-square p = {overall.pvalue:.3g}, sequential p = {sequential:.3g}"
    if since:
        text = f"since {since}: {text}"
    if overall.error:
        # 0/0 units (or a single arm) tests nothing: its p = 1 is not evidence of a good split
        what = "no unit assigned" if overall.error == "no_units" else "fewer than 2 arms with traffic"
        out = [HealthCheck("sample_ratio", "no_data", f"nothing to test ({what}): units {counts}", details)]
    else:
        out = [HealthCheck("sample_ratio", "fail" if bad else "ok",
                           ("sample-ratio mismatch: " if bad else "") + text, details)]
    for dim in settings.srm_by:
        slices = [c for c in checks[1:] if c.slice[0][0] == dim]
        flagged = [c for c in slices if c.mismatch]
        reason = (f"mismatch in {', '.join(f'{dim}={c.slice[0][1]}' for c in flagged)} (Holm-adjusted)" if flagged
                  else f"no mismatch in {len(slices)} values of {dim} (Holm-adjusted)")
        status: Status = "warn" if flagged else "ok"
        if not slices:
            status, reason = "no_data", f"nothing to test: no unit with a value of {dim}"
        out.append(HealthCheck(f"sample_ratio_by_{dim}", status, reason, {"slices": [c._asdict() for c in slices]}))
    return out


def mismatch_since(looks: Sequence[SrmLook], threshold: float = 0.001) -> str:
    """The hour an SRM started: the first look of the final run of looks that flag a mismatch (the sequential test,
    or the one-look chi-square p below the threshold at every later look); '' when the last look flags none.

    >>> def look(hour, p, seq=False):
    ...     return SrmLook(hour, (1, 1), p, p, seq)
    >>> mismatch_since([look("h0", 0.5), look("h1", 1e-4), look("h2", 0.3), look("h3", 1e-5), look("h4", 1e-6)])
    'h3'
    >>> mismatch_since([look("h0", 0.5), look("h1", 0.2, True), look("h2", 0.3, True)])
    'h1'
    >>> mismatch_since([look("h0", 1e-9), look("h1", 0.5)])
    ''
    """
    since = ""
    for one in looks:
        flagged = one.mismatch or one.pvalue < threshold
        since = (since or one.hour) if flagged else ""
    return since



def _manifests(warehouse: Warehouse, analysis_type: AnalysisType, hours: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The latest manifest row of each committed hour of the window."""
    rows = read_rows(warehouse, MANIFEST_TABLE)
    latest: dict[str, dict[str, Any]] = {}
    if rows.num_rows == 0:
        return latest
    wanted = set(hours)
    for row in rows.to_pylist():
        if row["analysis_type"] != analysis_type.name or row["hour"] not in wanted:
            continue
        if row["hour"] not in latest or row["committed_at"] >= latest[row["hour"]]["committed_at"]:
            latest[row["hour"]] = row
    return latest


def _marker(path: str) -> bool:
    """A hidden or marker file (``_SUCCESS``, ``.crc``, Spark's ``_temporary/``): listed, not warned about."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith((".", "_")) or "/_" in path.rsplit("/hour=", 1)[-1] or "/." in path


def _not_arrived(m: Mapping[str, Any]) -> bool:
    """An hour committed from no input file without being declared empty (``--allow-empty``)."""
    return not (m["input_files"] or []) and not m.get("allow_empty")


def _input_lister(at: AnalysisType, logs_root: str | None,
                  options: Mapping[str, str] | None) -> Callable[[str], list[LogFile]] | None:
    """The inputs of an hour as the hourly job lists them (its ``source``, else ``logs_root``); ``None``: unknown."""
    if at.source is None and logs_root is None:
        return None
    source = at.source if at.source is not None else default_source(logs_root or "")
    return lambda hour: plan_hour(source, hour, options).files


def _data_checks(warehouse: Warehouse, config: Config, exp: Experiment, hours: Sequence[str],
                 settings: HealthSettings, logs_root: str | None,
                 logs_options: Mapping[str, str] | None) -> list[HealthCheck]:
    missing: dict[str, list[str]] = {}
    not_arrived: dict[str, list[str]] = {}
    read = quarantined = 0
    lost_units: dict[str, int] = {}  # "type hour" -> units all of whose events of the hour were quarantined
    skipped: list[str] = []
    ignored: list[str] = []
    changed: list[str] = []
    changes: dict[str, str] = {}
    compared = False
    unmatched: dict[str, list[int]] = {}  # population -> [rows counted (read - quarantined), unmatched]
    for at in config.analysis_types_of(exp.exp_id):
        manifests = _manifests(warehouse, at, hours)
        empty = [h for h, m in manifests.items() if _not_arrived(m)]
        missing[at.name] = [h for h in hours if h not in manifests or h in empty]
        inputs = _input_lister(at, logs_root, logs_options)
        compared |= inputs is not None
        absent = [h for h in hours if h not in manifests and inputs is not None and not inputs(h)]
        not_arrived[at.name] = sorted({*empty, *absent})
        for hour, m in manifests.items():
            read += m["rows_read"]
            quarantined += m["rows_quarantined"]
            if m.get("units_quarantined"):
                lost_units[f"{at.name} {hour}"] = int(m["units_quarantined"])
            skipped += m["skipped_files"]
            ignored += m.get("ignored_files") or []
            counts = unmatched.setdefault(m.get("population") or "log", [0, 0])
            counts[0] += m["rows_read"] - m["rows_quarantined"]
            counts[1] += m.get("rows_unmatched") or 0
            if inputs is not None and (change := input_change(m, inputs(hour))):
                changed.append(f"{at.name} {hour}")
                changes[f"{at.name} {hour}"] = change
    gaps = {k: v for k, v in missing.items() if v}

    def gap_text(name: str, gap: list[str]) -> str:
        late = [h for h in gap if h in not_arrived[name]]
        text = f"{name}: {len(gap)} hours not committed ({', '.join(gap[:5])})"
        return text + (f", {len(late)} of them without input, not arrived ({', '.join(late[:5])})" if late else "")

    completeness = HealthCheck(
        "data_completeness", "fail" if gaps else "ok",
        "; ".join(gap_text(k, v) for k, v in gaps.items()) or f"all {len(hours)} hours committed",
        {"missing_hours": missing, "not_arrived": not_arrived})
    share = quarantined / read if read else 0.0
    warned = [p for p in ignored if not _marker(p)]
    status: Status = ("fail" if share > settings.quarantine_fail else
                      "warn" if share > settings.quarantine_warn or skipped or warned else "ok")
    ignored_text = (f", {len(ignored)} files ignored ({len(ignored) - len(warned)} hidden or marker)"
                    + (f": {', '.join(warned[:3])}" if warned else "")) if ignored else ""
    quality = HealthCheck("data_quality", status,
                          f"{quarantined} of {read} rows quarantined ({share:.2%}), {len(skipped)} files skipped"
                          + ignored_text,
                          {"rows_read": read, "rows_quarantined": quarantined, "skipped_files": skipped,
                           "ignored_files": ignored})
    lost = sum(lost_units.values())
    worst = sorted(lost_units, key=lambda k: -lost_units[k])[:3]
    units_check = HealthCheck(
        "quarantined_units", "warn" if lost else "ok",
        (f"{lost} units had every event of an hour quarantined, in {len(lost_units)} hours (most: "
         + ", ".join(f"{k}: {lost_units[k]}" for k in worst) + "); they count as zero in the sums")
        if lost else "no unit lost all its events of an hour to quarantine",
        {"units_quarantined": lost, "by_hour": lost_units})
    out = [completeness, quality, units_check, _unmatched_check(unmatched, settings)]
    if compared:
        shown = "; ".join(f"{k} ({changes[k]})" for k in changed[:3])
        out.append(HealthCheck("late_data", "warn" if changed else "ok",
                               f"inputs changed after commit in {len(changed)} hours: {shown}"
                               f"{' ...' if len(changed) > 3 else ''}; re-run them with `rayab backfill`"
                               if changed else "no input changed after commit",
                               {"changed": changed, "changes": changes}))
    return out


def _unmatched_check(counts: Mapping[str, list[int]], settings: HealthSettings) -> HealthCheck:
    """The share of events of units not in the ``assignment`` table, per input mode (see the module docstring)."""
    status: Status = "ok"
    notes = []
    details: dict[str, Any] = {}
    for population, (rows, unmatched) in sorted(counts.items()):
        share = unmatched / rows if rows else 0.0
        details[population] = {"rows": rows, "rows_unmatched": unmatched, "share": share}
        if population == "assignment":
            verdict: Status = "warn" if rows and unmatched == rows else "ok"
            notes.append(f"{unmatched} of {rows} events ({share:.2%}) matched no assignment and belong to no "
                         "experiment" + (": is the assignment table complete?" if verdict != "ok" else ""))
        else:
            verdict = ("fail" if share > settings.unmatched_fail else
                       "warn" if share > settings.unmatched_warn else "ok")
            notes.append(f"{unmatched} of {rows} events ({share:.2%}) are of units not in the assignment table"
                         + ("; they count in the metric sums but not in units" if unmatched else ""))
        status = max(status, verdict, key=_RANK.__getitem__)
    return HealthCheck("unmatched_events", status, "; ".join(notes) or "no committed hour", details)


def _consistency(warehouse: Warehouse, config: Config, exp: Experiment, hours: Sequence[str]) -> HealthCheck:
    found = [m for at in config.analysis_types_of(exp.exp_id)
             for m in hour_mismatches(warehouse, at.name, at.table, hours)]
    for at in config.analysis_types_of(exp.exp_id):  # tables written beside agg_<type> under its commit id
        sides = ([sketch_table(at)] if at.quantile_metrics else []) + ([hits_table(at)] if at.conversion_metrics
                                                                       else [])
        found += [m for table in sides for m in side_table_mismatches(warehouse, at.name, table, hours)]
    details = {"mismatched": [{"analysis_type": m.analysis_type, "hour": m.hour, "reason": m.reason}
                              for m in found]}
    if not found:
        return HealthCheck("manifest_consistency", "ok", "every committed hour's rows match its manifest", details)
    listed = "; ".join(f"{m.analysis_type} {m.hour}: {m.reason}" for m in found[:3])
    return HealthCheck("manifest_consistency", "fail",
                       f"{len(found)} hours hold rows of another commit than their manifest row ({listed}"
                       f"{' ...' if len(found) > 3 else ''}); re-run them with `rayab backfill`", details)


def _guardrail(warehouse: Warehouse, config: Config, exp: Experiment, guardrail: Guardrail, start: str, end: str,
               settings: HealthSettings) -> HealthCheck:
    name = f"guardrail_{guardrail.metric}"
    at = next((a for a in config.analysis_types_of(exp.exp_id)
               if guardrail.metric in (*a.metric_names, *a.composed, *a.quantile_outputs, "units")), None)
    if at is None:
        return HealthCheck(name, "fail", f"no analysis type of {exp.exp_id} has {guardrail.metric}", {})
    try:
        results = experiment_results(warehouse, at, exp, start, end, metrics=[guardrail.metric],
                                     confidence_level=settings.confidence_level)
    except NotFoundError as err:
        return HealthCheck(name, "no_data", str(err), {})
    sign = 1.0 if guardrail.bad_direction == "increase" else -1.0
    tolerance = guardrail.tolerance_pct / 100.0
    status: Status = "ok"
    notes = []
    compared = 0
    for r in results:
        if r.variant_id == exp.control_id or r.slice:
            continue
        if not (np.isfinite(r.rel_ci_lower) and np.isfinite(r.rel_ci_upper)):
            notes.append(f"{r.variant_id} has no interval ({r.error or 'no data'})")
            status = max(status, "no_data", key=_RANK.__getitem__)
            continue
        compared += 1
        near = r.rel_ci_lower if sign > 0 else -r.rel_ci_upper
        verdict: Status = "fail" if near > tolerance else "warn" if near > 0 else "ok"
        status = max(status, verdict, key=_RANK.__getitem__)
        notes.append(f"{r.variant_id} {r.rel_diff:+.2%} [{r.rel_ci_lower:+.2%}, {r.rel_ci_upper:+.2%}]")
    if compared == 0:
        status = max(status, "no_data", key=_RANK.__getitem__)
    reason = (f"{guardrail.metric} must not {guardrail.bad_direction} by more than {guardrail.tolerance_pct:g}%: "
              + "; ".join(notes))
    return HealthCheck(name, status, reason, {"results": [r._asdict() for r in results]})


def _pre_period(warehouse: Warehouse, config: Config, exp: Experiment, start: str, end: str,
                settings: HealthSettings) -> list[HealthCheck]:
    types = [a for a in config.analysis_types_of(exp.exp_id) if a.cuped]
    if not types:
        return []  # no covariates, nothing to compare
    query = Query(exp.exp_id, start, end, method="normal", confidence_level=settings.confidence_level)
    try:
        results = [r for at in types for r in pre_period_bias(warehouse, at, exp, query)]
    except (NotFoundError, StorageError) as err:
        # e.g. hours aggregated before the analysis type listed CUPED metrics lack the <m>__x columns
        return [HealthCheck("pre_period_bias", "fail", f"cannot compare the pre-period: {err}", {})]
    family = max(len(results), 1)
    status: Status = "ok"
    notes = []
    for r in results:
        adjusted = min(1.0, r.pvalue * family) if np.isfinite(r.pvalue) else 1.0
        verdict: Status = ("fail" if adjusted < settings.pre_period_alpha else
                           "warn" if adjusted < settings.pre_period_warn else "ok")
        status = max(status, verdict, key=_RANK.__getitem__)
        if verdict != "ok":
            notes.append(f"{r.metric} {r.variant_id} {r.rel_diff:+.2%} vs control before the start "
                         f"(p={adjusted:.2g} corrected)")
    reason = ("; ".join(notes) if notes else
              f"pre-period covariates balanced across {len(results)} comparison(s)")
    return [HealthCheck("pre_period_bias", status, reason, {"results": [r._asdict() for r in results]})]


def experiment_health(warehouse: Warehouse, config: Config, exp_id: str, start_hour: str, end_hour: str,
                      settings: HealthSettings | None = None, logs_root: str | None = None,
                      logs_options: Mapping[str, str] | None = None) -> list[HealthCheck]:
    """Every health check of an experiment over the window ``[start_hour, end_hour)``."""
    settings = settings or HealthSettings()
    exp = config.experiment(exp_id)
    hours = hours_between(start_hour, end_hour)
    if not hours:
        raise NotFoundError(f"the window [{start_hour}, {end_hour}) holds no hour")
    checks = [_assignment_rate(warehouse, exp, hours, settings),
              *_sample_ratio(warehouse, exp, hours, end_hour, settings),
              *_data_checks(warehouse, config, exp, hours, settings, logs_root, logs_options)]
    checks.append(_consistency(warehouse, config, exp, hours))
    checks += _pre_period(warehouse, config, exp, start_hour, end_hour, settings)
    checks += [_guardrail(warehouse, config, exp, g, start_hour, end_hour, settings) for g in exp.guardrails]
    return checks
