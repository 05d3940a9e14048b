"""``rayab assignments load`` from a Segment "Experiment Viewed" stream (gzip JSON lines, nested ``properties``,
``userId`` or only ``anonymousId``), against plain Python: ``json``, ``gzip`` and ``datetime`` on the same lines."""

from __future__ import annotations

import gzip
import json
import shlex
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rayab.cli.main import main
from rayab.simulate import demo_config
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
BIG = 2**62 + 11  # an int64 id beyond 2**53
ARGS = ["--exp", "ranker_v2", "--where", "event=Experiment Viewed", "--where", "properties.experiment_id=ranker_v2",
        "--unit-column", "userId,anonymousId", "--variant-column", "properties.variation_id",
        "--time-column", "timestamp", "--variant-map", "0=control,1=treatment", "--format", "json"]


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stream(seed: int = 3) -> list[dict[str, Any]]:
    """Views of two experiments, other track events, repeated views, and four kinds of bad rows."""
    rng = np.random.default_rng(seed)
    users: list[Any] = [f"u{i:03d}" for i in range(40)] + [BIG + i for i in range(40)] + [None] * 20
    lines: list[dict[str, Any]] = []
    for i in range(600):
        user = users[int(rng.integers(0, len(users)))]
        exp = ("ranker_v2", "ranker_v2", "pricing_q4")[int(rng.integers(0, 3))]
        event = ("Experiment Viewed", "Experiment Viewed", "Product Viewed")[int(rng.integers(0, 3))]
        at = T0 + timedelta(seconds=int(rng.integers(0, 6 * 3600)), milliseconds=int(rng.integers(0, 1000)))
        lines.append({"type": "track", "event": event, "userId": user, "anonymousId": f"anon-{i % 37}",
                      "messageId": f"m{i}", "timestamp": _iso(at), "context": {"locale": "en-US"},
                      "properties": {"experiment_id": exp, "experiment_name": exp.title(),
                                     "variation_id": int(rng.integers(0, 2))}})
    view: dict[str, Any] = {"type": "track", "event": "Experiment Viewed", "messageId": "bad", "context": {},
                            "properties": {"experiment_id": "ranker_v2", "experiment_name": "R", "variation_id": 0}}
    unknown = {**view["properties"], "variation_id": 7}
    lines += [{**view, "userId": "u900", "timestamp": _iso(T0), "properties": unknown},
              {**view, "userId": "u901", "timestamp": "soon"},
              {**view, "userId": "u902", "timestamp": _iso(T0 - timedelta(hours=1))},
              {**view, "userId": None, "anonymousId": "", "timestamp": _iso(T0)}]
    return lines


def _reference(lines: list[dict[str, Any]]) -> tuple[dict[str, tuple[str, datetime]], Counter[str], int]:
    """Per unit its earliest (time, variant) view of ranker_v2, the quarantine reasons, and the rows left out."""
    best: dict[str, tuple[datetime, str]] = {}
    reasons: Counter[str] = Counter()
    filtered = 0
    for line in lines:
        props = line["properties"]
        if line["event"] != "Experiment Viewed" or props["experiment_id"] != "ranker_v2":
            filtered += 1
            continue
        unit = next((str(u) for u in (line.get("userId"), line.get("anonymousId")) if u not in (None, "")), "")
        variant = {0: "control", 1: "treatment"}.get(props["variation_id"], str(props["variation_id"]))
        try:
            at = datetime.fromisoformat(line["timestamp"])
        except ValueError:
            at = None
        if not unit:
            reasons["userId,anonymousId is null or empty"] += 1
        elif variant not in ("control", "treatment"):
            reasons[f"properties.variation_id == {variant!r}: unknown variant of ranker_v2 (known: control, "
                    "treatment)"] += 1
        elif at is None:
            reasons["timestamp is not an ISO 8601 time"] += 1
        elif at < T0:
            reasons["timestamp is before the experiment's start_time 2026-11-23T00:00:00+00:00"] += 1
        elif unit not in best or (at, variant) < best[unit]:
            best[unit] = (at, variant)
    return {u: (v, at) for u, (at, v) in best.items()}, reasons, filtered


def _warehouse(tmp: Path) -> str:
    url = str(tmp / "wh")
    save_config(Warehouse.from_url(url), demo_config("2026-11-23T00:00:00Z"))
    return url


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode()))
    return path


def test_experiment_viewed_stream_matches_plain_python(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = _warehouse(tmp_path)
    lines = _stream()
    path = _write(tmp_path / "segment-2026-11-23.gz", lines)  # Segment's name: the format must be given
    assert main(["assignments", "load", str(path), "--input-format", "jsonl", "--keep-columns", "none",
                 "--warehouse", warehouse, *ARGS]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected, reasons, filtered = _reference(lines)
    rows = read_rows(Warehouse.from_url(warehouse), "assignment", where={"exp_id": "ranker_v2"}).to_pylist()
    assert {r["unit_id"]: (r["variant_id"], r["assigned_at"]) for r in rows} == expected
    assert any(u.isdigit() and int(u) > 2**53 for u in expected)  # int64 ids kept exactly, as text
    assert any(u.startswith("anon-") for u in expected) and any(u.startswith("u") for u in expected)
    assert summary["rows_read"] == len(lines) and summary["rows_filtered"] == filtered > 100
    assert summary["quarantine_reasons"] == dict(reasons) and sum(reasons.values()) == 4
    assert summary["kept_columns"] == [] and summary["inserted"] == len(expected)
    assert summary["units_in_table"] == dict(Counter(v for v, _ in expected.values()))
    quarantine = read_rows(Warehouse.from_url(warehouse), "_load_quarantine").to_pylist()
    n = len(lines)
    assert sorted(r["row_index"] for r in quarantine) == [n - 4, n - 3, n - 2, n - 1]  # lines of the file
    assert json.loads(next(r for r in quarantine if r["row_index"] == n - 3)["row"])["timestamp"] == "soon"
    # the same stream named .jsonl.gz needs no --input-format; by default plain scalar columns are kept,
    # nested objects (properties, context) are not; loading again changes nothing
    _write(tmp_path / "views.jsonl.gz", lines)
    monkeypatch.chdir(tmp_path)
    assert main(["assignments", "load", "views.jsonl.gz", "--warehouse", warehouse, *ARGS]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["inserted"] == second["made_earlier"] == 0 and second["unchanged"] == len(expected)
    assert second["kept_columns"] == ["type", "messageId"] and second["skipped_columns"] == ["context"]
    # the README's command, as written (text summary)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [x for x in readme.splitlines() if x.startswith("rayab assignments load views.jsonl.gz")]
    assert main([*shlex.split(line)[1:], "--warehouse", warehouse]) == 0
    text = capsys.readouterr().out
    assert f"{len(lines)} rows read ({filtered} left out by --where), {len(expected)} units valid" in text
    assert "quarantined 1: properties.variation_id == '7'" in text


@pytest.mark.parametrize(("extra", "needle"), [
    (["--variant-column", "properties.variant"], "--variant-column == 'properties.variant': is not a field of"),
    (["--where", "event"], "--where == 'event': must be FIELD=VALUE"),
    (["--where", "props.nope=1"], "--where.props.nope == 'props.nope': is not a field of the input"),
    (["--keep-columns", "country"], "--keep-columns == 'country'"),
])
def test_bad_stream_options_exit_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               extra: list[str], needle: str) -> None:
    warehouse = _warehouse(tmp_path)
    path = _write(tmp_path / "views.jsonl.gz", _stream())
    assert main(["assignments", "load", str(path), "--warehouse", warehouse, *ARGS, *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_a_gz_name_without_a_format_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = _warehouse(tmp_path)
    path = _write(tmp_path / "segment-2026-11-23.gz", _stream())
    assert main(["assignments", "load", str(path), "--warehouse", warehouse, *ARGS]) == 2
    err = capsys.readouterr().err
    assert "source == " in err and "--input-format" in err and len(err.strip().splitlines()) == 1
