"""The randomization-unit check on generated clustered data: households randomized whole are caught, people
randomized one by one are not, and the warning says what it means and what to do."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayab.cli.main import main
from rayab.guardrails.clustering import cluster_check, config_cluster_warnings
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.specs import save_config
from rayab.storage.warehouse import Warehouse


def _people(by_household: bool, seed: int = 1, households: int = 400) -> pa.Table:
    """1-4 people per household, 50/50 by household or by person."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, households)
    household = np.repeat(np.arange(households), sizes)
    arm = rng.integers(0, 2, households)[household] if by_household else rng.integers(0, 2, len(household))
    return pa.table({"unit_id": [f"p{i}" for i in range(len(household))],
                     "variant_id": np.where(arm == 1, "treatment", "control").tolist(),
                     "assigned_at": ["2026-11-23T01:00:00Z"] * len(household),
                     "household_id": [f"h{h}" for h in household]})


def _reference_mixed(table: pa.Table) -> tuple[int, int, float]:
    """Clusters with 2+ units, those holding both arms, and the expected number under per-person 50/50."""
    arms: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    for row in table.to_pylist():
        arms.setdefault(row["household_id"], set()).add(row["variant_id"])
        sizes[row["household_id"]] = sizes.get(row["household_id"], 0) + 1
    multi = [h for h, k in sizes.items() if k >= 2]
    return len(multi), sum(len(arms[h]) > 1 for h in multi), sum(1 - 2 * 0.5 ** sizes[h] for h in multi)


@pytest.mark.parametrize("by_household", [True, False])
def test_check_against_a_plain_count(by_household: bool) -> None:
    table = _people(by_household)
    check = cluster_check(table, "household_id", {"control": 50, "treatment": 50})
    multi, mixed, expected = _reference_mixed(table)
    assert (check.multi_unit_clusters, check.mixed_clusters) == (multi, mixed)
    assert check.expected_mixed == pytest.approx(expected)
    assert check.clustered is by_household
    assert (mixed == 0) is by_household


def test_too_few_clusters_is_not_a_verdict() -> None:
    table = _people(True, households=6)
    check = cluster_check(table, "household_id", {"control": 50, "treatment": 50})
    assert not check.clustered and "too few to tell" in check.message()


def _load(tmp: Path, table: pa.Table, config: Config, *extra: str) -> dict[str, object]:
    path = tmp / "people.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.column_names)
        writer.writerows(zip(*[table.column(c).to_pylist() for c in table.column_names], strict=True))
    warehouse = str(tmp / "wh")
    save_config(Warehouse.from_url(warehouse), config)
    assert main(["assignments", "load", str(path), "--exp", "ranker_v2", "--warehouse", warehouse, *extra]) == 0
    return {"warehouse": warehouse, "path": str(path)}


def test_the_load_warns_when_households_were_randomized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _load(tmp_path, _people(True), demo_config("2026-11-23T00:00:00Z"), "--cluster-column", "household_id")
    out = capsys.readouterr().out
    assert "warning: the variant is constant within household_id" in out
    assert "too narrow" in out and "--unit-column household_id" in out


def test_no_warning_when_people_were_randomized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _load(tmp_path, _people(False), demo_config("2026-11-23T00:00:00Z"), "--cluster-column", "household_id",
          "--format", "json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["warnings"] == [] and summary["cluster_check"]["clustered"] is False
    assert summary["cluster_check"]["mixed_clusters"] > 100


def test_the_config_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = demo_config("2026-11-23T00:00:00Z").to_dict()
    ranker = next(e for e in data["experiments"] if e["exp_id"] == "ranker_v2")
    ranker["cluster_column"] = "household_id"
    config = Config.from_dict(data)
    exp = config.experiment("ranker_v2")
    assert Config.from_dict(config.to_dict()).experiment("ranker_v2").cluster_column == "household_id"
    (warning,) = config_cluster_warnings(exp, config.analysis_types_of("ranker_v2"))
    assert "randomized by household_id" in warning and "analyses unit_id" in warning
    # the load uses the config's cluster column for the data check too, and prints both warnings
    _load(tmp_path, _people(True), config, "--format", "json")
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["warnings"]) == 2 and summary["cluster_check"]["clustered"] is True


def test_what_the_warning_says_holds_on_clustered_outcomes() -> None:
    """Households randomized whole, outcomes shared within a household: the bootstrap that resamples people (what a
    per-person analysis does) gives a standard error clearly below the one that resamples households."""
    from rayab.stats.poisson_weights import weights_for

    rng = np.random.default_rng(5)
    table = _people(True, seed=5, households=600)
    household = np.array([int(h[1:]) for h in table.column("household_id").to_pylist()])
    treated = np.array([v == "treatment" for v in table.column("variant_id").to_pylist()])
    y = rng.normal(0, 1, household.max() + 1)[household] + rng.normal(0, 0.5, len(household))
    assert cluster_check(table, "household_id", {"control": 50, "treatment": 50}).clustered

    def spread(weights: np.ndarray) -> float:
        diffs = [np.average(y[treated], weights=w[treated]) - np.average(y[~treated], weights=w[~treated])
                 for w in weights.T.astype(float)]
        return float(np.std(diffs))

    b = 400
    per_person = spread(weights_for("s", table.column("unit_id").to_pylist(), b))
    per_household = spread(weights_for("s", [f"h{h}" for h in range(household.max() + 1)], b)[household])
    assert per_person < 0.8 * per_household
