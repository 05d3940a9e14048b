"""The hour's sketches summed in one pass (``HourSketches.total``, what the reducer commits) equal a plain-Python
histogram of the raw events with the reference Poisson weights, whatever the split of the events into parts."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rayab.aggregate.sketches import HourSketches, event_sketches, layout_of
from rayab.simulate import latency_config
from rayab.stats.poisson_weights import poisson_weights, unit_keys

CONFIG = latency_config(n_replicates=7)
AT = CONFIG.analysis_types[0]
SALTS = {"speed_v2": CONFIG.experiments[0].bootstrap_salt, "other": "salt-of-other"}
LAYOUT = layout_of(AT.quantile_metrics[0])


def _events(rows: list[tuple[int, int, int, int, float]]) -> pa.Table:
    exps, variants, platforms = ("speed_v2", "other"), ("control", "treatment"), ("ios", "web", "tv")
    return pa.table({
        "exp_id": [exps[r[0]] for r in rows], "variant_id": [variants[r[1]] for r in rows],
        "platform": [platforms[r[2]] for r in rows], "unit_id": [f"u{r[3]}" for r in rows],
        "latency": pa.array([r[4] for r in rows], pa.float64())})


def _reference(table: pa.Table) -> dict[tuple[str, ...], tuple[int, list[int]]]:
    """(exp, variant, platform, metric, bucket) -> (events, B weighted counts), by plain Python over the rows."""
    b = AT.n_replicates
    out: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * (b + 1))
    for row in table.to_pylist():
        key = int(LAYOUT.keys(np.array([row["latency"]]))[0])
        k1, k2 = unit_keys(SALTS[row["exp_id"]], [row["unit_id"]])
        weights = poisson_weights(k1, k2, b)[0]
        slot = out[(row["exp_id"], row["variant_id"], row["platform"], "latency", str(key))]
        slot[0] += 1
        for r in range(b):
            slot[r + 1] += int(weights[r])
    return {k: (v[0], v[1:]) for k, v in out.items()}


def _as_dict(sketches: HourSketches) -> dict[tuple[str, ...], tuple[int, list[int]]]:
    table = sketches.to_table("2026-11-23T00", AT)
    return {(r["exp_id"], r["variant_id"], r["platform"], r["metric"], str(r["bucket"])): (
        r["n_events"], r["n_events_reps"]) for r in table.to_pylist()}


row = st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 2), st.integers(0, 12),
                st.sampled_from([0.0, 1.0, 3.5, 120.0, 121.0, 900.0, 1e5]))


@settings(max_examples=40, deadline=None)
@given(st.lists(row, max_size=40), st.lists(st.integers(0, 4), max_size=40))
def test_total_of_any_split_is_the_plain_python_histogram(rows: list[tuple[int, int, int, int, float]],
                                                          parts: list[int]) -> None:
    whole = _events(rows)
    part_of = [parts[i] if i < len(parts) else 0 for i in range(len(rows))]
    pieces = [event_sketches(_events([r for r, p in zip(rows, part_of, strict=True) if p == k]), AT, SALTS)
              for k in range(5)]
    expected = _reference(whole)
    assert _as_dict(HourSketches.total([HourSketches.zero(AT), *pieces])) == expected
    assert _as_dict(HourSketches.total(pieces[::-1])) == expected  # order does not matter
    assert _as_dict(pieces[0] + pieces[1] + pieces[2] + pieces[3] + pieces[4]) == expected
    assert _as_dict(event_sketches(whole, AT, SALTS)) == expected
