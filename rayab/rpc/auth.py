"""Bearer tokens: metadata ``authorization: Bearer <token>``.

The **admin token** guards mutations, and it alone sees an experiment's secrets (its assignment and bootstrap
salts: whoever knows them can compute every unit's variant). A server started without an admin token refuses
every mutation (there is no "open" mode by accident).

The **SDK key** lets an SDK follow the config (``WatchConfig``, salts included: an SDK cannot assign without
them) and send the exposures it decided (``LogExposures``); the admin token works too. The read token does not:
it is refused with ``PERMISSION_DENIED`` (it may read experiments, never their salts), a call without a token
with ``UNAUTHENTICATED``. A server without an SDK key serves ``WatchConfig`` to the admin token only.

The optional **read token** guards the reads of experiments and results: when it is set, those calls need it (or
the admin token, which works for everything); when it is not, they are open but still never carry secrets. The
assignment service needs no token: it is what applications call.

>>> admin = AdminToken("s3cret")
>>> admin.check([("authorization", "Bearer s3cret")])
>>> admin.check([("authorization", "Bearer nope")])
Traceback (most recent call last):
...
rayab.rpc.status.Unauthenticated: authorization: the bearer token is not the admin token
>>> reads = ReadAccess(admin, "r34d")
>>> reads.check([("authorization", "Bearer r34d")]), reads.check([("authorization", "Bearer s3cret")])
(False, True)
>>> reads.check([])
Traceback (most recent call last):
...
rayab.rpc.status.Unauthenticated: authorization: missing; reads need the read token (or the admin token)
>>> ReadAccess(admin, None).check([])  # open reads, without secrets
False
>>> sdk = SdkAccess(admin, "k3y", "r34d")
>>> sdk.check([("authorization", "Bearer k3y")]), sdk.check([("authorization", "Bearer s3cret")])
(None, None)
>>> sdk.check([("authorization", "Bearer r34d")])
Traceback (most recent call last):
...
rayab.rpc.status.PermissionDenied: authorization: the read token never sees salts; this call needs the SDK key
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from rayab.rpc.status import PermissionDenied, Unauthenticated

__all__ = ["AdminToken", "ReadAccess", "SdkAccess", "bearer_metadata"]

_PREFIX = "bearer "
Metadata = Iterable[tuple[str, str | bytes]] | None


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries ``token``."""
    return (("authorization", f"Bearer {token}"),)


def _secret(token: str | None) -> bytes | None:
    return token.strip().encode() if token and token.strip() else None


def _bearer(metadata: Metadata) -> bytes | None:
    """The bearer token the metadata carries (None: no authorization entry); raises on a malformed entry."""
    values = [v for k, v in metadata or () if k.lower() == "authorization"]
    if not values:
        return None
    value = values[0] if isinstance(values[0], str) else values[0].decode("utf-8", "replace")
    if not value.lower().startswith(_PREFIX):
        raise Unauthenticated("authorization: must be 'Bearer <token>'")
    return value[len(_PREFIX):].strip().encode()


def _same(presented: bytes | None, token: bytes | None) -> bool:
    # constant-time comparison: the time taken must not reveal how much of the token matched
    return presented is not None and token is not None and hmac.compare_digest(presented, token)


class AdminToken:
    """The token admin mutations must present (None: mutations are refused)."""

    def __init__(self, token: str | None) -> None:
        self._token = _secret(token)

    @property
    def configured(self) -> bool:
        """Whether the server has an admin token at all."""
        return self._token is not None

    def matches(self, metadata: Metadata) -> bool:
        """Whether the metadata carries the admin token (a malformed authorization entry raises)."""
        return _same(_bearer(metadata), self._token)

    def check(self, metadata: Metadata) -> None:
        """Raise :class:`Unauthenticated` unless the metadata carries the admin token."""
        if self._token is None:
            raise Unauthenticated("authorization: this server has no admin token configured; mutations are disabled")
        presented = _bearer(metadata)
        if presented is None:
            raise Unauthenticated("authorization: missing; send the metadata 'authorization: Bearer <token>'")
        if not _same(presented, self._token):
            raise Unauthenticated("authorization: the bearer token is not the admin token")


class ReadAccess:
    """Who may read experiments and results: anyone (no read token), or holders of the read or admin token."""

    def __init__(self, admin: AdminToken, read_token: str | None = None) -> None:
        self._admin = admin
        self._token = _secret(read_token)

    @property
    def configured(self) -> bool:
        """Whether reads need a token."""
        return self._token is not None

    def check(self, metadata: Metadata) -> bool:
        """Whether the caller may see secrets (it presented the admin token); raises :class:`Unauthenticated` when
        a read token is configured and the caller presented neither token."""
        presented = _bearer(metadata)
        if self._admin.matches(metadata):
            return True
        if self._token is None:
            return False
        if presented is None:
            raise Unauthenticated("authorization: missing; reads need the read token (or the admin token)")
        if not _same(presented, self._token):
            raise Unauthenticated("authorization: the bearer token is neither the read token nor the admin token")
        return False


class SdkAccess:
    """Who may follow the config with its salts and log exposures: holders of the SDK key or the admin token."""

    def __init__(self, admin: AdminToken, sdk_key: str | None = None, read_token: str | None = None) -> None:
        self._admin = admin
        self._key = _secret(sdk_key)
        self._read = _secret(read_token)

    @property
    def configured(self) -> bool:
        """Whether the server has an SDK key."""
        return self._key is not None

    def check(self, metadata: Metadata) -> None:
        """Return if the metadata carries the SDK key or the admin token, else raise :class:`Unauthenticated`
        (no or an unknown token) or :class:`PermissionDenied` (the read token)."""
        presented = _bearer(metadata)
        if self._admin.matches(metadata) or _same(presented, self._key):
            return
        if presented is None:
            raise Unauthenticated("authorization: missing; WatchConfig and LogExposures need "
                                  "'authorization: Bearer <SDK key>'")
        if _same(presented, self._read):
            raise PermissionDenied("authorization: the read token never sees salts; this call needs the SDK key")
        if self._key is None:
            raise Unauthenticated("authorization: this server has no SDK key configured; only the admin token may "
                                  "watch the config")
        raise Unauthenticated("authorization: the bearer token is not the SDK key")
