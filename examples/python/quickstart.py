"""Assign in-process from a snapshot document: python examples/python/quickstart.py SNAPSHOT.json [SERVER SDK_KEY]

With a server address and its SDK key, the client follows the server's config (WatchConfig) instead and logs the
exposures of the parameters it reads (LogExposures) when it closes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rayab.client import Client


def main() -> None:
    if len(sys.argv) == 4:
        client = Client(sys.argv[2], sys.argv[3])  # follows WatchConfig; exposures logged on first use
    else:
        client = Client.from_snapshot(Path(sys.argv[1]).read_text(encoding="utf-8"), exposures="never")
    attributes = {"country": "FR", "app_version": "5.10"}
    with client:
        decision = client.assign("alice", attributes)
        for a in decision.assignments:
            print(f"{a.exp_id}: {a.variant_id or '-'} ({a.reason}) {dict(a.parameters)}")
        print("ranker =", client.get_parameter("alice", attributes, "ranker", "v1"))
        rows = client.assign_batch(["bob", "carol"], [{"country": "US", "app_version": "6.0"}, {"country": "JP"}])
        print("batch:", " | ".join(",".join(a.variant_id or "-" for a in d.assignments) for d in rows))
        print("config version", client.config_version, "exposures", client.stats()["exposures_logged"])


if __name__ == "__main__":
    main()
