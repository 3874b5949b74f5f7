"""OONI aggregation results: the shared exports ingest exactly and once, every form the API produces is
read, bad rows are reported with file and line while the rest are kept, and API URLs go through the
cache and mirrors."""

from __future__ import annotations

import csv
import datetime as dt
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from netfreedom.errors import InputError
from netfreedom.fetch import Fetcher
from netfreedom.ingest import Problem, read_source
from netfreedom.ingest.aggregation import looks_like_aggregation, parse_dimensions, url_dimensions
from netfreedom.models.aggregation import COUNTS, AggregateRow, Grain, canonical_test, period_end
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store

from .test_ingest_cli import run_cli


def exports(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "ooni" / "aggregation").glob("*.csv"))


def file_dims(path: Path) -> dict[str, str]:
    """The query's filters, which the shared files carry only in their names: ``CC_test_name_axes.csv``."""
    cc, rest = path.stem.split("_", 1)
    return {"probe_cc": cc, "test_name": rest.rsplit("_", 1)[0]}


def plain_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_items(spec: str, dims: dict[str, str] | None = None) -> tuple[list[AggregateRow], list[Problem]]:
    rows: list[AggregateRow] = []
    problems: list[Problem] = []
    for item in read_source(spec, dimensions=dims):
        if isinstance(item, AggregateRow):
            rows.append(item)
        elif isinstance(item, Problem):
            problems.append(item)
    return rows, problems


def test_shared_exports_ingest_exactly_and_once(tmp_path: Path, shared_data: Path) -> None:
    db = tmp_path / "s.duckdb"
    files = exports(shared_data)
    assert len(files) == 16
    expected_rows = 0
    expected_sum = 0
    for path in files:
        plain = plain_rows(path)
        expected_rows += len(plain)
        expected_sum += sum(int(r["measurement_count"]) for r in plain)
        dims = file_dims(path)
        args = [a for k, v in dims.items() for a in ("--dimension", f"{k}={v}")]
        done = run_cli("ingest", path, "--db", db, *args, "--json")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["aggregate_rows"] == len(plain) and doc["rejected"] == 0 and doc["lines"] == len(plain)
        with open_store(db, read_only=True) as store:
            got = store.query(
                "SELECT probe_cc, test_name, layer, grain, count(*) AS n, "
                + ", ".join(f"sum({c}) AS {c}" for c in COUNTS)
                + " FROM aggregates WHERE source = ? GROUP BY ALL",
                [str(path)],
            ).to_pylist()
        assert len(got) == 1, got
        (row,) = got
        assert (row["probe_cc"], row["test_name"]) == (dims["probe_cc"], dims["test_name"])
        assert row["layer"] == ("probe_asn" if "asn" in path.stem else "") and row["grain"] == "day"
        assert row["n"] == len(plain)
        for c in COUNTS:
            assert row[c] == sum(int(r[c]) for r in plain), (path.name, c)
    assert expected_rows == 1908
    # Again, the whole folder at once with every file's dimensions given: nothing new.
    for path in files:
        dims = file_dims(path)
        args = [a for k, v in dims.items() for a in ("-d", f"{k}={v}")]
        again = json.loads(run_cli("ingest", path, "--db", db, *args, "--json").stdout)
        assert again["aggregate_rows"] == 0 and again["aggregate_duplicates"] == again["lines"] > 0
    stats = run_cli("stats", "--db", db, "--json")
    assert stats.returncode == 0, stats.stderr
    s = json.loads(stats.stdout)
    assert s["aggregate_rows"] == expected_rows
    assert s["aggregate_measurements"] == expected_sum
    assert s["aggregate_by_probe_cc"].keys() == {"IQ", "IE"}
    assert "Raw measurements win" in s["aggregate_rule"]
    text = run_cli("stats", "--db", db).stdout
    assert f"{expected_rows} aggregation rows" in text


def test_asn_rows_carry_their_networks(shared_data: Path) -> None:
    path = shared_data / "ooni" / "aggregation" / "IQ_telegram_day-asn.csv"
    rows, problems = read_items(str(path), file_dims(path))
    assert not problems
    plain = plain_rows(path)
    assert sorted((r.start.date().isoformat(), r.probe_asn, r.ok_count) for r in rows) == sorted(
        (p["measurement_start_day"], int(p["probe_asn"]), int(p["ok_count"])) for p in plain
    )
    assert {r.test_name for r in rows} == {"telegram"} and all(r.grain is Grain.DAY for r in rows)
    assert all(r.end - r.start == dt.timedelta(days=1) for r in rows)


def _as_json_rows(path: Path, **extra: object) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for r in plain_rows(path):
        row: dict[str, object] = {k: int(v) if k.endswith("_count") else v for k, v in r.items()}
        if "probe_asn" in row:
            row["probe_asn"] = int(str(row["probe_asn"]))
        row.update(extra)
        out.append(row)
    return out


def test_every_json_form_reads_the_same(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "ooni" / "aggregation" / "IQ_signal_day-asn.csv"
    dims = file_dims(src)
    reference, _ = read_items(str(src), dims)
    rows = _as_json_rows(src)
    forms = {
        "envelope.json": {"v": 0, "dimension_count": 2, "result": rows, "db_stats": {"row_count": 9}},
        "list.json": rows,
    }
    for name, doc in forms.items():
        (tmp_path / name).write_text(json.dumps(doc))
        got, problems = read_items(str(tmp_path / name), dims)
        assert not problems, name
        assert [(r.start, r.probe_asn, r.measurement_count) for r in got] == [
            (r.start, r.probe_asn, r.measurement_count) for r in reference
        ], name
    # The axes as columns instead of dimensions; probe_asn as "AS…"; a test name without underscores.
    spelled = [
        {**r, "probe_asn": f"AS{r['probe_asn']}", "probe_cc": "iq", "test_name": "Signal"} for r in rows
    ]
    (tmp_path / "axes.json").write_text(json.dumps({"v": 0, "dimension_count": 4, "result": spelled}))
    got, problems = read_items(str(tmp_path / "axes.json"))
    assert not problems
    assert {(r.probe_cc, r.test_name) for r in got} == {("IQ", "signal")}
    assert sorted(r.probe_asn or 0 for r in got) == sorted(r.probe_asn or 0 for r in reference)
    # One result object (a query without axes): the period is the query's since..until.
    single = {
        "v": 0,
        "dimension_count": 0,
        "result": dict.fromkeys(COUNTS, 10) | {"ok_count": 5, "anomaly_count": 5},
    }
    (tmp_path / "single.json").write_text(json.dumps(single))
    one, problems = read_items(
        str(tmp_path / "single.json"),
        {"probe_cc": "IQ", "test_name": "webconnectivity", "since": "2025-03-01", "until": "2025-04-01"},
    )
    assert not problems and len(one) == 1
    assert one[0].grain is Grain.RANGE and one[0].test_name == "web_connectivity"
    assert (one[0].start, one[0].end) == (
        dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
        dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
    )
    # Gzip-compressed CSV.
    import gzip

    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(src.read_bytes()))
    got, problems = read_items(str(tmp_path / "c.csv.gz"), dims)
    assert not problems and len(got) == len(reference)


@pytest.mark.parametrize(
    ("values", "grain"),
    [
        (["2025-03-06T10:00:00Z", "2025-03-06T11:00:00Z"], Grain.HOUR),
        (["2025-03-06 00:00:00", "2025-03-07 00:00:00"], Grain.DAY),
        (["2025-03-03", "2025-03-10", "2025-03-24"], Grain.WEEK),
        (["2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z"], Grain.MONTH),
        (["2023-01-01", "2024-01-01"], Grain.YEAR),
        (["2025-03"], Grain.MONTH),
        (["2025-03-06"], Grain.DAY),
    ],
)
def test_time_grains(tmp_path: Path, values: list[str], grain: Grain) -> None:
    lines = ["measurement_start_day,measurement_count,ok_count,anomaly_count,confirmed_count,failure_count"]
    lines += [f"{v},3,2,1,0,0" for v in values]
    if values == ["2025-03"]:
        lines[0] = lines[0].replace("measurement_start_day", "measurement_start_month")
    path = tmp_path / "g.csv"
    path.write_text("\n".join(lines) + "\n")
    rows, problems = read_items(str(path), {"probe_cc": "IE", "test_name": "signal"})
    assert not problems
    assert {r.grain for r in rows} == {grain}
    assert all(r.end == period_end(r.start, grain) for r in rows)


def test_time_grain_given_wins(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(
        "anomaly_count,confirmed_count,failure_count,measurement_count,measurement_start_day,ok_count\n"
        "0,0,0,1,2025-03-01,1\n0,0,0,1,2025-04-01,1\n"
    )
    rows, _ = read_items(str(path), {"probe_cc": "IE", "test_name": "signal", "time_grain": "day"})
    assert {r.grain for r in rows} == {Grain.DAY}


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_kept(tmp_path: Path) -> None:
    header = (
        "anomaly_count,confirmed_count,failure_count,measurement_count,measurement_start_day,ok_count,"
        "probe_asn"
    )
    body = [
        "1,0,0,5,2025-03-06,4,AS1",  # 2 good
        "x,0,0,5,2025-03-06,4,2",  # 3 wrong type
        "-1,0,0,5,2025-03-06,4,3",  # 4 negative
        "3,0,0,5,2025-03-06,4,4",  # 5 ok + anomaly > measurement
        "0,0,9,5,2025-03-06,4,5",  # 6 failure > measurement
        "0,0,0,5,not-a-day,5,6",  # 7 bad time
        "0,0,0,5,2025-03-06,5,ASX",  # 8 bad asn
        "0,0,0,5,2025-03-06,5",  # 9 short row
        "1,0,0,5,2025-03-06,4,1",  # 10 the same cell as line 2
        "0,0,0,5,2025-03-07,5,7",  # 11 good
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *body]) + "\n")
    rows, problems = read_items(str(path), {"probe_cc": "IQ", "test_name": "telegram"})
    assert [r.line for r in rows] == [2, 11]
    by_line = {p.line: p.reason for p in problems}
    assert set(by_line) == set(range(3, 11)), by_line
    assert all(p.file == str(path) for p in problems)
    assert "anomaly_count must be a non-negative integer" in by_line[3]
    assert "negative" in by_line[4]
    assert "ok_count + anomaly_count (4 + 3) is more than measurement_count 5" in by_line[5]
    assert "failure_count 9 is more than measurement_count 5" in by_line[6]
    assert "not a date" in by_line[7]
    assert "probe_asn" in by_line[8]
    assert "fields where the header has" in by_line[9]
    assert "same cell as line 2" in by_line[10]


def test_json_bad_rows(tmp_path: Path) -> None:
    good = {
        "anomaly_count": 0,
        "confirmed_count": 0,
        "failure_count": 0,
        "measurement_count": 2,
        "ok_count": 2,
    }
    rows = [
        {**good, "measurement_start_day": "2025-03-06"},
        {**good, "measurement_start_day": "2025-03-07", "ok_count": "2"},  # a string count
        {**good, "measurement_start_day": "2025-03-08", "ok_count": 1.5},
        {**good, "measurement_start_day": "2025-03-09", "probe_network": "x"},  # unknown axis
        {**good, "measurement_start_day": "2025-03-10", "probe_cc": "IE"},  # contradicts probe_cc=IQ
        {k: v for k, v in good.items() if k != "ok_count"} | {"measurement_start_day": "2025-03-11"},
        {**good},  # no time and no since/until
        "not an object",
        {**good, "measurement_start_day": "2025-03-12", "measurement_count": True},
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"v": 0, "dimension_count": 1, "result": rows}))
    got, problems = read_items(str(path), {"probe_cc": "IQ", "test_name": "telegram"})
    assert [r.line for r in got] == [1, 2]  # "2" is how ClickHouse may quote integers: accepted
    reasons = {p.line: p.reason for p in problems}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9}
    assert "1.5" in reasons[3]
    assert "unknown axis 'probe_network'" in reasons[4]
    assert "contradicts" in reasons[5]
    assert "missing field 'ok_count'" in reasons[6]
    assert "missing dimension measurement_start_day" in reasons[7]
    assert "JSON object" in reasons[8]
    assert "boolean" in reasons[9]


def test_missing_dimensions_are_reported(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "ooni" / "aggregation" / "IE_signal_day.csv"
    db = tmp_path / "s.duckdb"
    done = run_cli("ingest", path, "--db", db, "--json", "-d", "test_name=signal")
    assert done.returncode == 1  # nothing could be stored
    doc = json.loads(done.stdout)
    assert doc["rejected"] == 30 and doc["aggregate_rows"] == 0
    assert doc["errors"][0]["line"] == 2 and "missing dimension probe_cc" in doc["errors"][0]["reason"]
    bad = run_cli("ingest", path, "--db", db, "-d", "country=IE")
    assert bad.returncode == 2 and "not a dimension" in bad.stderr


def test_dimension_parsing() -> None:
    assert parse_dimensions(["probe_cc=IQ", "test_name=telegram"]) == {
        "probe_cc": "IQ",
        "test_name": "telegram",
    }
    for bad in (["probe_cc"], ["probe_cc=IRQ"], ["since=yesterday"], ["time_grain=fortnight"], ["x=1"]):
        with pytest.raises(InputError):
            parse_dimensions(bad)
    assert canonical_test("webconnectivity") == "web_connectivity"
    assert canonical_test("HTTP_Header_Field_Manipulation") == "http_header_field_manipulation"
    assert canonical_test("some_new_test") == "some_new_test"
    dims = url_dimensions(
        "https://api.ooni.io/api/v1/aggregation?probe_cc=IQ&test_name=telegram&axis_x=measurement_start_day"
        "&since=2025-03-06&until=2025-04-07&format=CSV&probe_asn=AS1,AS2"
    )
    assert dims == {"probe_cc": "IQ", "test_name": "telegram", "since": "2025-03-06", "until": "2025-04-07"}
    with pytest.raises(InputError, match="ooni_run_link_id"):
        url_dimensions("https://api.ooni.io/api/v1/aggregation?ooni_run_link_id=1")


def test_recognised_by_content_not_name(tmp_path: Path, shared_data: Path, measurements_dir: Path) -> None:
    src = shared_data / "ooni" / "aggregation" / "IE_signal_day.csv"
    odd = tmp_path / "export.txt"
    odd.write_bytes(src.read_bytes())
    rows, problems = read_items(str(odd), file_dims(src))
    assert len(rows) == 30 and not problems
    assert not looks_like_aggregation(next(measurements_dir.glob("*.jsonl")).read_bytes()[:65536])
    # A measurement that merely mentions the count names is still read as a measurement.
    line = json.loads(next(measurements_dir.glob("web_connectivity*.jsonl")).read_text().splitlines()[0])
    line["annotations"] = {"note": '"measurement_count" "anomaly_count"'}
    tricky = tmp_path / "m.json"
    tricky.write_text(json.dumps(line))
    items = list(read_source(str(tricky)))
    assert not any(isinstance(i, (AggregateRow, Problem)) for i in items)


def test_folder_reads_aggregation_csv_and_skips_other_csv(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    src = shared_data / "ooni" / "aggregation" / "IE_signal_day.csv"
    (folder / "ie.csv").write_bytes(src.read_bytes())
    (folder / "list.csv").write_text("url,category_code\nhttps://example.org/,NEWS\n")
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        summary = ingest(store, [str(folder)], dimensions=file_dims(src))
    assert summary.aggregate_rows == 30 and summary.rejected == 0 and summary.files == 1


def test_changed_counts_update_the_cell(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "ooni" / "aggregation" / "IE_signal_day.csv"
    db = tmp_path / "s.duckdb"
    dims = file_dims(src)
    with open_store(db) as store:
        ingest(store, [str(src)], dimensions=dims)
        lines = src.read_text().splitlines()
        fields = lines[1].split(",")
        fields[3] = str(int(fields[3]) + 1)  # one late measurement more, ok
        fields[5] = str(int(fields[5]) + 1)
        lines[1] = ",".join(fields)
        newer = tmp_path / "newer.csv"
        newer.write_text("\n".join(lines) + "\n")
        summary = ingest(store, [str(newer)], dimensions=dims)
        assert (summary.aggregate_rows, summary.aggregate_duplicates, summary.aggregate_updated) == (0, 29, 1)
        total = store.query("SELECT sum(measurement_count) AS n, count(*) AS r FROM aggregates").to_pylist()
    assert total == [{"n": sum(int(r["measurement_count"]) for r in plain_rows(src)) + 1, "r": 30}]


class _Api(http.server.BaseHTTPRequestHandler):
    """OONI's aggregation API on loopback, answering from the shared CSV for the query's country/test."""

    folder: Path
    hits: list[str]

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        self.hits.append(self.path)
        path = self.folder / f"{q['probe_cc']}_{q['test_name']}_day.csv"
        if not url.path.endswith("/api/v1/aggregation") or not path.is_file():
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"v": 0, "dimension_count": 1, "result": _as_json_rows(path)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def api(shared_data: Path) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("H", (_Api,), {"folder": shared_data / "ooni" / "aggregation", "hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_api_url_source_through_mirror_and_cache(
    tmp_path: Path, shared_data: Path, api: tuple[str, list[str]]
) -> None:
    base, hits = api
    url = (
        "https://api.ooni.io/api/v1/aggregation?probe_cc=IQ&test_name=web_connectivity"
        "&since=2025-03-06&until=2025-04-07&axis_x=measurement_start_day"
    )
    db = tmp_path / "s.duckdb"
    cache = tmp_path / "cache"
    # --no-analyze: the mirror serves every URL, and only the aggregation API's requests are counted here
    # (ingest with analysis would first ask it for the fingerprints).
    first = run_cli(
        "ingest", url, "--db", db, "--mirror", base, "--cache-dir", cache, "--no-analyze", "--json"
    )
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["aggregate_rows"] == 31 and doc["rejected"] == 0
    assert hits and hits[0].startswith("/api.ooni.io/api/v1/aggregation?probe_cc=IQ")
    second = json.loads(
        run_cli(
            "ingest", url, "--db", db, "--mirror", base, "--cache-dir", cache, "--no-analyze", "--json"
        ).stdout
    )
    assert second["aggregate_duplicates"] == 31 and len(hits) == 1  # served from the cache
    with open_store(db, read_only=True) as store:
        got = store.query("SELECT DISTINCT probe_cc, test_name, source FROM aggregates").to_pylist()
    assert got == [{"probe_cc": "IQ", "test_name": "web_connectivity", "source": url}]
    missing = run_cli(
        "ingest", url.replace("IQ", "FR"), "--db", db, "--mirror", base, "--cache-dir", cache, "--json"
    )
    assert missing.returncode == 1 and "download failed" in json.loads(missing.stdout)["errors"][0]["reason"]


def test_api_url_read_directly(shared_data: Path, api: tuple[str, list[str]], tmp_path: Path) -> None:
    base, _ = api
    url = "https://api.ooni.io/api/v1/aggregation?probe_cc=IE&test_name=signal&axis_x=measurement_start_day"
    fetcher = Fetcher(cache_dir=tmp_path, mirrors={"*": base})
    try:
        items = list(read_source(url, fetcher=fetcher))
    finally:
        fetcher.close()
    rows = [i for i in items if isinstance(i, AggregateRow)]
    assert len(rows) == 30 and {r.file for r in rows} == {url}
