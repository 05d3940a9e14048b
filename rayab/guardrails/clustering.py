"""Is the randomization unit the analysis unit? A check on assignments, from the data and from the config.

rayab's bootstrap resamples analysis units (the ``unit_id`` of the assignments and events) independently. When
whole clusters were randomized instead (every person of a household, every household at an address), units of one
cluster share their variant and usually their outcomes, so a unit-level interval is too narrow and its p-values too
small. The remedy is to analyse with the cluster as the unit: assignments keyed by the cluster id and events
carrying it as the analysis type's ``unit_column``, so the bootstrap resamples whole clusters.

The data say so (:func:`cluster_check`) when the variant is constant within the clusters of a coarser id column:
among clusters with two or more units, at most 1% hold more than one variant, where randomizing unit by unit would
have mixed at least :data:`MIN_EXPECTED_MIXED` of them (a cluster of ``k`` units stays in one variant with
probability ``sum_v p_v**k``, ``p_v`` the variants' traffic shares). The config says so
(:func:`config_cluster_warnings`) when the experiment names a ``cluster_column`` that is not the ``unit_column`` of
an analysis type measuring it.

>>> import pyarrow as pa
>>> rows = pa.table({"variant_id": ["a", "a", "b", "b"] * 20,
...                  "household_id": [f"h{i // 2}" for i in range(80)]})
>>> check = cluster_check(rows, "household_id", {"a": 50, "b": 50})
>>> check.clustered, check.multi_unit_clusters, check.mixed_clusters, round(check.expected_mixed, 1)
(True, 40, 0, 20.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayab.errors import ValidationError
from rayab.model import AnalysisType, Experiment

__all__ = ["MIN_EXPECTED_MIXED", "ClusterCheck", "cluster_check", "config_cluster_warnings"]

MIN_EXPECTED_MIXED = 5.0
_MAX_MIXED_SHARE = 0.01


@dataclass(frozen=True)
class ClusterCheck:
    """What the assignments say about ``column``: clusters, how many mix variants, how many would if units had been
    randomized one by one, and the verdict."""

    column: str
    clusters: int
    multi_unit_clusters: int
    mixed_clusters: int
    expected_mixed: float
    mean_cluster_size: float
    clustered: bool

    def message(self, unit_column: str = "unit_id") -> str:
        """One paragraph for the user: the finding, and what to do about it."""
        if not self.clustered:
            if self.expected_mixed < MIN_EXPECTED_MIXED:
                return (f"{self.column}: {self.multi_unit_clusters} clusters with 2+ units, too few to tell whether "
                        f"the experiment was randomized by {self.column}")
            return (f"{self.column}: {self.mixed_clusters} of {self.multi_unit_clusters} clusters with 2+ units "
                    f"hold several variants: randomized by {unit_column}, as analysed")
        return (f"warning: the variant is constant within {self.column} in "
                f"{self.multi_unit_clusters - self.mixed_clusters} of {self.multi_unit_clusters} clusters with 2+ "
                f"units (randomizing {unit_column} one by one would have mixed about {self.expected_mixed:.0f}): "
                f"the experiment was randomized by {self.column}, not by {unit_column}. Intervals computed per "
                f"{unit_column} treat the {self.mean_cluster_size:.2f} units of a cluster (on average) as independent, "
                f"so they are too narrow and p-values too small. Analyse with {self.column} as the unit: load the "
                f"assignments with --unit-column {self.column} and give the analysis type unit_column: "
                f"{self.column} (events carrying it), so the bootstrap resamples whole clusters.")


def cluster_check(rows: pa.Table, column: str, traffic: Mapping[str, float]) -> ClusterCheck:
    """Check ``rows`` (one per unit: ``variant_id`` and ``column``) for clusters of ``column`` randomized whole;
    ``traffic`` gives the variants' traffic shares (any scale). Rows with a null or empty cluster id are left out.
    """
    if column not in rows.column_names:
        raise ValidationError("--cluster-column", column, f"is not a column of the assignments (columns: "
                              f"{', '.join(c for c in rows.column_names if c not in ('exp_id', 'date'))})")
    cluster = rows.column(column).cast(pa.string())
    keep = pc.fill_null(pc.greater(pc.utf8_length(cluster), 0), False)
    part = pa.table({"c": cluster, "v": rows.column("variant_id").cast(pa.string())}).filter(keep)
    if part.num_rows == 0:
        return ClusterCheck(column, 0, 0, 0, 0.0, 0.0, False)
    sizes = part.group_by("c", use_threads=False).aggregate([("v", "count"), ("v", "count_distinct")])
    k = np.asarray(sizes.column("v_count"), np.int64)
    distinct = np.asarray(sizes.column("v_count_distinct"), np.int64)
    total = float(sum(traffic.values()))
    shares = np.array([w / total for w in traffic.values() if w > 0], np.float64)
    multi = k >= 2
    stay = (shares[None, :] ** k[multi][:, None]).sum(axis=1)
    expected = float((1.0 - stay).sum())
    mixed = int(np.count_nonzero(distinct[multi] > 1))
    n_multi = int(np.count_nonzero(multi))
    clustered = n_multi > 0 and expected >= MIN_EXPECTED_MIXED and mixed <= _MAX_MIXED_SHARE * n_multi
    return ClusterCheck(column, len(k), n_multi, mixed, expected, float(k.mean()), bool(clustered))


def config_cluster_warnings(experiment: Experiment, analysis_types: Sequence[AnalysisType]) -> list[str]:
    """Warnings when the experiment's ``cluster_column`` (the unit it randomized) is not an analysis unit."""
    cluster = experiment.cluster_column
    if not cluster:
        return []
    return [f"warning: experiment {experiment.exp_id} is randomized by {cluster} (its cluster_column) but analysis "
            f"type {at.name} analyses {at.unit_column}: its intervals are too narrow. Give the analysis type "
            f"unit_column: {cluster} and load the assignments with --unit-column {cluster}."
            for at in analysis_types if at.unit_column != cluster]
