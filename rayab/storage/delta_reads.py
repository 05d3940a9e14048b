"""Reading a Delta table's rows with Arrow's own filesystem where it can.

``deltalake`` reads through a Python filesystem by default (``PyFileSystem`` over its object-store handler), so
Arrow's scan threads hold Python file objects. Their last references can be dropped on an Arrow thread just after
a read returns; when that happens while the interpreter shuts down (a script whose last step is a read), the thread
cannot take the GIL and the process aborts. A local table is therefore read through Arrow's native
``LocalFileSystem``, which has no Python objects in it and is faster too; a table on S3 keeps ``deltalake``'s
handler, which carries its credentials.

>>> import tempfile, pyarrow as pa
>>> from deltalake import DeltaTable, write_deltalake
>>> root = tempfile.mkdtemp() + "/t"
>>> write_deltalake(root, pa.table({"exp_id": ["a b", "c"], "v": [1, 2]}), partition_by=["exp_id"])
>>> delta_rows(DeltaTable(root), filters=[("exp_id", "=", "a b")]).to_pylist()
[{'exp_id': 'a b', 'v': 1}]
>>> local_filesystem("s3://bucket/t") is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pa_fs
from deltalake import DeltaTable

__all__ = ["delta_rows", "local_filesystem"]


def local_filesystem(uri: str) -> pa_fs.FileSystem | None:
    """Arrow's native filesystem rooted at the table ``uri`` (a path or ``file://`` URI); ``None`` for a remote
    table."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    path = unquote(parsed.path) if parsed.scheme == "file" else uri
    return pa_fs.SubTreeFileSystem(path.rstrip("/") or "/", pa_fs.LocalFileSystem())


def delta_rows(delta: DeltaTable, filters: Any = None, columns: Sequence[str] | None = None) -> pa.Table:
    """``delta.to_pyarrow_table`` with ``filters`` and ``columns``, a local table read natively."""
    return delta.to_pyarrow_table(filters=filters, columns=list(columns) if columns is not None else None,
                                  filesystem=local_filesystem(delta.table_uri))
