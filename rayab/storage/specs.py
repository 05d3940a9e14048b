"""Experiment and analysis-type specs persisted in the warehouse: the ``experiment`` and ``variant`` tables of the
data model (one row per experiment / variant and config version) and ``_analysis_type`` (specs as JSON).

>>> import tempfile
>>> from rayab.simulate import demo_config
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> save_config(wh, demo_config())
>>> [e.exp_id for e in load_saved_config(wh).experiments]
['aa_check', 'ranker_v2']
"""

from __future__ import annotations

import json

import pyarrow as pa

from rayab.errors import NotFoundError
from rayab.model import AnalysisType, Config, Experiment
from rayab.storage.schemas import EXPERIMENT, VARIANT
from rayab.storage.tables import append_rows, read_rows
from rayab.storage.warehouse import Warehouse

__all__ = ["load_saved_config", "save_config"]

_ANALYSIS_TYPE = pa.schema([("name", pa.string()), ("version", pa.int64()), ("spec", pa.string())])


def save_config(warehouse: Warehouse, config: Config) -> None:
    """Append the config's experiments, variants and analysis types (each row carries its version)."""
    experiments = pa.Table.from_pylist([{
        "exp_id": e.exp_id, "name": e.name, "start_time": e.start_time, "end_time": e.end_time,
        "unit": e.unit.value, "primary_kpi": e.primary_kpi, "status": e.status.value, "layer": e.layer,
        "version": e.version, "spec": json.dumps(e.to_dict(), sort_keys=True),
    } for e in config.experiments], schema=EXPERIMENT)
    variants = pa.Table.from_pylist([{
        "exp_id": e.exp_id, "variant_id": v.variant_id, "traffic_pct": v.traffic_pct,
        "parameters": json.dumps(dict(v.parameters), sort_keys=True), "version": e.version,
    } for e in config.experiments for v in e.variants], schema=VARIANT)
    types = pa.Table.from_pylist([{"name": a.name, "version": 1, "spec": json.dumps(a.to_dict(), sort_keys=True)}
                                  for a in config.analysis_types], schema=_ANALYSIS_TYPE)
    append_rows(warehouse, "_analysis_type", types)
    append_rows(warehouse, "experiment", experiments)
    append_rows(warehouse, "variant", variants)


def _latest(table: pa.Table, key: str) -> list[str]:
    latest: dict[str, tuple[int, int, str]] = {}
    for i, (k, version, spec) in enumerate(zip(table.column(key).to_pylist(), table.column("version").to_pylist(),
                                              table.column("spec").to_pylist(), strict=True)):
        if k not in latest or (version, i) >= latest[k][:2]:
            latest[k] = (version, i, spec)
    return [latest[k][2] for k in sorted(latest)]


def load_saved_config(warehouse: Warehouse) -> Config:
    """The latest version of every saved experiment and analysis type."""
    types = read_rows(warehouse, "_analysis_type")
    if types.num_rows == 0:
        raise NotFoundError(f"no saved config in warehouse {warehouse.url}: run `rayab demo` or pass --config")
    exps = read_rows(warehouse, "experiment")
    return Config(
        analysis_types=tuple(AnalysisType.from_dict(json.loads(s)) for s in _latest(types, "name")),
        experiments=tuple(Experiment.from_dict(json.loads(s)) for s in _latest(exps, "exp_id"))
        if exps.num_rows else (),
    )
