"""Client side: a channel to a rayab server (plain or TLS) and the admin API in plain Python values.

:class:`ExperimentsClient` builds the protobuf requests and reads the answers, so a caller (the CLI) deals in
mappings and :class:`ExperimentView` only; a failed call raises :class:`CallError` carrying the gRPC status name.

>>> channel = open_channel("127.0.0.1:1")  # connecting is lazy: nothing is sent yet
>>> channel.close()
>>> with ExperimentsClient("127.0.0.1:1") as client:  # lazy too
...     pass
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from rayab.errors import RayabError, ValidationError
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc._generated import experiments_pb2_grpc as epb_grpc
from rayab.rpc.auth import bearer_metadata

__all__ = ["CallError", "ChangeView", "ExperimentView", "ExperimentsClient", "ExperimentsReply", "HistoryReply",
           "open_channel"]

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


class CallError(RayabError):
    """A call the server answered with an error status: ``code`` is the status name (``NOT_FOUND``...)."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


@dataclass(frozen=True)
class ExperimentView:
    """An experiment as the admin API shows it; ``status`` is rayab's name (``running``), ``spec`` the whole
    experiment as :meth:`rayab.model.Experiment.to_dict` writes it (salts only for an admin caller)."""

    exp_id: str
    name: str
    status: str
    rollout_pct: float
    layer: str
    variants: tuple[str, ...]
    shipped_variant: str
    version: int
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class ExperimentsReply:
    """The experiments of an answer (one for every call but ``list``) and the config version holding them."""

    experiments: Sequence[ExperimentView]
    config_version: int


@dataclass(frozen=True)
class ChangeView:
    """One committed config version of an experiment's history: ``change`` names every field changed with its old
    and new value (``rollout_pct 40 -> 60``)."""

    config_version: int
    committed_at: datetime
    change: str
    changed_by: str
    exp_ids: tuple[str, ...]


@dataclass(frozen=True)
class HistoryReply:
    """An experiment's changes, newest first, and the latest config version."""

    changes: Sequence[ChangeView]
    config_version: int


def _status(name: str | None) -> epb.ExperimentStatus:
    """The proto enum value of a status name (None: UNSPECIFIED, i.e. unchanged / all)."""
    key = f"EXPERIMENT_STATUS_{(name or 'unspecified').upper()}"
    try:
        return epb.ExperimentStatus.Value(key)  # type: ignore[no-any-return]
    except ValueError:
        raise ValidationError("status", name, "must be draft, running, stopped or archived") from None


def _view(message: Any) -> ExperimentView:
    status = epb.ExperimentStatus.Name(message.status).removeprefix("EXPERIMENT_STATUS_").lower()
    return ExperimentView(
        exp_id=message.exp_id, name=message.name, status=status, rollout_pct=message.rollout_pct,
        layer=message.layer, variants=tuple(v.variant_id for v in message.variants),
        shipped_variant=message.shipped_variant, version=message.version, spec=json.loads(message.spec_json))


class ExperimentsClient:
    """The admin API of a rayab server. Mutations send ``admin_token``; reads send it too, else ``read_token``.

    Every method returns an :class:`ExperimentsReply`; ``expected_version`` (when given) makes a change apply only
    to that version of the experiment (else the call fails with ``FAILED_PRECONDITION``).
    """

    def __init__(self, target: str, tls_ca_file: str | None = None, server_name: str | None = None,
                 admin_token: str | None = None, read_token: str | None = None) -> None:
        self.channel = open_channel(target, tls_ca_file, server_name)
        self._stub = epb_grpc.ExperimentServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self._admin = bearer_metadata(admin_token) if admin_token else None
        reader = admin_token or read_token
        self._read = bearer_metadata(reader) if reader else None

    def __enter__(self) -> ExperimentsClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _call(self, call: Callable[..., Any], request: Any, metadata: Any) -> Any:
        try:
            return call(request, metadata=metadata)
        except grpc.RpcError as err:
            raise CallError(err.code().name, err.details() or "") from None

    def _one(self, call: Callable[..., Any], request: Any, metadata: Any) -> ExperimentsReply:
        reply = self._call(call, request, metadata)
        return ExperimentsReply([_view(reply.experiment)], reply.config_version)

    def create(self, spec: Mapping[str, Any], changed_by: str = "") -> ExperimentsReply:
        """Create an experiment from its spec (the YAML/JSON experiment format)."""
        request = epb.CreateExperimentRequest(spec_json=json.dumps(spec, default=str), changed_by=changed_by)
        return self._one(self._stub.CreateExperiment, request, self._admin)

    def get(self, exp_id: str) -> ExperimentsReply:
        """One experiment."""
        return self._one(self._stub.GetExperiment, epb.GetExperimentRequest(exp_id=exp_id), self._read)

    def list(self, status: str | None = None) -> ExperimentsReply:
        """Every experiment, or those in ``status``."""
        reply = self._call(self._stub.ListExperiments, epb.ListExperimentsRequest(status=_status(status)),
                           self._read)
        return ExperimentsReply([_view(e) for e in reply.experiments], reply.config_version)

    def update(self, exp_id: str, *, status: str | None = None, rollout_pct: float | None = None,
               targeting: Mapping[str, Any] | None = None, expected_version: int | None = None,
               owner: str | None = None, changed_by: str = "") -> ExperimentsReply:
        """Change status, rollout, targeting or owner (None keeps each; ``{}`` targets everyone); ``changed_by``
        is recorded with the config version."""
        request = epb.UpdateExperimentRequest(exp_id=exp_id, status=_status(status), rollout_pct=rollout_pct,
                                              expected_version=expected_version or 0, owner=owner,
                                              changed_by=changed_by)
        if targeting is not None:
            request.targeting.update(dict(targeting))
            request.targeting.SetInParent()  # an empty rule is still a rule: "everyone"
        return self._one(self._stub.UpdateExperiment, request, self._admin)

    def ship(self, exp_id: str, variant_id: str, expected_version: int | None = None,
             changed_by: str = "") -> ExperimentsReply:
        """Stop the experiment and serve ``variant_id``'s parameters to everyone."""
        request = epb.ShipVariantRequest(exp_id=exp_id, variant_id=variant_id,
                                         expected_version=expected_version or 0, changed_by=changed_by)
        return self._one(self._stub.ShipVariant, request, self._admin)

    def archive(self, exp_id: str, expected_version: int | None = None, changed_by: str = "") -> ExperimentsReply:
        """Retire a draft or stopped experiment."""
        request = epb.ArchiveExperimentRequest(exp_id=exp_id, expected_version=expected_version or 0,
                                               changed_by=changed_by)
        return self._one(self._stub.ArchiveExperiment, request, self._admin)

    def history(self, exp_id: str) -> HistoryReply:
        """The committed config versions that changed ``exp_id``, newest first."""
        reply = self._call(self._stub.GetExperimentHistory, epb.GetExperimentHistoryRequest(exp_id=exp_id),
                           self._read)
        return HistoryReply([ChangeView(c.config_version, c.committed_at.ToDatetime(tzinfo=UTC), c.change,
                                        c.changed_by, tuple(c.exp_ids)) for c in reply.changes],
                            reply.config_version)
