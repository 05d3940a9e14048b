"""Prints the SDK snapshot document (:mod:`rayab.assignment.snapshot_json`) of a config file's experiments.

Until the server streams it, this is how a service gets the document its SDK evaluates from:

    .venv/bin/python scripts/export_snapshot.py examples/engagement.yaml --config-version 1 > snapshot.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rayab.assignment import ConfigSnapshot
from rayab.assignment.snapshot_json import dumps
from rayab.errors import RayabError
from rayab.model import load_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a YAML or JSON config file")
    parser.add_argument("--config-version", type=int, default=1, help="the version the document carries")
    args = parser.parse_args(argv)
    try:
        print(dumps(ConfigSnapshot(args.config_version, load_config(args.config).experiments)))
    except (RayabError, OSError) as err:
        print(f"export_snapshot: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
