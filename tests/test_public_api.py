"""The public Python API: exactly the names ``rayab.__all__`` lists, each importable, documented and lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rayab

EXPECTED = {"RayabError", "ResultTable", "ResultsRequest", "Workspace", "__version__", "connect", "results"}


def test_public_names_are_exactly_the_listed_ones() -> None:
    assert set(rayab.__all__) == EXPECTED
    for name in rayab.__all__:
        value = getattr(rayab, name)
        assert value is not None
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"rayab.{name} has no docstring"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rayab.nope  # noqa: B018


def test_import_rayab_loads_no_heavy_module() -> None:
    code = ("import sys, rayab; heavy = [m for m in ('ray', 'pyarrow', 'numpy', 'grpc', 'deltalake', 'scipy') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

