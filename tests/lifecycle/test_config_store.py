"""ConfigStore: versions committed to the warehouse, reloaded as they were, seeded from the experiment table,
repaired when the projection write failed, and new experiments checked against the saved analysis types."""

from __future__ import annotations

import json

import pytest

from rayab.errors import PreconditionError, SpecError, StorageError, ValidationError
from rayab.lifecycle import config_store as module
from rayab.lifecycle.config_store import ConfigStore
from rayab.model.experiment import Experiment, ExperimentStatus
from rayab.simulate import demo_config
from rayab.storage.specs import load_config_version, save_config
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.rpc.servers import spec


def test_reload_gives_the_same_snapshot(workdir):
    wh = Warehouse.from_url(workdir)
    store = ConfigStore(wh)
    store.create(spec("a_test", status="draft"))
    store.update("a_test", status=ExperimentStatus.RUNNING)
    store.update("a_test", rollout_pct=20.0, targeting={"attr": "country", "in": ["FR", "DE"]})
    again = ConfigStore(wh)
    assert again.snapshot == store.snapshot and again.version == 3
    exp = again.get("a_test")[0]
    assert (exp.rollout_pct, exp.version, exp.targeting.to_dict()) == (20.0, 3, {"attr": "country", "in": ["FR", "DE"]})
    assert load_config_version(wh, 1)["experiments"][0]["status"] == "draft"  # type: ignore[index]  # old versions stay readable


def test_seeds_version_one_from_a_saved_yaml_config(workdir):
    wh = Warehouse.from_url(workdir)
    config = demo_config()
    save_config(wh, config)
    store = ConfigStore(wh)
    assert store.version == 1
    assert [e.exp_id for e in store.snapshot.experiments] == sorted(e.exp_id for e in config.experiments)
    assert ConfigStore(wh).version == 1  # seeding happens once


def test_new_experiments_must_fit_the_saved_analysis_types(workdir):
    wh = Warehouse.from_url(workdir)
    save_config(wh, demo_config())
    store = ConfigStore(wh)
    with pytest.raises(SpecError, match=r"^spec.primary_kpi == 'ctr_typo'"):
        store.create(spec("new_test", primary_kpi="ctr_typo"))
    with pytest.raises(PreconditionError):
        store.create(spec(store.snapshot.experiments[0].exp_id))
    assert store.version == 1


def test_a_failed_projection_write_is_repaired_on_reload(workdir, monkeypatch):
    wh = Warehouse.from_url(workdir)
    store = ConfigStore(wh)
    store.create(spec("a_test"))

    def fail(*args, **kwargs):
        raise StorageError("disk full")

    monkeypatch.setattr(module, "append_experiments", fail)
    with pytest.raises(StorageError):
        store.update("a_test", rollout_pct=10.0)
    assert store.version == 2  # the version row was committed: it is the current config
    monkeypatch.undo()
    assert sorted(read_rows(wh, "experiment").column("version").to_pylist()) == [1]
    ConfigStore(wh)
    saved = read_rows(wh, "experiment").to_pylist()
    assert sorted(r["version"] for r in saved) == [1, 2]
    latest = max(saved, key=lambda r: r["version"])
    assert Experiment.from_dict(json.loads(latest["spec"])).rollout_pct == 10.0


def test_a_failed_version_commit_changes_nothing(workdir, monkeypatch):
    wh = Warehouse.from_url(workdir)
    store = ConfigStore(wh)
    store.create(spec("a_test"))

    def fail(*args, **kwargs):
        raise StorageError("warehouse unreachable")

    monkeypatch.setattr(module, "save_config_version", fail)
    with pytest.raises(StorageError):
        store.update("a_test", rollout_pct=10.0)
    assert store.version == 1 and store.get("a_test")[0].rollout_pct == 100.0


def test_stop_sets_the_end_time_and_ship_keeps_the_parameters(workdir):
    store = ConfigStore(Warehouse.from_url(workdir))
    store.create(spec("a_test"))
    stopped, _ = store.update("a_test", status=ExperimentStatus.STOPPED)
    assert stopped.end_time is not None and stopped.end_time > stopped.start_time
    shipped, version = store.ship("a_test", "treatment")
    assert (shipped.status, shipped.shipped, version) == (ExperimentStatus.STOPPED, shipped.variant("treatment"), 3)
    with pytest.raises(PreconditionError, match="shipped treatment"):
        store.ship("a_test", "control")
    with pytest.raises(PreconditionError):
        store.update("a_test", rollout_pct=50.0)


def test_a_stale_writer_is_refused_and_loses_nothing(workdir):
    from rayab.errors import ConflictError

    warehouse = Warehouse.from_url(workdir / "wh")
    first, second = ConfigStore(warehouse), ConfigStore(warehouse)  # two writers on one warehouse, both at 0
    assert first.create(spec("from_first"))[1] == 1
    with pytest.raises(ConflictError, match="config version 0 is stale: another writer committed version 1"):
        second.create(spec("from_second"))
    assert second.version == 1  # refused, and reloaded: the retry is based on the new version
    assert second.create(spec("from_second"))[1] == 2
    with pytest.raises(ConflictError):
        first.update("from_first", rollout_pct=20.0)
    assert first.update("from_first", rollout_pct=20.0)[1] == 3
    assert first.refresh() is False and second.refresh() is True and second.version == 3
    reloaded = ConfigStore(warehouse)
    assert [(e.exp_id, e.rollout_pct) for e in reloaded.snapshot.experiments] == [("from_first", 20.0),
                                                                                  ("from_second", 100.0)]
    versions = sorted(read_rows(warehouse, "_config_version").column("version").to_pylist())
    assert versions == [1, 2, 3]  # each version committed once: no second "version 2"


def test_every_change_records_who_when_and_what_as_the_history(workdir):
    from datetime import UTC, datetime

    from rayab.storage.specs import load_config_history

    wh = Warehouse.from_url(workdir)
    store = ConfigStore(wh)
    before = datetime.now(UTC)
    store.create(spec("a_test", status="draft"), changed_by="ada@example.com")
    store.create(spec("b_test", status="draft"), changed_by="bob")
    store.update("a_test", status=ExperimentStatus.RUNNING, rollout_pct=5.0, changed_by="ada@example.com")
    store.update("a_test", owner="search-team", description="Boost fresh results", planned_units=40_000,
                 changed_by="carol")
    store.ship("a_test", "treatment", changed_by="dan")
    history = load_config_history(wh, "a_test")
    assert [(h.version, h.changed_by) for h in history] == [
        (5, "dan"), (4, "carol"), (3, "ada@example.com"), (1, "ada@example.com")]
    assert all(h.exp_ids == ("a_test",) for h in history) and all(h.committed_at >= before for h in history)
    assert history[2].change == "update a_test: rollout_pct 100 -> 5, status draft -> running"
    assert history[1].change == ("update a_test: description - -> Boost fresh results, owner - -> search-team, "
                                 "planned_units 0 -> 40000")
    assert history[0].change.startswith("ship a_test: treatment")
    assert [h.version for h in load_config_history(wh, "b_test")] == [2]
    exp = ConfigStore(wh).get("a_test")[0]  # the descriptive fields are part of the committed spec
    assert (exp.owner, exp.description, exp.planned_units, exp.status) == (
        "search-team", "Boost fresh results", 40_000, ExperimentStatus.STOPPED)
    with pytest.raises(ValidationError, match=r"^update == 'a_test': changes nothing"):
        store.update("a_test", owner="search-team")
    with pytest.raises(SpecError, match=r"^planned_units == -3: must be in \[0, "):
        store.update("a_test", planned_units=-3)
    store.archive("a_test")
    with pytest.raises(PreconditionError, match="archived: it cannot be edited"):
        store.update("a_test", owner="x")


def test_history_of_a_table_written_before_the_columns_existed(workdir):
    """An older _config_version (no changed_by / exp_ids columns) gains them on the next commit; its rows are
    attributed by their change text."""
    import pyarrow as pa

    from rayab.storage.specs import load_config_history
    from rayab.storage.tables import append_rows

    wh = Warehouse.from_url(workdir)
    store = ConfigStore(wh)
    store.create(spec("a_test"))
    old = read_rows(wh, "_config_version").select(["version", "committed_at", "change", "spec"])
    import shutil

    shutil.rmtree(f"{workdir}/_config_version")
    append_rows(wh, "_config_version", pa.Table.from_pylist(old.to_pylist(), schema=old.schema))
    fresh = ConfigStore(wh)
    fresh.update("a_test", rollout_pct=50.0, changed_by="ada")
    history = load_config_history(wh, "a_test")
    assert [(h.version, h.changed_by, h.exp_ids) for h in history] == [(2, "ada", ("a_test",)),
                                                                     (1, "", ("a_test",))]
