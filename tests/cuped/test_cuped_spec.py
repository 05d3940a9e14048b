"""The ``cuped`` field of an analysis type and the covariate lookup: errors name the field, value and rule."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rayab.aggregate.covariates import Covariates, covariate_table
from rayab.aggregate.partials import metric_columns
from rayab.aggregate.shards import shard_partial_ids
from rayab.aggregate.unit_rows import assignment_unit_ids, event_unit_ids
from rayab.errors import SpecError, ValidationError
from rayab.model import AnalysisType, Metric
from rayab.storage.schemas import agg_schema


def _at() -> AnalysisType:
    return AnalysisType("t", (Metric("clicks"), Metric("revenue", decimals=2)), cuped=("revenue",), n_replicates=4)


def test_cuped_columns_in_partials_and_schema() -> None:
    at = _at()
    assert metric_columns(at) == ("units", "clicks", "revenue", "revenue__x", "revenue__xx", "revenue__xy")
    assert "revenue__xy_reps" in agg_schema(at).names
    assert AnalysisType.from_dict(at.to_dict()) == at
    assert "cuped" not in AnalysisType("t", (Metric("clicks"),)).to_dict()


@pytest.mark.parametrize(("cuped", "field", "rule"), [
    (["views"], "analysis_type.cuped[0]", "must be an additive metric"),
    (["clicks", "clicks"], "analysis_type.cuped[1]", "listed twice"),
    ("clicks", "analysis_type.cuped", "must be a list"),
])
def test_cuped_spec_errors(cuped: object, field: str, rule: str) -> None:
    with pytest.raises(SpecError) as info:
        AnalysisType.from_dict({"name": "t", "metrics": [{"name": "clicks"}], "cuped": cuped})
    assert info.value.field == field and rule in info.value.rule


def test_cuped_column_clash_is_an_error() -> None:
    with pytest.raises(SpecError, match="clicks__x clashes"):
        AnalysisType("t", (Metric("clicks"), Metric("clicks__x")), cuped=("clicks",))


def test_unit_rows_carry_x_products_and_missing_units_get_zero() -> None:
    at = _at()
    cov = Covariates.from_table(covariate_table("e", ["u1", "u2"], "revenue", [250, -1]), at)
    valid = pa.table({"exp_id": ["e"] * 4, "variant_id": ["a", "a", "b", "b"], "unit_id": ["u1", "u1", "u2", "u3"],
                      "clicks": [1, 0, 2, 1], "revenue": [100, 50, 7, 9]})
    events = shard_partial_ids(event_unit_ids(valid, at, 1), at, {"e": "s"}, cov).partial
    firsts = pa.table({"exp_id": ["e"] * 3, "variant_id": ["a", "b", "b"], "unit_id": ["u1", "u2", "u3"]})
    units = shard_partial_ids(assignment_unit_ids(firsts, at, 1), at, {"e": "s"}, cov).partial
    total = events + units
    cols = {name: total.raw[name].tolist() for name in total.metric_names}
    # a: u1 x=250, y=150; b: u2 x=-1 y=7, u3 no covariate (x=0) y=9
    assert cols["revenue__xy"] == [250 * 150, -7]
    assert cols["revenue__x"] == [250, -1]
    assert cols["revenue__xx"] == [250**2, 1]
    assert cols["units"] == [1, 2]


def test_duplicate_covariate_rows_and_overflow_are_errors() -> None:
    at = _at()
    with pytest.raises(ValidationError, match="more than one row"):
        Covariates.from_table(covariate_table("e", ["u1", "u1"], "revenue", [1, 2]), at)
    cov = Covariates.from_table(covariate_table("e", ["u1"], "revenue", [2**40]), at)
    valid = pa.table({"exp_id": ["e"], "variant_id": ["a"], "unit_id": ["u1"], "clicks": [1],
                      "revenue": np.array([2**20], np.int64)})
    with pytest.raises(ValidationError) as info:
        shard_partial_ids(event_unit_ids(valid, at, 1), at, {"e": "s"}, cov)
    assert info.value.field == "covariate" and info.value.value == "revenue"
