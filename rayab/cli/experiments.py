"""``rayab experiments``: the admin API from the command line (create, list, get, history, update, ship, archive).

Talks to a running ``rayab serve`` through :class:`rayab.rpc.client.ExperimentsClient` (imported only when a
command runs) (``--target``, default ``$RAYAB_TARGET`` or ``127.0.0.1:50051``).
Mutations send the admin token from ``RAYAB_ADMIN_TOKEN`` or ``--token-file``. Server errors keep rayab's exit
codes: 2 invalid input, 3 not found, 4 unavailable, 1 anything else (failed precondition, unauthenticated).
Every change records who made it (``--changed-by``, default ``$RAYAB_CHANGED_BY``), which ``history`` shows with
each config version and every field's old and new value.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rayab.cli.serve import admin_token, read_token
from rayab.errors import ValidationError
from rayab.model.validation import check_text
from rayab.report.formatting import render_table

if TYPE_CHECKING:
    from rayab.rpc.client import ExperimentsReply, ExperimentView, HistoryReply

__all__ = ["register"]

_STATUS_NAMES = ("draft", "running", "stopped", "archived")


def _spec(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ValidationError("spec", path, "must be a YAML or JSON file holding one experiment")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValidationError("spec", path, f"is not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValidationError("spec", path, "must hold one experiment (a mapping)")
    return data


def _targeting(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        rule = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationError("targeting", text, f"must be a JSON object ({err.msg} at position {err.pos})") from None
    if not isinstance(rule, dict):
        raise ValidationError("targeting", text, "must be a JSON object")
    return rule


def _rows(experiments: Sequence[ExperimentView]) -> str:
    rows = [[e.exp_id, e.status, f"{e.rollout_pct:g}%", e.layer, ",".join(e.variants), e.shipped_variant or "-",
             e.version] for e in experiments]
    return render_table(["experiment", "status", "rollout", "layer", "variants", "shipped", "version"], rows)


def _who(text: str | None, field: str) -> str:
    """``--owner`` / ``--changed-by``: free text of at most 128 characters, checked before any call.

    >>> _who("ada@example.com", "changed_by")
    'ada@example.com'
    >>> _who("ada\\nbob", "changed_by")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: changed_by == 'ada\\nbob': must be one line of text (no control characters)
    """
    value = text or ""
    if any(ord(c) < 32 for c in value):
        raise ValidationError(field, value, "must be one line of text (no control characters)")
    return check_text(field, value.strip(), max_length=128, allow_empty=True)


def _print_history(reply: HistoryReply, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"config_version": reply.config_version, "changes": [
            {"config_version": c.config_version, "committed_at": c.committed_at.isoformat(), "change": c.change,
             "changed_by": c.changed_by, "exp_ids": list(c.exp_ids)} for c in reply.changes]}, indent=1))
        return
    rows = [[c.config_version, c.committed_at.strftime("%Y-%m-%d %H:%M:%S"), c.changed_by or "-", c.change]
            for c in reply.changes]
    print(render_table(["version", "when (UTC)", "who", "change"], rows))
    print(f"config version {reply.config_version}")


def _print(reply: ExperimentsReply, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"config_version": reply.config_version,
                          "experiments": [e.spec for e in reply.experiments]}, indent=1))
    else:
        print(_rows(reply.experiments))
        print(f"config version {reply.config_version}")


def _call(args: argparse.Namespace) -> ExperimentsReply | HistoryReply:
    from rayab.rpc.client import ExperimentsClient

    token = admin_token(args.token_file)
    version = getattr(args, "expected_version", None)
    who = _who(getattr(args, "changed_by", None), "changed_by")
    owner = None if getattr(args, "owner", None) is None else _who(args.owner, "owner")
    with ExperimentsClient(args.target, args.tls_ca, args.server_name, admin_token=token,
                           read_token=None if token else read_token(None)) as client:
        calls: dict[str, Callable[[], ExperimentsReply | HistoryReply]] = {
            "create": lambda: client.create(_spec(args.spec), changed_by=who),
            "list": lambda: client.list(args.status),
            "get": lambda: client.get(args.exp_id),
            "history": lambda: client.history(args.exp_id),
            "update": lambda: client.update(args.exp_id, status=args.status, rollout_pct=args.rollout_pct,
                                            targeting=_targeting(args.targeting), expected_version=version,
                                            owner=owner, changed_by=who),
            "ship": lambda: client.ship(args.exp_id, args.variant_id, version, changed_by=who),
            "archive": lambda: client.archive(args.exp_id, version, changed_by=who),
        }
        return calls[args.action]()


_EXIT_CODES = {"INVALID_ARGUMENT": 2, "NOT_FOUND": 3, "UNAVAILABLE": 4, "DEADLINE_EXCEEDED": 4}


def _run(args: argparse.Namespace) -> int:
    from rayab.rpc.client import CallError, ExperimentsReply

    try:
        reply = _call(args)
    except CallError as err:
        print(f"rayab: {err.code}: {err.details}", file=sys.stderr)
        return _EXIT_CODES.get(err.code, 1)
    if isinstance(reply, ExperimentsReply):
        _print(reply, args.format)
    else:
        _print_history(reply, args.format)
    return 0


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expected-version", type=int, default=None,
                        help="apply only if the experiment is at this version")
    _add_who(parser)


def _add_who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--changed-by", default=os.environ.get("RAYAB_CHANGED_BY", ""),
                        help="who makes the change, recorded in the history (default $RAYAB_CHANGED_BY)")


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    parser = sub.add_parser("experiments", help="create, list, get, update, ship or archive experiments, or show "
                                                "their history")
    parser.add_argument("--target", default=os.environ.get("RAYAB_TARGET", "127.0.0.1:50051"),
                        help="host:port of a rayab server (default $RAYAB_TARGET or 127.0.0.1:50051)")
    parser.add_argument("--tls-ca", default=None, help="PEM CA certificate: connect with TLS")
    parser.add_argument("--server-name", default=None, help="name to check in the server certificate")
    parser.add_argument("--token-file", default=None, help="file holding the admin token (default $RAYAB_ADMIN_TOKEN)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an experiment from a YAML/JSON spec")
    create.add_argument("--spec", required=True, help="YAML/JSON file holding one experiment")
    _add_who(create)
    actions.add_parser("list", help="list experiments").add_argument("--status", choices=_STATUS_NAMES)
    actions.add_parser("get", help="show one experiment").add_argument("exp_id")
    actions.add_parser("history", help="the config versions that changed an experiment: who, when, old -> new "
                       "values").add_argument("exp_id")
    update = actions.add_parser("update", help="change status, rollout, targeting or owner")
    update.add_argument("exp_id")
    update.add_argument("--status", choices=_STATUS_NAMES)
    update.add_argument("--rollout-pct", type=float, default=None)
    update.add_argument("--targeting", default=None, help="targeting rule as JSON ('{}' is everyone)")
    update.add_argument("--owner", default=None, help="who answers for the experiment ('' clears it)")
    _add_version(update)
    ship = actions.add_parser("ship", help="stop and serve one variant to everyone")
    ship.add_argument("exp_id")
    ship.add_argument("variant_id")
    _add_version(ship)
    archive = actions.add_parser("archive", help="retire a draft or stopped experiment")
    archive.add_argument("exp_id")
    _add_version(archive)
    parser.set_defaults(func=_run)
