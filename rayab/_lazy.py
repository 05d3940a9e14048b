"""Names a package loads on first use (PEP 562), so importing it, or one light module of it, stays cheap.

A package keeps a ``name -> module`` table and delegates its module ``__getattr__`` here:

>>> namespace = {"__name__": "pkg"}
>>> load_lazy(namespace, {"sqrt": "math"}, "sqrt")(4.0), "sqrt" in namespace
(2.0, True)
>>> load_lazy(namespace, {}, "nope")
Traceback (most recent call last):
...
AttributeError: module 'pkg' has no attribute 'nope'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["load_lazy"]


def load_lazy(namespace: MutableMapping[str, Any], table: Mapping[str, str], name: str) -> Any:
    """``name`` from its module in ``table``, cached in the package's ``namespace`` (its ``globals()``)."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value
