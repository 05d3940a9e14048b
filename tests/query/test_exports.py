"""The public names of ``rayab.query``: sorted the way the linter sorts them, and all importable."""

from __future__ import annotations

import rayab.query


def test_all_is_sorted_and_complete() -> None:
    names = rayab.query.__all__
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(rayab.query, name) is not None
