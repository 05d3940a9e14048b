"""The public names of ``rayab.stats``: sorted the way the linter sorts them, and all importable."""

from __future__ import annotations

import rayab.stats


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_complete() -> None:
    names = rayab.stats.__all__
    assert names == sorted(names, key=_isort_key)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(rayab.stats, name) is not None
