"""Layers: exclusivity inside a layer, slice shares, independence across layers, slice validation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import pytest
from scipy import stats

from rayab.assignment.engine import Assigner, ConfigSnapshot
from rayab.assignment.layers import check_layers, in_layer_slice, layer_position
from rayab.errors import SpecError
from rayab.model.experiment import Experiment

ExperimentFactory = Callable[..., Experiment]
N_UNITS = 100_000
SLICES = {"home_a": (0, 20), "home_b": (20, 50), "home_c": (50, 100)}


def unit_ids(n: int) -> list[str]:
    return [f"unit-{i:07d}" for i in range(n)]


def layered(experiment: ExperimentFactory, hash_mode: str = "rayab") -> list[Experiment]:
    return [experiment(exp_id, layer="home", layer_pct=list(pct), hash_mode=hash_mode)
            for exp_id, pct in SLICES.items()]


@pytest.mark.parametrize("hash_mode", ["rayab", "growthbook"])
def test_no_unit_is_in_two_experiments_of_one_layer(experiment: ExperimentFactory, hash_mode: str) -> None:
    assigner = Assigner.from_experiments([*layered(experiment, hash_mode), experiment("other")])
    per_experiment: Counter[str] = Counter()
    for unit_id in unit_ids(N_UNITS):
        assignments = {a.exp_id: a for a in assigner.assign(unit_id, {})}
        in_home = [e for e in SLICES if assignments[e].in_experiment]
        assert len(in_home) == 1  # the slices cover the whole layer, and every rollout is 100%
        assert assignments["other"].in_experiment  # another layer overlaps freely
        per_experiment[in_home[0]] += 1
    for exp_id, (start, end) in SLICES.items():
        share = (end - start) / 100
        sigma = math.sqrt(share * (1 - share) / N_UNITS)
        assert abs(per_experiment[exp_id] / N_UNITS - share) < 5 * sigma, exp_id


def test_slice_shares_fit_a_chi_square(experiment: ExperimentFactory) -> None:
    experiments = layered(experiment)
    counts = Counter(next(e.exp_id for e in experiments if in_layer_slice(e, u)) for u in unit_ids(N_UNITS))
    expected = [N_UNITS * (end - start) / 100 for start, end in SLICES.values()]
    assert stats.chisquare([counts[e] for e in SLICES], expected).pvalue > 1e-3


def test_layer_position_is_independent_of_the_variant_and_of_other_layers(experiment: ExperimentFactory) -> None:
    home_a, _, _ = layered(experiment)
    other = experiment("other", (30, 70), layer="search")
    ids = unit_ids(N_UNITS)
    in_slice = [in_layer_slice(home_a, u) for u in ids]
    assigner = Assigner.from_experiments([other, experiment("solo")])
    variants = [assigner.assign(u, {}, ["other"])[0].variant_id for u in ids]
    table = Counter(zip(in_slice, variants, strict=True))
    matrix = [[table[(s, v)] for v in ("v0", "v1")] for s in (False, True)]
    assert stats.chi2_contingency(matrix).pvalue > 1e-3
    # Within the slice, the variant split is still 50/50: the layer salt differs from the assignment salt.
    inside = [a for a, s in zip(ids, in_slice, strict=True) if s]
    single = Assigner.from_experiments([home_a])
    split = Counter(single.assign(u, {})[0].variant_id for u in inside)
    assert stats.chisquare([split["v0"], split["v1"]]).pvalue > 1e-3


def test_units_outside_the_targeting_are_not_handed_to_a_neighbour(experiment: ExperimentFactory) -> None:
    home_a = experiment("home_a", layer="home", layer_pct=[0, 50], targeting={"attr": "country", "eq": "FR"})
    home_b = experiment("home_b", layer="home", layer_pct=[50, 100])
    assigner = Assigner.from_experiments([home_a, home_b])
    for unit_id in unit_ids(5_000):
        a, b = assigner.assign(unit_id, {"country": "DE"})
        assert not a.in_experiment
        assert b.in_experiment is (b.reason == "assigned")
        assert b.in_experiment is (not in_layer_slice(home_a, unit_id))


def test_ramping_a_layered_experiment_keeps_everyone_in_place(experiment: ExperimentFactory) -> None:
    ids = unit_ids(20_000)
    previous: dict[str, str | None] = {}
    for pct in (1, 5, 10, 50, 100):
        exp = experiment("home_a", layer="home", layer_pct=[10, 60], rollout_pct=pct)
        assigner = Assigner.from_experiments([exp, experiment("home_b", layer="home", layer_pct=[60, 100])])
        current = {u: assigner.assign(u, {}, ["home_a"])[0].variant_id for u in ids}
        for unit_id, variant in previous.items():
            if variant is not None:
                assert current[unit_id] == variant
        previous = current
    assert sum(v is not None for v in previous.values()) / len(ids) == pytest.approx(0.5, abs=0.02)


def test_overlapping_slices_are_rejected(experiment: ExperimentFactory) -> None:
    first = experiment("home_a", layer="home", layer_pct=[0, 50])
    second = experiment("home_b", layer="home", layer_pct=[49.5, 100])
    with pytest.raises(SpecError) as info:
        ConfigSnapshot(1, (first, second))
    assert info.value.field == "experiments[1].layer_pct"
    assert "overlaps experiment home_a [0, 50) in layer home" in str(info.value)


def test_default_slices_of_one_layer_overlap(experiment: ExperimentFactory) -> None:
    with pytest.raises(SpecError, match="overlaps experiment"):
        check_layers([experiment("home_a", layer="home"), experiment("home_b", layer="home")])


def test_touching_slices_and_other_layers_are_fine(experiment: ExperimentFactory) -> None:
    layers = check_layers([experiment("home_a", layer="home", layer_pct=[0, 50]),
                           experiment("home_b", layer="home", layer_pct=[50, 100]),
                           experiment("search_a", layer="search")])
    assert {name: [e.exp_id for e in members] for name, members in layers.items()} == {
        "home": ["home_a", "home_b"], "search": ["search_a"]}


def test_stopped_experiments_release_their_slice(experiment: ExperimentFactory) -> None:
    old = experiment("home_old", layer="home", status="stopped")
    shipped = experiment("home_shipped", layer="home", status="stopped", shipped_variant="v1")
    new = experiment("home_new", layer="home")
    assert check_layers([old, shipped, new])["home"] == (new,)
    draft = experiment("home_draft", layer="home", status="draft")
    with pytest.raises(SpecError, match="overlaps"):
        check_layers([draft, new])


@pytest.mark.parametrize(("field", "value"), [("hash_mode", "growthbook"), ("consistency", "session")])
def test_a_layer_shares_one_hash_mode_and_consistency(experiment: ExperimentFactory, field: str,
                                                      value: str) -> None:
    first = experiment("home_a", layer="home", layer_pct=[0, 50])
    second = experiment("home_b", layer="home", layer_pct=[50, 100], **{field: value})
    with pytest.raises(SpecError) as info:
        check_layers([first, second])
    assert info.value.field == f"experiments[1].{field}"


def test_layer_positions_use_the_layer_salt(experiment: ExperimentFactory) -> None:
    exp = experiment("home_a", layer="home", layer_pct=[0, 50])
    same_layer = experiment("home_b", layer="home", layer_pct=[50, 100])
    other_layer = experiment("search_a", layer="search")
    ids = unit_ids(100)
    assert [layer_position(exp, u) for u in ids] == [layer_position(same_layer, u) for u in ids]
    assert [layer_position(exp, u) for u in ids] != [layer_position(other_layer, u) for u in ids]


@pytest.mark.parametrize("pct", [[50, 50], [60, 40], [-1, 50], [0, 101], [0], "0-50"])
def test_invalid_layer_pct(experiment: ExperimentFactory, pct: object) -> None:
    with pytest.raises(SpecError) as info:
        experiment("home_a", layer="home", layer_pct=pct)
    assert info.value.field.startswith("experiment.layer_pct")
