"""The compiled MD5 keys against hashlib: random unicode, empty, block-boundary and long ids, every input form."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayab.stats.poisson_weights import unit_keys as reference_unit_keys
from rayab.stats.unit_hash import md5_keys, unit_keys, unit_keys_arrow


def _hashlib_keys(salt: str, ids: list[str]) -> tuple[list[int], list[int]]:
    digests = [hashlib.md5(f"{salt}:{u}".encode(), usedforsecurity=False).digest() for u in ids]
    return ([int.from_bytes(d[:4], "big") for d in digests], [int.from_bytes(d[4:8], "big") for d in digests])


def _check(salt: str, ids: list[str], keys) -> None:
    e1, e2 = _hashlib_keys(salt, ids)
    assert keys[0].dtype == np.uint32 and keys[1].dtype == np.uint32
    assert keys[0].tolist() == e1 and keys[1].tolist() == e2


@settings(max_examples=200, deadline=None)
@given(salt=st.text(max_size=30), ids=st.lists(st.text(max_size=140), max_size=40))
def test_random_unicode_matches_hashlib(salt, ids):
    _check(salt, ids, unit_keys(salt, ids))


# Lengths around the MD5 padding boundaries: 55/56 bytes (one vs two blocks), 119/120, and long ids.
EDGE_IDS = ["", "a", "é", "😀", "x" * 50, "x" * 51, "x" * 52, "x" * 53, "x" * 54, "x" * 55, "x" * 56, "x" * 63,
            "x" * 64, "x" * 114, "x" * 115, "x" * 119, "x" * 120, "x" * 1000, "ü" * 5000, "a:b", "\x00z"]


@pytest.mark.parametrize("salt", ["", "s", "bootstrap-2026", "ß" * 70])
def test_edge_lengths(salt):
    _check(salt, EDGE_IDS, unit_keys(salt, EDGE_IDS))


def test_same_as_reference_unit_keys():
    ids = [f"user-{i}" for i in range(3000)]
    ref = reference_unit_keys("exp-salt", ids)
    got = unit_keys("exp-salt", ids)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


@pytest.mark.parametrize("kind", ["string", "large_string", "binary", "string_view", "sliced", "chunked",
                                  "dictionary", "numpy", "generator"])
def test_input_forms(kind):
    ids = [f"id-{i % 97}-{'é' * (i % 5)}" for i in range(6000)]
    salt = "k"
    if kind == "string":
        got = unit_keys_arrow(salt, pa.array(ids, type=pa.string()))
    elif kind == "large_string":
        got = unit_keys_arrow(salt, pa.array(ids, type=pa.large_string()))
    elif kind == "binary":
        got = unit_keys_arrow(salt, pa.array([u.encode() for u in ids], type=pa.binary()))
    elif kind == "string_view":
        got = unit_keys_arrow(salt, pa.array(ids, type=pa.string_view()))
    elif kind == "sliced":
        got = unit_keys_arrow(salt, pa.array(["pad"] * 3 + ids + ["pad"])[3:3 + len(ids)])
    elif kind == "chunked":
        got = unit_keys_arrow(salt, pa.chunked_array([pa.array(ids[:10]), pa.array([], pa.string()),
                                                      pa.array(ids[10:])]))
    elif kind == "dictionary":
        got = unit_keys_arrow(salt, pa.array(ids).dictionary_encode())
    elif kind == "numpy":
        got = unit_keys(salt, np.array(ids, dtype=object))
    else:
        got = unit_keys(salt, (u for u in ids))
    _check(salt, ids, got)


def test_parallel_matches_serial():
    ids = [f"unit-{i}" * (1 + i % 9) for i in range(20_000)]
    serial = unit_keys("p", ids)
    parallel = unit_keys("p", ids, n_threads=2)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])
    _check("p", ids[:500], (serial[0][:500], serial[1][:500]))


def test_empty_and_null_and_bad_input():
    for keys in (unit_keys("s", []), unit_keys_arrow("s", pa.array([], pa.string())),
                 unit_keys_arrow("s", pa.chunked_array([], pa.string()))):
        assert keys[0].shape == (0,) and keys[1].shape == (0,)
    with pytest.raises(ValueError, match="null"):
        unit_keys_arrow("s", pa.array(["a", None]))
    with pytest.raises(ValueError, match="offsets"):
        md5_keys("s", np.zeros(3, np.uint8), np.array([0, 5]))
