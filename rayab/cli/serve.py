"""``rayab serve``: start the assignment front on a local or existing Ray cluster and serve until stopped.

With ``--console-port`` each server process also serves the web console (:mod:`rayab.console.mount`) over HTTP,
reading through the results engine of its ``ResultsService`` and writing through the config actor, like
``ExperimentService``.

It starts (or joins) the config actor and the assignment logger, then one gRPC server actor per node (or
``--servers``), prints the addresses, replaces any server whose process dies (printing a line when it does), and
on SIGINT/SIGTERM (or after ``--duration`` seconds) stops gracefully and exits 0: calls in flight finish, every
buffered first assignment is committed, the logger is closed and each server's final counters are printed.

The admin token comes from the environment
variable ``RAYAB_ADMIN_TOKEN`` or ``--admin-token-file``, never from the command line (it would show in ``ps``);
likewise the optional read token (``RAYAB_READ_TOKEN`` or ``--read-token-file``) that experiment and results reads
then need, and the SDK key (``RAYAB_SDK_KEY`` or ``--sdk-key-file``) that in-process SDKs present to follow the
config (``WatchConfig``) and log exposures (``LogExposures``).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from rayab.cli.options import add_common
from rayab.errors import RayabError, ValidationError

__all__ = ["admin_token", "read_token", "register", "sdk_key"]

TOKEN_VARIABLE = "RAYAB_ADMIN_TOKEN"
READ_TOKEN_VARIABLE = "RAYAB_READ_TOKEN"
SDK_KEY_VARIABLE = "RAYAB_SDK_KEY"


def admin_token(token_file: str | None, variable: str = TOKEN_VARIABLE, field: str = "admin_token_file") -> str | None:
    """The admin token from ``token_file`` if given, else from ``RAYAB_ADMIN_TOKEN`` (None if neither)."""
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise ValidationError(field, token_file, "must be a readable file holding the token")
        return path.read_text(encoding="utf-8").strip() or None
    return os.environ.get(variable) or None


def read_token(token_file: str | None) -> str | None:
    """The read token from ``token_file`` if given, else from ``RAYAB_READ_TOKEN`` (None if neither)."""
    return admin_token(token_file, READ_TOKEN_VARIABLE, "read_token_file")


def sdk_key(key_file: str | None) -> str | None:
    """The SDK key from ``key_file`` if given, else from ``RAYAB_SDK_KEY`` (None if neither)."""
    return admin_token(key_file, SDK_KEY_VARIABLE, "sdk_key_file")


def _serve_until_stopped(deployment: Any, duration: float | None) -> None:
    """Supervise the servers until SIGINT/SIGTERM or ``duration`` seconds."""
    from rayab.serving.servers import supervise

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = threading.Thread(target=supervise, args=(deployment, stop),
                                  kwargs={"report": lambda line: print(line, flush=True)}, daemon=True)
    supervisor.start()
    stop.wait(duration)
    stop.set()
    supervisor.join(timeout=60)


def _launcher(settings: Any, warehouse: Any, console_port: int | None) -> Any:
    """The gRPC launcher, with the console next to it when ``console_port`` is given."""
    from rayab.rpc.server import launcher

    if console_port is None:
        return launcher(settings, warehouse)
    if not 0 <= console_port <= 65535:
        raise ValidationError("console_port", console_port, "must be in [0, 65535] (0: any free port)")
    try:
        from rayab.console.mount import console_launcher
    except ImportError as err:
        raise RayabError(f"the console needs its extra: pip install 'rayab[console]' ({err})") from None
    return console_launcher(settings, warehouse, console_port)


def _run(args: argparse.Namespace) -> int:
    from rayab.rpc.server import ServerSettings
    from rayab.runtime import ray_session
    from rayab.serving.servers import server_statuses, start_servers, stop_servers
    from rayab.storage.warehouse import Warehouse

    token = admin_token(args.admin_token_file)
    settings = ServerSettings(host=args.host, port=args.port, admin_token=token,
                              read_token=read_token(args.read_token_file), sdk_key=sdk_key(args.sdk_key_file),
                              tls_cert_file=args.tls_cert,
                              tls_key_file=args.tls_key)
    warehouse = Warehouse.from_url(args.warehouse)
    launch = _launcher(settings, warehouse, args.console_port)
    with ray_session(args.address, args.num_cpus):
        deployment = start_servers(warehouse, launch, settings.host, servers=args.servers,
                                   namespace=args.namespace, spares=True)
        version = deployment.config_version()
        statuses = server_statuses(deployment) if args.console_port is not None else [{}] * len(deployment.addresses)
        for address, status in zip(deployment.addresses, statuses, strict=True):
            print(f"listening on {address} ({'TLS' if settings.tls else 'plaintext'}), config version {version}",
                  flush=True)
            if "console_port" in status:
                host = address.rsplit(":", 1)[0]
                scheme = "https" if settings.tls else "http"
                print(f"console on {scheme}://{host}:{status['console_port']}/", flush=True)
        if token is None:
            print(f"admin mutations are disabled: set {TOKEN_VARIABLE} or --admin-token-file", flush=True)
        _serve_until_stopped(deployment, args.duration)
        print("stopping: finishing calls in flight and committing buffered assignments", flush=True)
        for final in stop_servers(deployment):
            if final.get("dead"):
                print(f"server :{final['port']}: died before the stop (its counters are lost)", flush=True)
                continue
            print(f"server :{final['port']}: {final['assign_requests']} Assign, {final['batch_requests']} "
                  f"BatchAssign, {final['logged']} first assignments logged, {final['dropped']} dropped", flush=True)
        print(f"logger closed; {deployment.replaced} servers replaced while serving", flush=True)
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    serve = sub.add_parser("serve", help="serve Assign/BatchAssign and the admin API over gRPC")
    add_common(serve)
    serve.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    serve.add_argument("--num-cpus", type=int, default=2, help="CPUs of a local Ray (default 2)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=50051, help="port of every server (0: any free port)")
    serve.add_argument("--servers", type=int, default=None, help="number of server actors (default one per node)")
    serve.add_argument("--console-port", type=int, default=None,
                       help="also serve the web console over HTTP on this port of every server (0: any free port; "
                            "default: no console); same tokens, results engine and admin path as the gRPC services")
    serve.add_argument("--admin-token-file", default=None,
                       help=f"file holding the admin bearer token (default: ${TOKEN_VARIABLE})")
    serve.add_argument("--read-token-file", default=None,
                       help=f"file holding a read token that experiment and results reads then need "
                            f"(default: ${READ_TOKEN_VARIABLE}; unset: open reads, never showing salts)")
    serve.add_argument("--sdk-key-file", default=None,
                       help=f"file holding the key SDKs present to follow the config and log exposures "
                            f"(default: ${SDK_KEY_VARIABLE}; unset: only the admin token may)")
    serve.add_argument("--tls-cert", default=None, help="PEM certificate: serve TLS (with --tls-key)")
    serve.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    serve.add_argument("--namespace", default="rayab", help="Ray namespace of the actors (default rayab)")
    serve.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    serve.set_defaults(func=_run)
