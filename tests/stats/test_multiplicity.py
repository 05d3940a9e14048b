"""Adjusted p-values against GrowthBook and R multtest vectors, and their defining properties."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.errors import ValidationError
from rayab.stats.multiplicity import adjust_pvalues

# columns of the R multtest matrices (see "multtest_columns" in the reference file)
R_COLUMNS = {"bonferroni": 1, "holm": 2, "hochberg": 3, "sidak": 4, "holm-sidak": 5, "bh": 6, "by": 7}


def test_gbstats_holm_and_bh(gbstats: dict[str, Any]) -> None:
    cases = gbstats["pvalue_corrections"]
    holm = adjust_pvalues(cases["holm_bonferroni"]["p"], "holm")
    assert holm.pvalues == pytest.approx(cases["holm_bonferroni"]["adjusted_in_input_order"], abs=1e-12)
    bh = adjust_pvalues(cases["benjamini_hochberg"]["p"], "bh")
    assert bh.pvalues == pytest.approx(cases["benjamini_hochberg"]["adjusted_in_input_order"], abs=1e-12)
    two = cases["two_metrics"]
    assert adjust_pvalues(two["p"], "holm").pvalues == pytest.approx(two["holm"], abs=1e-12)
    assert adjust_pvalues(two["p"], "bh").pvalues == pytest.approx(two["bh"], abs=1e-12)


@pytest.mark.parametrize("set_name", ["multtest_set1", "multtest_set2", "multtest_set3"])
@pytest.mark.parametrize("method", list(R_COLUMNS))
def test_r_multtest(r_values: dict[str, Any], set_name: str, method: str) -> None:
    rows = np.array([row[:8] for row in r_values[set_name]["rows_sorted_by_rawp"]], dtype=float)
    # shuffle to check that results come back in input order
    order = np.random.default_rng(0).permutation(len(rows))
    adjusted = adjust_pvalues(rows[order, 0].tolist(), method)  # type: ignore[arg-type]
    assert adjusted.pvalues == pytest.approx(rows[order, R_COLUMNS[method]].tolist(), rel=1e-9, abs=1e-11)


pvalue_lists = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30)


@given(pvalue_lists, st.sampled_from(list(R_COLUMNS)))
def test_adjusted_pvalues_are_monotone_bounded_and_in_order(pvalues: list[float], method: str) -> None:
    adjusted: np.ndarray = np.array(adjust_pvalues(pvalues, method).pvalues)  # type: ignore[arg-type]
    raw = np.array(pvalues)
    assert ((adjusted >= raw - 1e-15) & (adjusted <= 1.0)).all()
    order = np.argsort(raw, kind="stable")
    assert (np.diff(adjusted[order]) >= -1e-15).all()  # same ranking as the raw p-values


@given(pvalue_lists)
def test_method_ordering(pvalues: list[float]) -> None:
    by_method: dict[str, np.ndarray] = {m: np.array(adjust_pvalues(pvalues, m).pvalues) for m in R_COLUMNS}  # type: ignore[arg-type]
    tol = 1e-12
    assert (by_method["holm"] <= by_method["bonferroni"] + tol).all()
    assert (by_method["hochberg"] <= by_method["holm"] + tol).all()
    assert (by_method["bh"] <= by_method["hochberg"] + tol).all()
    assert (by_method["bh"] <= by_method["by"] + tol).all()
    assert (by_method["sidak"] <= by_method["bonferroni"] + tol).all()
    assert (by_method["holm-sidak"] <= by_method["sidak"] + tol).all()


def test_rejections_use_alpha() -> None:
    result = adjust_pvalues([0.001, 0.02, 0.2], "bonferroni", alpha=0.1)
    assert result.rejected == (True, True, False)
    assert adjust_pvalues([], "bh").pvalues == ()


@pytest.mark.parametrize(("pvalues", "method", "field"), [([0.1, 1.2], "holm", "pvalues"),
                                                           ([0.1, float("nan")], "bh", "pvalues"),
                                                           ([0.1], "fdr", "method")])
def test_invalid_arguments_raise(pvalues: list[float], method: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        adjust_pvalues(pvalues, method)  # type: ignore[arg-type]
    assert info.value.field == field
