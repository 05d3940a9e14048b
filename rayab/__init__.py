"""rayab: an A/B-testing platform on Ray.

Deterministic assignment, hourly Poisson-bootstrap aggregation whose partial sums add up exactly over any window,
and results with confidence intervals at query time.

From Python, open a warehouse and ask it (see :mod:`rayab.api.workspace`)::

    import rayab
    ws = rayab.connect("./rayab-warehouse")
    ws.results("ranker_v2", "2026-11-23T00", "2026-11-24T00", metrics=["ctr"], by=["country"]).to_pandas()

The names below are loaded on first use, so ``import rayab`` (and every ``rayab`` command) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rayab.api.requests import ResultsRequest
    from rayab.api.tables import ResultTable
    from rayab.api.workspace import Workspace, connect, results
    from rayab.errors import RayabError

__all__ = ["RayabError", "ResultTable", "ResultsRequest", "Workspace", "__version__", "connect", "results"]

_LAZY = {
    "connect": "rayab.api.workspace", "results": "rayab.api.workspace", "Workspace": "rayab.api.workspace",
    "ResultsRequest": "rayab.api.requests", "ResultTable": "rayab.api.tables", "RayabError": "rayab.errors",
}


def __getattr__(name: str) -> Any:
    from rayab._lazy import load_lazy

    return load_lazy(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
