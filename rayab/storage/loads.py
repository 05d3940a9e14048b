"""The ``_load_quarantine`` table: rows of loaded files (assignments, covariates) that were not loaded, and why.

One partition per experiment; a load replaces the rows of its own (kind, source) only, so loading a file again
leaves one copy of its quarantined rows, and loads of other files keep theirs.

>>> import tempfile, pyarrow as pa
>>> from rayab.storage.warehouse import Warehouse
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> bad = pa.table({"exp_id": ["e"], "kind": ["assignments"], "source": ["a.csv"], "row_index": [3],
...                 "reason": ["variant_id == 'zz': unknown"], "row": ["{}"]})
>>> replace_load_quarantine(wh, "e", "assignments", "a.csv", bad)
>>> replace_load_quarantine(wh, "e", "assignments", "a.csv", bad)
>>> read_load_quarantine(wh, "e").column("row_index").to_pylist()
[3]
"""

from __future__ import annotations

import pyarrow as pa

from rayab.storage.tables import read_rows, replace_partitions, table_exists
from rayab.storage.warehouse import Warehouse

__all__ = ["LOAD_QUARANTINE_TABLE", "read_load_quarantine", "replace_load_quarantine"]

LOAD_QUARANTINE_TABLE = "_load_quarantine"


def replace_load_quarantine(warehouse: Warehouse, exp_id: str, kind: str, source: str, rows: pa.Table) -> None:
    """Replace the quarantined rows of one (experiment, kind, source) with ``rows`` (one commit; none if both the
    old and the new set are empty)."""
    if rows.num_rows == 0 and not table_exists(warehouse, LOAD_QUARANTINE_TABLE):
        return
    replace_partitions(warehouse, LOAD_QUARANTINE_TABLE, rows, ["exp_id"],
                       {"exp_id": exp_id, "kind": kind, "source": source})


def read_load_quarantine(warehouse: Warehouse, exp_id: str) -> pa.Table:
    """The quarantined rows of an experiment's loads (empty, with no columns, if there are none)."""
    return read_rows(warehouse, LOAD_QUARANTINE_TABLE, where={"exp_id": exp_id})
