"""Values as they come: more decimals than the metric's scale are rounded half to even and counted, the same way
whether the rows come as Parquet, JSON lines or CSV; what cannot be a value stays quarantined."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from rayab.aggregate.codes import key_codes, unit_codes
from rayab.aggregate.validate import validate_events_counted
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.external import read_csv_text
from rayab.storage.logs import read_log_file, write_log_file
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

HOUR = "2026-11-23T05"
# as written: 10 decimals (earnings data), ties in decimal that binary floats put on the other side, exact values
REVENUE = ["0.1234567891", "0.125", "0.135", "0.615", "2.675", "1.005", "0.5", "3", "0.30000000000000004",
           "1e-10", "-0.5"]


def _config() -> Config:
    config = demo_config("2026-11-23T00:00:00Z").to_dict()
    at = {**config["analysis_types"][0], "n_replicates": 8}
    return Config.from_dict({**config, "analysis_types": [at]})


def _cents(text: str) -> int:
    """The plain-Python reference: the decimal as written, half to even at 2 decimals."""
    return int((Decimal(text) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _records() -> list[dict[str, object]]:
    return [{"unit_id": 1234567890123456789 + i, "exp_id": "ranker_v2", "variant_id": ["control", "treatment"][i % 2],
             "country": 33 + i % 2, "platform": "web", "impressions": 2, "clicks": 1,
             "revenue": float(v)} for i, v in enumerate(REVENUE)]


def _as_parquet(tmp: Path) -> pa.Table:
    written = write_log_file(str(tmp), HOUR, "p.parquet", pa.Table.from_pylist(_records()))
    return read_log_file(written.path)


def _as_jsonl(tmp: Path) -> pa.Table:
    written = write_log_file(str(tmp), HOUR, "p.jsonl", pa.Table.from_pylist(_records()))
    return read_log_file(written.path)


def _as_csv() -> pa.Table:
    lines = ["unit_id,exp_id,variant_id,country,platform,impressions,clicks,revenue"]
    lines += [f"{r['unit_id']},{r['exp_id']},{r['variant_id']},{r['country']},web,2,1,{text}"
              for r, text in zip(_records(), REVENUE, strict=True)]
    return read_csv_text("\n".join(lines).encode())


def test_every_format_converts_the_same_way_as_the_decimal_reference(tmp_path: Path) -> None:
    config = _config()
    at = config.analysis_types[0]
    results = {}
    for name, table in (("parquet", _as_parquet(tmp_path)), ("jsonl", _as_jsonl(tmp_path)), ("csv", _as_csv())):
        valid, bad, rounded = validate_events_counted(table, at, config.experiments, name)
        codes, units = unit_codes(valid.column("unit_id"))  # what the job hashes and groups on
        country = key_codes(valid.column("country"))
        results[name] = (valid.column("revenue").to_pylist(), units.take(pa.array(codes)).to_pylist(),
                         [country.values[c] for c in country.codes], rounded, bad.column("reason").to_pylist())
    allowed = [t for t in REVENUE if Decimal(t) >= 0]
    expected_cents = [_cents(t) for t in allowed]
    assert expected_cents[:7] == [12, 12, 14, 62, 268, 100, 50]  # half to even on the decimal, not the float
    expected_rounded = sum(_cents(t) != Decimal(t) * 100 for t in allowed)
    for name, (cents, units, countries, rounded, reasons) in results.items():
        assert cents == expected_cents, name
        assert units == [str(1234567890123456789 + i) for i in range(len(allowed))], name
        assert countries == [str(33 + i % 2) for i in range(len(allowed))], name
        assert rounded == expected_rounded == 8, name
        assert reasons == ["revenue is negative"], name


@pytest.mark.usefixtures("ray_local")
def test_the_hour_counts_rounded_values_in_its_summary_and_manifest(tmp_path: Path) -> None:
    logs = str(tmp_path / "logs")
    records = _records()
    for r in records:
        r["unit_id"] = str(r["unit_id"])
        r["country"] = str(r["country"])
    write_log_file(logs, HOUR, "part-0.parquet", pa.Table.from_pylist(records))
    warehouse = Warehouse.from_url(tmp_path / "wh")
    (summary,) = run_hour(_config(), HOUR, logs, warehouse)
    assert summary.values_rounded == 8 and summary.rows_quarantined == 1
    assert "8 values rounded" in summary.line()
    (manifest,) = read_rows(warehouse, "_manifest").to_pylist()
    assert manifest["values_rounded"] == 8
    agg = read_rows(warehouse, "agg_engagement", where={"hour": HOUR})
    assert sum(agg.column("revenue").to_pylist()) == sum(_cents(t) for t in REVENUE if Decimal(t) >= 0)
