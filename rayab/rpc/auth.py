"""Bearer-token check for admin mutations: metadata ``authorization: Bearer <token>``.

A server started without an admin token refuses every mutation (there is no "open" mode by accident).

>>> admin = AdminToken("s3cret")
>>> admin.check([("authorization", "Bearer s3cret")])
>>> admin.check([("authorization", "Bearer nope")])
Traceback (most recent call last):
...
rayab.rpc.status.Unauthenticated: authorization: the bearer token is not the admin token
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from rayab.rpc.status import Unauthenticated

__all__ = ["AdminToken", "bearer_metadata"]

_PREFIX = "bearer "


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries ``token``."""
    return (("authorization", f"Bearer {token}"),)


class AdminToken:
    """The token admin mutations must present (None: mutations are refused)."""

    def __init__(self, token: str | None) -> None:
        if token is not None and not token.strip():
            token = None
        self._token = token.encode() if token else None

    @property
    def configured(self) -> bool:
        """Whether the server has an admin token at all."""
        return self._token is not None

    def check(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        """Raise :class:`Unauthenticated` unless the metadata carries the admin token."""
        if self._token is None:
            raise Unauthenticated("authorization: this server has no admin token configured; mutations are disabled")
        values = [v for k, v in metadata or () if k.lower() == "authorization"]
        if not values:
            raise Unauthenticated("authorization: missing; send the metadata 'authorization: Bearer <token>'")
        value = values[0] if isinstance(values[0], str) else values[0].decode("utf-8", "replace")
        if not value.lower().startswith(_PREFIX):
            raise Unauthenticated("authorization: must be 'Bearer <token>'")
        # constant-time comparison: the time taken must not reveal how much of the token matched
        if not hmac.compare_digest(value[len(_PREFIX):].strip().encode(), self._token):
            raise Unauthenticated("authorization: the bearer token is not the admin token")
