"""``rayab experiments``: the admin API from the command line (create, list, get, update, ship, archive).

Talks to a running ``rayab serve`` over gRPC (``--target``, default ``$RAYAB_TARGET`` or ``127.0.0.1:50051``).
Mutations send the admin token from ``RAYAB_ADMIN_TOKEN`` or ``--token-file``. Server errors keep rayab's exit
codes: 2 invalid input, 3 not found, 4 unavailable, 1 anything else (failed precondition, unauthenticated).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from rayab.cli.render import render_table
from rayab.cli.serve import admin_token, read_token
from rayab.errors import ValidationError

__all__ = ["register"]

_STATUS_NAMES = ("draft", "running", "stopped", "archived")


def _spec_json(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise ValidationError("spec", path, "must be a YAML or JSON file holding one experiment")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValidationError("spec", path, f"is not valid YAML/JSON: {err}") from None
    return json.dumps(data, default=str)


def _status(name: str | None) -> str:
    """The proto enum name of a status (UNSPECIFIED: unchanged / all)."""
    return f"EXPERIMENT_STATUS_{(name or 'unspecified').upper()}"


def _rows(experiments: list[Any]) -> str:
    from rayab.rpc._generated import experiments_pb2 as epb

    rows = [[e.exp_id, epb.ExperimentStatus.Name(e.status).removeprefix("EXPERIMENT_STATUS_").lower(),
             f"{e.rollout_pct:g}%", e.layer, ",".join(v.variant_id for v in e.variants), e.shipped_variant or "-",
             e.version] for e in experiments]
    return render_table(["experiment", "status", "rollout", "layer", "variants", "shipped", "version"], rows)


def _print(reply: Any, fmt: str) -> None:
    experiments = list(reply.experiments) if hasattr(reply, "experiments") else [reply.experiment]
    if fmt == "json":
        print(json.dumps({"config_version": reply.config_version,
                          "experiments": [json.loads(e.spec_json) for e in experiments]}, indent=1))
    else:
        print(_rows(experiments))
        print(f"config version {reply.config_version}")


def _call(args: argparse.Namespace) -> Any:
    from rayab.rpc._generated import experiments_pb2 as epb
    from rayab.rpc._generated import experiments_pb2_grpc
    from rayab.rpc.auth import bearer_metadata
    from rayab.rpc.client import open_channel

    channel = open_channel(args.target, args.tls_ca, args.server_name)
    stub = experiments_pb2_grpc.ExperimentServiceStub(channel)  # type: ignore[no-untyped-call]
    token = admin_token(args.token_file)
    meta = bearer_metadata(token) if token else None
    reader = token or read_token(None)  # reads take the admin token, else the read token
    read_meta = bearer_metadata(reader) if reader else None
    calls: dict[str, Callable[[], Any]] = {
        "create": lambda: stub.CreateExperiment(epb.CreateExperimentRequest(spec_json=_spec_json(args.spec)),
                                                metadata=meta),
        "list": lambda: stub.ListExperiments(epb.ListExperimentsRequest(status=_status(args.status)),
                                             metadata=read_meta),
        "get": lambda: stub.GetExperiment(epb.GetExperimentRequest(exp_id=args.exp_id), metadata=read_meta),
        "update": lambda: stub.UpdateExperiment(epb.UpdateExperimentRequest(
            exp_id=args.exp_id, status=_status(args.status), rollout_pct=args.rollout_pct,
            targeting_json=args.targeting, expected_version=args.expected_version or 0), metadata=meta),
        "ship": lambda: stub.ShipVariant(epb.ShipVariantRequest(
            exp_id=args.exp_id, variant_id=args.variant_id, expected_version=args.expected_version or 0),
            metadata=meta),
        "archive": lambda: stub.ArchiveExperiment(epb.ArchiveExperimentRequest(
            exp_id=args.exp_id, expected_version=args.expected_version or 0), metadata=meta),
    }
    try:
        return calls[args.action]()
    finally:
        channel.close()


_EXIT_CODES = {"INVALID_ARGUMENT": 2, "NOT_FOUND": 3, "UNAVAILABLE": 4, "DEADLINE_EXCEEDED": 4}


def _run(args: argparse.Namespace) -> int:
    import grpc

    try:
        reply = _call(args)
    except grpc.RpcError as err:
        print(f"rayab: {err.code().name}: {err.details()}", file=sys.stderr)
        return _EXIT_CODES.get(err.code().name, 1)
    _print(reply, args.format)
    return 0


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expected-version", type=int, default=None,
                        help="apply only if the experiment is at this version")


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    parser = sub.add_parser("experiments", help="create, list, get, update, ship or archive experiments")
    parser.add_argument("--target", default=os.environ.get("RAYAB_TARGET", "127.0.0.1:50051"),
                        help="host:port of a rayab server (default $RAYAB_TARGET or 127.0.0.1:50051)")
    parser.add_argument("--tls-ca", default=None, help="PEM CA certificate: connect with TLS")
    parser.add_argument("--server-name", default=None, help="name to check in the server certificate")
    parser.add_argument("--token-file", default=None, help="file holding the admin token (default $RAYAB_ADMIN_TOKEN)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an experiment from a YAML/JSON spec")
    create.add_argument("--spec", required=True, help="YAML/JSON file holding one experiment")
    actions.add_parser("list", help="list experiments").add_argument("--status", choices=_STATUS_NAMES)
    actions.add_parser("get", help="show one experiment").add_argument("exp_id")
    update = actions.add_parser("update", help="change status, rollout or targeting")
    update.add_argument("exp_id")
    update.add_argument("--status", choices=_STATUS_NAMES)
    update.add_argument("--rollout-pct", type=float, default=None)
    update.add_argument("--targeting", default=None, help="targeting rule as JSON ('{}' is everyone)")
    _add_version(update)
    ship = actions.add_parser("ship", help="stop and serve one variant to everyone")
    ship.add_argument("exp_id")
    ship.add_argument("variant_id")
    _add_version(ship)
    archive = actions.add_parser("archive", help="retire a draft or stopped experiment")
    archive.add_argument("exp_id")
    _add_version(archive)
    parser.set_defaults(func=_run)
