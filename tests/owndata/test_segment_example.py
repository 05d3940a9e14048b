"""The README's Segment walkthrough, as written, on an export this test generates in Segment's shape (gzip JSON lines
of track events: userId, event, timestamp, properties.*, context.*), checked against plain Python."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shlex
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rayab.cli.main import main

pytestmark = pytest.mark.usefixtures("ray_local")

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
BIG = 2**62 + 7


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("A Segment export walked from raw files"):]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0]
    return [line for line in block.splitlines() if line.startswith("rayab ")]


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _export(folder: Path, seed: int = 8) -> tuple[dict[Any, tuple[str, datetime, str]], list[dict[str, Any]]]:
    """Users (ids of every type: text, int64 beyond 2**53, the float 1e20), their assignments, and 4 hours of events
    spread over three gzip files in time order within none of them."""
    rng = np.random.default_rng(seed)
    users: list[Any] = [f"u{i:04d}" for i in range(150)] + [BIG + i for i in range(150)] + [1e20]
    assigned = {u: (("control", "one_page")[int(rng.integers(0, 2))],
                    T0 + timedelta(minutes=int(rng.integers(0, 150))), ("ios", "web")[i % 2])
                for i, u in enumerate(users)}
    events: list[dict[str, Any]] = []
    for _ in range(2500):
        user = users[int(rng.integers(0, len(users)))]
        at = T0 + timedelta(seconds=int(rng.integers(0, 4 * 3600)), milliseconds=int(rng.integers(0, 1000)))
        kind = ("Order Completed", "Product Viewed", "Order Completed", "Checkout Started")[int(rng.integers(0, 4))]
        event: dict[str, Any] = {"type": "track", "event": kind, "userId": user, "anonymousId": f"a{rng.integers(9)}",
                                 "timestamp": _iso(at), "context": {"device": {"type": assigned[user][2]}},
                                 "properties": {}}
        if kind == "Order Completed":
            event["properties"] = {"revenue": round(float(rng.gamma(2.0, 15.0)), int(rng.integers(1, 5))),
                                   "currency": "USD", "products": [{"sku": "x", "price": 1.5}]}
        events.append(event)
    events.append({"type": "identify", "userId": users[0], "timestamp": _iso(T0), "traits": {"plan": "pro"}})
    events.append({"type": "track", "event": "Order Completed", "userId": None, "anonymousId": "a1",
                   "timestamp": _iso(T0 + timedelta(minutes=5)), "properties": {"revenue": 9.99},
                   "context": {"device": {"type": "web"}}})
    order = rng.permutation(len(events))
    day = folder / "2026" / "11" / "23"
    day.mkdir(parents=True)
    for part in range(3):
        lines = "".join(json.dumps(events[i]) + "\n" for i in order[part::3])
        (day / f"part-{part}.gz").write_bytes(gzip.compress(lines.encode()))
    return assigned, events


def _cents(value: float) -> int:
    return int((Decimal(repr(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_the_segment_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples" / "segment").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "segment" / "checkout.yaml", tmp_path / "examples" / "segment")
    assigned, events = _export(tmp_path / "segment-export")
    with (tmp_path / "assignments.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit_id", "variant_id", "assigned_at", "platform"])
        for user, (variant, at, platform) in assigned.items():
            writer.writerow([str(int(user)) if isinstance(user, float) else user, variant, _iso(at), platform])

    commands = _readme_commands()
    assert [shlex.split(c)[1] for c in commands] == ["assignments", "backfill", "results", "sql", "sql"]
    for command in commands:
        code = main(shlex.split(command)[1:])
        out = capsys.readouterr()
        assert code == 0, f"{command}\n{out.out[-2000:]}\n{out.err[-2000:]}"
        if command.startswith("rayab sql --exp"):
            assert "'{{ exp_id }}'" in out.out and not out.out.rstrip().endswith(";")
        if command.startswith("rayab backfill"):
            assert "4 of 4 hours to run" in out.out
    results_argv = [*shlex.split(commands[2])[1:], "--format", "json", "--metric", "revenue_per_user",
                    "--metric", "units", "--metric", "orders"]
    assert main(results_argv) == 0
    results = {(r["metric"], r["variant_id"]): r for r in json.loads(capsys.readouterr().out)}

    # plain Python over the raw export: orders at or after the user's assignment, in [00:00, 04:00)
    units: dict[str, int] = defaultdict(int)
    revenue: dict[str, int] = defaultdict(int)
    orders: dict[str, int] = defaultdict(int)
    for variant, _, _ in assigned.values():
        units[variant] += 1
    key = {str(int(u)) if isinstance(u, float) else str(u): u for u in assigned}
    for e in events:
        if e.get("type") != "track" or e.get("event") != "Order Completed" or e["userId"] is None:
            continue
        user = key[str(int(e["userId"])) if isinstance(e["userId"], float) else str(e["userId"])]
        variant, at, _ = assigned[user]
        when = datetime.fromisoformat(e["timestamp"])
        if when >= at:
            orders[variant] += 1
            revenue[variant] += _cents(e["properties"]["revenue"])
    for variant in ("control", "one_page"):
        assert results[("units", variant)]["estimate"] == units[variant]
        assert results[("orders", variant)]["estimate"] == orders[variant]
        assert results[("revenue_per_user", variant)]["estimate"] == pytest.approx(
            revenue[variant] / 100 / units[variant], rel=1e-12)
    assert orders["control"] > 0 and orders["one_page"] > 0

    # the manifest says what was read and what was left out; the anonymous order is quarantined with its reason
    assert main(["backfill", "--from", "2026-11-23T00", "--to", "2026-11-23T04", "--config",
                 "examples/segment/checkout.yaml", "--warehouse", "shop-warehouse", "--population", "assignment",
                 "--dry-run"]) == 0
    assert "0 of 4 hours to run" in capsys.readouterr().out
    from rayab.storage.schemas import MANIFEST_TABLE, QUARANTINE_TABLE
    from rayab.storage.tables import read_rows
    from rayab.storage.warehouse import Warehouse

    warehouse = Warehouse.from_url(tmp_path / "shop-warehouse")
    manifests = read_rows(warehouse, MANIFEST_TABLE).to_pylist()
    not_orders = sum(1 for e in events if e.get("type") != "track" or e.get("event") != "Order Completed")
    assert sum(m["rows_filtered"] for m in manifests) == not_orders
    assert all(len(m["input_files"]) == 3 for m in manifests)
    reasons = read_rows(warehouse, QUARANTINE_TABLE).column("reason").to_pylist()
    assert reasons == ["unit_id is null or empty"]
