"""Where tables live: a local folder (the default, ``./rayab-warehouse``) or ``s3://bucket/prefix``.

This is the only module that turns a warehouse URL into paths, fsspec filesystems and Delta storage options.
S3 settings come from the standard ``AWS_*`` environment variables (``AWS_ENDPOINT_URL`` for an S3-compatible
endpoint such as a local test server, ``AWS_ALLOW_HTTP=true`` for plain HTTP) or from ``storage_options``.

>>> wh = Warehouse.from_url("/tmp/wh")
>>> wh.table_uri("agg_engagement")
'/tmp/wh/agg_engagement'
>>> Warehouse.from_url("s3://bucket/prefix/", storage_options={"AWS_REGION": "eu-west-1"}).table_uri("experiment")
's3://bucket/prefix/experiment'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import fsspec

from rayab.errors import ValidationError

__all__ = ["DEFAULT_WAREHOUSE", "Warehouse"]

DEFAULT_WAREHOUSE = "./rayab-warehouse"
_S3_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
           "AWS_ALLOW_HTTP", "AWS_S3_ALLOW_UNSAFE_RENAME")


@dataclass(frozen=True)
class Warehouse:
    """A warehouse root URL plus the options needed to reach it."""

    url: str
    storage_options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_url(cls, url: str | Path | None = None, storage_options: Mapping[str, str] | None = None) -> Warehouse:
        """A warehouse from a local path or an ``s3://`` URL (``None``: the default local folder)."""
        text = str(url or DEFAULT_WAREHOUSE)
        if "://" in text and not text.startswith(("s3://", "file://")):
            raise ValidationError("warehouse", text, "must be a local path, file:// or s3:// URL")
        if text.startswith("file://"):
            text = text[len("file://"):]
        if text.startswith("s3://"):
            options = {k: os.environ[k] for k in _S3_ENV if os.environ.get(k)}
            options.update(storage_options or {})
            options.setdefault("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
            return cls(text.rstrip("/"), MappingProxyType(options))
        return cls(str(Path(text).expanduser().absolute()), MappingProxyType(dict(storage_options or {})))

    def __reduce__(self) -> tuple[Any, tuple[str, dict[str, str]]]:
        # MappingProxyType does not pickle; Ray ships warehouses to tasks and actors
        return (Warehouse, (self.url, dict(self.storage_options)))

    @property
    def is_s3(self) -> bool:
        """Whether the warehouse is on S3."""
        return self.url.startswith("s3://")

    def table_uri(self, table: str) -> str:
        """The URI of a table under the root."""
        return f"{self.url}/{table}"

    def delta_options(self) -> dict[str, str] | None:
        """Storage options for ``deltalake`` (None for local tables)."""
        return dict(self.storage_options) if self.is_s3 else None

    def filesystem(self) -> fsspec.AbstractFileSystem:
        """An fsspec filesystem reaching the root (s3fs for S3)."""
        return filesystem_for(self.url, self.storage_options)


def filesystem_for(url: str, storage_options: Mapping[str, str] | None = None) -> fsspec.AbstractFileSystem:
    """An fsspec filesystem for ``url`` (local or ``s3://``), configured from AWS-style options and environment."""
    if not url.startswith("s3://"):
        return fsspec.filesystem("file")
    opts = {k: os.environ[k] for k in _S3_ENV if os.environ.get(k)}
    opts.update(storage_options or {})
    kwargs: dict[str, Any] = {"client_kwargs": {}}
    if opts.get("AWS_ENDPOINT_URL"):
        kwargs["client_kwargs"]["endpoint_url"] = opts["AWS_ENDPOINT_URL"]
    if opts.get("AWS_REGION"):
        kwargs["client_kwargs"]["region_name"] = opts["AWS_REGION"]
    if opts.get("AWS_ACCESS_KEY_ID"):
        kwargs["key"] = opts["AWS_ACCESS_KEY_ID"]
        kwargs["secret"] = opts.get("AWS_SECRET_ACCESS_KEY")
    if opts.get("AWS_SESSION_TOKEN"):
        kwargs["token"] = opts["AWS_SESSION_TOKEN"]
    # Fresh instances: a cached s3fs client may belong to another event loop / process.
    return fsspec.filesystem("s3", skip_instance_cache=True, **kwargs)
