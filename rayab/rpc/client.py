"""Client side helpers: a channel to a rayab server (plain or TLS) and the admin metadata.

>>> channel = open_channel("127.0.0.1:1")  # connecting is lazy: nothing is sent yet
>>> channel.close()
"""

from __future__ import annotations

from pathlib import Path

import grpc

from rayab.errors import ValidationError

__all__ = ["open_channel"]

_MAX_MESSAGE = 64 * 2**20


def open_channel(target: str, tls_ca_file: str | None = None, server_name: str | None = None) -> grpc.Channel:
    """A blocking channel to ``host:port``; with ``tls_ca_file`` (PEM) the server must present a certificate
    signed by it, for ``server_name`` if given (else the host of ``target``).

    Reconnection backs off from 100 ms to at most 1 s (gRPC's default grows to 2 minutes), so a client finds a
    replaced server (:func:`rayab.serving.servers.check_servers`) within a second of its coming back."""
    if not target or ":" not in target:
        raise ValidationError("target", target, "must be host:port")
    options: list[tuple[str, str | int]] = [("grpc.max_receive_message_length", _MAX_MESSAGE),
                                            ("grpc.max_send_message_length", _MAX_MESSAGE),
                                            ("grpc.initial_reconnect_backoff_ms", 100),
                                            ("grpc.min_reconnect_backoff_ms", 100),
                                            ("grpc.max_reconnect_backoff_ms", 1_000)]
    if tls_ca_file is None:
        return grpc.insecure_channel(target, options=options)
    path = Path(tls_ca_file)
    if not path.is_file():
        raise ValidationError("tls_ca_file", tls_ca_file, "must be a readable PEM file")
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=path.read_bytes())
    return grpc.secure_channel(target, credentials, options=options)
