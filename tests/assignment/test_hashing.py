"""The md5 bucket is specified byte for byte: golden vectors from an independent straightforward computation."""

from __future__ import annotations

import hashlib
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.assignment import hashing
from rayab.assignment.hashing import COMPILED_FROM, bucket, bucket_columns, buckets, utf8_column

ROOT = Path(__file__).resolve().parents[2]


def reference_bucket(salt: str, unit_id: str) -> float:
    """The specification, written out independently: md5 of utf8(salt:unit), the top 53 bits of the first 8 bytes
    (big-endian) over 2**53."""
    digest = hashlib.md5((salt + ":" + unit_id).encode("utf-8")).digest()
    return (int.from_bytes(digest[0:8], byteorder="big", signed=False) // 2**11) / 2.0**53


# (salt, unit_id, first 8 bytes of the md5 digest in hex, bucket)
GOLDEN = [
    ("ctr_test", "alice", "c7e1b2e2fe4f8b7f", 0.7807876400168522),
    ("ctr_test", "bob", "429e8ccc622c3d11", 0.26023178090888244),
    ("exp-1", "user-00000001", "8d9233b78cdee42b", 0.5530121157761374),
    ("", "x", "d610b2f0c4984053", 0.8361923063099264),
    ("séance", "ünïcode-id", "ca83e787eafd7c8c", 0.7910752016859898),
    ("ctr_test:bootstrap", "alice", "e538cff86c007bb0", 0.8953981381891952),
]


@pytest.mark.parametrize(("salt", "unit_id", "prefix_hex", "expected"), GOLDEN)
def test_pinned_golden_vectors(salt: str, unit_id: str, prefix_hex: str, expected: float) -> None:
    assert hashlib.md5(f"{salt}:{unit_id}".encode()).hexdigest()[:16] == prefix_hex
    assert (struct.unpack(">Q", bytes.fromhex(prefix_hex))[0] >> 11) / 2.0**53 == expected
    assert bucket(salt, unit_id) == expected


@given(st.text(max_size=40), st.text(max_size=80))
def test_bucket_matches_the_specification(salt: str, unit_id: str) -> None:
    assert bucket(salt, unit_id) == reference_bucket(salt, unit_id)


@given(st.text(max_size=20), st.lists(st.text(max_size=30), max_size=50))
def test_buckets_equals_bucket_elementwise(salt: str, ids: list[str]) -> None:
    expected = [reference_bucket(salt, u) for u in ids]
    assert buckets(salt, ids).tolist() == expected


def test_buckets_of_many_ids_are_bit_identical_to_bucket() -> None:
    ids = [f"u{i}" for i in range(20_000)]
    got = buckets("salt", ids)
    assert got.dtype == np.float64
    assert np.array_equal(got, np.array([bucket("salt", u) for u in ids]))
    assert float(got.min()) >= 0.0 and float(got.max()) < 1.0


def test_the_salt_separator_matters() -> None:
    # "a" + ":" + "b:c" and "a:b" + ":" + "c" are the same bytes: the spec hashes the joined text.
    assert bucket("a", "b:c") == bucket("a:b", "c")
    assert bucket("ab", "c") != bucket("a", "bc")


def test_the_compiled_md5_column_is_bit_identical_to_the_specification() -> None:
    pytest.importorskip("numba")
    rng = random.Random(7)
    alphabet = "abcXYZ019-_:é水🙂"
    ids = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300))) for _ in range(3_000)]
    ids += ["x" * n for n in range(130)]  # every padding case around the 56- and 64-byte block edges
    for salt in ("exp_0001", "home:layer", "", "séance"):
        (got,) = bucket_columns((salt,), ids, compiled=True)
        assert got.dtype == np.float64
        assert got.tolist() == [reference_bucket(salt, u) for u in ids], salt
    ascii_ids = [f"user-{i:08d}" for i in range(COMPILED_FROM)]
    by_salt = bucket_columns(("a", "b:layer"), ascii_ids, compiled=True)  # the threaded kernel, ASCII fast path
    assert [c.tolist() for c in by_salt] == [[reference_bucket(s, u) for u in ascii_ids] for s in ("a", "b:layer")]


@given(st.text(max_size=20), st.lists(st.text(max_size=70), min_size=1, max_size=40))
def test_the_compiled_and_the_hashlib_columns_agree(salt: str, ids: list[str]) -> None:
    pytest.importorskip("numba")
    compiled, = bucket_columns((salt,), ids, compiled=True)
    plain, = bucket_columns((salt,), ids, compiled=False)
    assert compiled.tolist() == plain.tolist() == [reference_bucket(salt, u) for u in ids]


def test_a_large_column_uses_the_compiled_md5_when_numba_is_installed() -> None:
    pytest.importorskip("numba")
    ids = [f"u{i}" for i in range(COMPILED_FROM)]
    assert buckets("s", ids).tolist() == [reference_bucket("s", u) for u in ids]
    from rayab.stats.unit_hash import md5_keys

    assert hashing._compiled_keys is md5_keys


def test_without_numba_a_large_column_is_hashed_by_hashlib() -> None:
    code = """
import sys
sys.modules["numba"] = None  # as in the light install: importing it raises ModuleNotFoundError
from rayab.assignment.hashing import COMPILED_FROM, bucket, bucket_columns
ids = [f"u{i}" for i in range(COMPILED_FROM + 10)]
(column,) = bucket_columns(("s",), ids)
assert column.tolist() == [bucket("s", u) for u in ids]
try:
    bucket_columns(("s",), ids, compiled=True)
except ImportError as err:
    print("refused:", err)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "refused: the compiled md5 needs numba (pip install 'rayab[cluster]')\n"


@given(st.lists(st.text(max_size=12), max_size=30))
def test_utf8_column_holds_each_id_between_its_offsets(ids: list[str]) -> None:
    data, offsets = utf8_column(ids)
    assert offsets.tolist()[0] == 0 and len(offsets) == len(ids) + 1
    assert [bytes(data[offsets[i]:offsets[i + 1]]).decode() for i in range(len(ids))] == ids
