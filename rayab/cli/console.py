"""``rayab console``: the web console on a warehouse folder (or S3 URL), no cluster needed.

    RAYAB_ADMIN_TOKEN=s3cret rayab console --warehouse ./rayab-warehouse --port 8080

It reads through the same results engine as the gRPC results service and writes (rollout, stop) through the same
config store as the admin API; the admin token comes from ``RAYAB_ADMIN_TOKEN`` or ``--admin-token-file`` (never
the command line), and without one the console is read-only; with a read token (``RAYAB_READ_TOKEN`` or
``--read-token-file``) every page needs it or the admin token. The web stack is the ``console`` extra
(``pip install 'rayab[console]'``), imported only when the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from rayab.cli.serve import READ_TOKEN_VARIABLE, TOKEN_VARIABLE, admin_token, read_token
from rayab.errors import RayabError, ValidationError

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from rayab.console.app import create_app
    except ImportError as err:
        raise RayabError(f"the console needs its extra: pip install 'rayab[console]' ({err})") from None
    from rayab.storage.warehouse import Warehouse

    if not 0 < args.port < 65536:
        raise ValidationError("port", args.port, "must be in [1, 65535]")
    token = admin_token(args.admin_token_file)
    app = create_app(Warehouse.from_url(args.warehouse), admin_token=token,
                     read_token=read_token(args.read_token_file))
    mode = ("admin changes need the token" if token
            else f"read-only: set {TOKEN_VARIABLE} or --admin-token-file to allow changes")
    print(f"console on http://{args.host}:{args.port}/ ({mode})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    console = sub.add_parser("console", help="the web console: catalogue, experiment pages, explore, operate")
    console.add_argument("--warehouse", default=None, help="warehouse folder or s3:// URL (default ./rayab-warehouse)")
    console.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    console.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    console.add_argument("--admin-token-file", default=None,
                         help=f"file holding the admin bearer token (default: ${TOKEN_VARIABLE})")
    console.add_argument("--read-token-file", default=None,
                         help=f"file holding a read token every page then needs, or the admin token (default: "
                              f"${READ_TOKEN_VARIABLE}; unset: open reads)")
    console.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                         help="the HTTP server's log level (default warning)")
    console.set_defaults(func=_run)
