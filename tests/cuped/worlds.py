"""A simulated world with per-unit pre-period covariates driven by the same random effect as the outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.covariates import covariate_table, write_covariates
from rayab.model import Config
from rayab.simulate import UnitPopulation
from tests.worlds import World, make_world

CUPED_METRICS = ("clicks", "revenue")


@dataclass
class CupedWorld:
    world: World
    x: dict[tuple[str, str], dict[str, int]]  # (exp_id, metric) -> unit -> x at the metric's scale

    def unit_table(self, exp_id: str, metric: str) -> tuple[dict[str, str], dict[str, float], dict[str, float]]:
        """Per assigned unit of ``exp_id``: variant, outcome y and covariate x (at unit scale), by plain Python."""
        scale = 100 if metric == "revenue" else 1
        assigned = self.world.assignments.filter(pc.equal(self.world.assignments.column("exp_id"), exp_id))
        variant = dict(zip(assigned.column("unit_id").to_pylist(), assigned.column("variant_id").to_pylist(),
                           strict=True))
        y = dict.fromkeys(variant, 0)
        for table in self.world.events.values():
            rows = table.filter(pc.equal(table.column("exp_id"), exp_id))
            for unit, value in zip(rows.column("unit_id").to_pylist(), rows.column(metric).to_pylist(), strict=True):
                y[unit] += round(value * scale)
        xs = self.x[(exp_id, metric)]
        return variant, {u: v / scale for u, v in y.items()}, {u: xs.get(u, 0) / scale for u in variant}


def cuped_config(config: Config) -> Config:
    data = config.to_dict()
    data["analysis_types"][0]["cuped"] = list(CUPED_METRICS)
    return Config.from_dict(data)


def make_cuped_world(root: Path, n_units: int = 2000, n_hours: int = 12, seed: int = 4, n_replicates: int = 200,
                     imbalance: dict[str, tuple[str, str]] | None = None) -> CupedWorld:
    """``imbalance`` maps exp_id to (metric, variant): that variant's units get their covariate tripled, a planted
    pre-period difference. Every 7th unit has no covariate row (x = 0)."""
    world = make_world(root, n_units=n_units, n_hours=n_hours, seed=seed, n_replicates=n_replicates)
    world.config = cuped_config(world.config)
    population = UnitPopulation.generate(n_units, seed=seed)
    rng = np.random.default_rng([seed, 11])
    # a week of pre-period activity from the same unit rates as the outcomes (both driven by the random effect)
    x_values = {"clicks": rng.poisson(population.events_per_day * 7 * population.click_prob),
                "revenue": rng.poisson(population.events_per_day * 7 * population.click_prob * 150)}
    units = population.unit_ids.tolist()
    keep = [i for i in range(n_units) if i % 7]
    out: dict[tuple[str, str], dict[str, int]] = {}
    for exp in world.config.experiments:
        variants = population.variants_of(exp)
        parts = []
        for metric, values in x_values.items():
            planted = values.copy()
            if imbalance and exp.exp_id in imbalance and imbalance[exp.exp_id][0] == metric:
                planted = np.where(variants == imbalance[exp.exp_id][1], planted * 3, planted)
            out[(exp.exp_id, metric)] = {units[i]: int(planted[i]) for i in keep}
            parts.append(covariate_table(exp.exp_id, [units[i] for i in keep], metric, planted[keep]))
        write_covariates(world.warehouse, exp.exp_id, pa.concat_tables(parts))
    return CupedWorld(world, out)
