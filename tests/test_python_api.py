"""The Python API (``netfreedom.open``) on the example store: the acceptance of issue #17, the documented
schemas (docs/python.md), the filters, and the worked example ``examples/notebook.py``."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import netfreedom
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.api import SCHEMAS
from netfreedom.errors import InputError, StoreError
from netfreedom.ingest.records import content_uid
from netfreedom.models.event import Event, EventKind

from .conftest import DATA, MEASUREMENTS, ROOT, cli_env, run_cli

DOCS = ROOT / "docs" / "python.md"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project built offline (the store a researcher opens first)."""
    base = tmp_path_factory.mktemp("example")
    env = cli_env()
    env["NETFREEDOM_CACHE"] = str(base / "cache")
    store = base / "store.duckdb"
    args = ["examples/fotn-2018", "--mirror", str(DATA), "--db", str(store), "--output", str(base / "site")]
    done = subprocess.run(
        [sys.executable, "-m", "netfreedom", "build", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return store


@pytest.fixture()
def s(db: Path) -> Iterator[netfreedom.Store]:
    with netfreedom.open(db) as store:
        yield store


def test_acceptance(s: netfreedom.Store) -> None:
    verdicts = s.verdicts()
    assert isinstance(verdicts, pa.Table)
    [row] = s.query("SELECT count(*) AS n FROM verdicts").to_pylist()
    assert verdicts.num_rows == row["n"] == 90
    assert len(set(verdicts.column("measurement_uid").to_pylist())) == verdicts.num_rows  # one row each
    index = s.index(2018).to_pandas()
    assert len(index) == 65 and index["iso2"].is_unique
    evidence = s.evidence(axis="country", since="2000-01-01", until="2030-01-01")
    assert isinstance(evidence, pa.Table) and evidence.num_rows > 0
    assert sum(evidence.column("measurements").to_pylist()) > 0
    italy = s.measurements(probe_cc="IT")
    assert isinstance(italy, pa.Table) and italy.num_rows > 0
    assert set(italy.column("probe_cc").to_pylist()) == {"IT"}
    [row] = s.query("SELECT count(*) AS n FROM measurements WHERE probe_cc = 'IT'").to_pylist()
    assert italy.num_rows == row["n"]


def _documented() -> dict[str, list[tuple[str, str]]]:
    """The column tables of docs/python.md by section (``### name``): (column, type) pairs."""
    out: dict[str, list[tuple[str, str]]] = {}
    section = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        head = re.match(r"### (\w+)$", line)
        if head:
            section = head.group(1)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if section and line.startswith("| ") and len(cells) >= 3 and cells[0] not in ("column",):
            out.setdefault(section, []).append((cells[0], cells[1]))
    return out


def _types(table: pa.Table | pa.Schema) -> list[tuple[str, str]]:
    schema = table if isinstance(table, pa.Schema) else table.schema
    return [(f.name, str(f.type).replace("list<item: ", "list<")) for f in schema]


def test_every_table_has_the_documented_schema(s: netfreedom.Store, db: Path, tmp_path: Path) -> None:
    docs = _documented()
    assert set(docs) == {"measurements", "verdicts", "evidence", "index", "flags", "events", "aggregates"}
    assert _types(s.measurements()) == docs["measurements"] == _types(SCHEMAS["measurements"])
    assert _types(s.verdicts()) == docs["verdicts"] == _types(SCHEMAS["verdicts"])
    assert _types(s.evidence(axis="country")) == docs["evidence"]
    assert _types(s.evidence(axis="country", measure="test_blocking")) == docs["evidence"]
    assert _types(s.index(2018)) == docs["index"]
    assert _types(s.flags(2018)) == docs["flags"] == _types(SCHEMAS["flags"])
    assert s.flags(2018).num_rows == sum(s.index(2018).column("flags").to_pylist()) > 0
    assert _types(s.events()) == docs["events"] == _types(SCHEMAS["events"])
    # empty answers keep their schema
    assert _types(s.verdicts(probe_cc="XX")) == docs["verdicts"]
    assert _types(s.measurements(since="2099-01-01")) == docs["measurements"]


def test_time_filters_read_as_the_cli_does(s: netfreedom.Store) -> None:
    first = s.verdicts(limit=1).to_pylist()[0]
    day = first["measurement_start_time"].date()
    same_day = s.verdicts(since=day.isoformat(), until=day.isoformat())  # a bare until includes the day
    assert first["measurement_uid"] in same_day.column("measurement_uid").to_pylist()
    assert same_day.equals(s.verdicts(since=day, until=dt.datetime.combine(day, dt.time(), dt.UTC)
                                      + dt.timedelta(days=1)))  # fmt: skip
    at = first["measurement_start_time"]
    assert first["measurement_uid"] not in s.verdicts(until=at).column("measurement_uid").to_pylist()
    assert first["measurement_uid"] in s.verdicts(since=at).column("measurement_uid").to_pylist()
    everything = s.verdicts()
    before, after = s.verdicts(until="2022-01-01T00:00"), s.verdicts(since="2022-01-01")
    assert before.num_rows + after.num_rows == everything.num_rows
    with pytest.raises(InputError, match="before"):
        s.verdicts(since="2024-01-02", until="2024-01-01")
    with pytest.raises(InputError, match="not a date"):
        s.measurements(since="yesterday")


def test_network_test_and_domain_filters(s: netfreedom.Store) -> None:
    rows = s.verdicts(test_name="web_connectivity").to_pylist()
    assert rows and s.verdicts(test_name="WebConnectivity").num_rows == len(rows)
    asn = rows[0]["probe_asn"]
    by_asn = s.verdicts(probe_asn=asn)
    assert by_asn.num_rows > 0 and set(by_asn.column("probe_asn").to_pylist()) == {asn}
    assert s.verdicts(probe_asn=int(asn[2:])).equals(by_asn)
    assert s.verdicts(probe_asn=asn[2:]).equals(by_asn)
    with pytest.raises(InputError, match="not an ASN"):
        s.verdicts(probe_asn="Telecom")
    url = next(r["input"] for r in rows if r["input"])
    host = re.sub(r"^www\.", "", url.split("/")[2]).split(":")[0]
    by_domain = s.verdicts(domain="WWW." + host.upper())
    assert by_domain.num_rows > 0 and url in by_domain.column("input").to_pylist()
    assert (
        s.verdicts(test_name=["telegram", "web_connectivity"]).num_rows
        == len(rows) + s.verdicts(test_name="telegram").num_rows
    )


def test_category_filter_counts_what_the_evidence_counts(s: netfreedom.Store) -> None:
    figures = s.evidence(axis="category").to_pylist()
    assert len(figures) > 1
    for figure in figures:
        # one definition of a URL's categories: the filter and the evidence axis agree
        assert s.verdicts(category=figure["category"]).num_rows == figure["measurements"], figure
    assert s.measurements(category=figures[0]["category"]).num_rows == figures[0]["measurements"]


def test_evidence_cuts_and_refusals(s: netfreedom.Store) -> None:
    monthly = s.evidence(axis="country", period="month", probe_cc="it")
    assert set(monthly.column("country").to_pylist()) == {"IT"}
    assert all(re.fullmatch(r"\d{4}-\d{2}", p) for p in monthly.column("period").to_pylist())
    whole = s.evidence(axis="country", probe_cc="IT").to_pylist()[0]
    assert sum(monthly.column("measurements").to_pylist()) == whole["measurements"]
    two = s.evidence(axis=["country", "test"], measure="verdict_counts")
    assert two.schema.names[:3] == ["period", "country", "test"]
    assert sum(two.column("measurements").to_pylist()) == s.verdicts().num_rows
    for bad, message in (
        ({"axis": "planet"}, "unknown axis"),
        ({"period": "decade"}, "unknown period"),
        ({"measure": "nothing"}, "unknown evidence measure"),
        ({"kind": "rockets"}, "unknown kind"),
    ):
        with pytest.raises(InputError, match=message):
            s.evidence(**bad)  # type: ignore[arg-type]


def test_countries_is_the_cli_table(s: netfreedom.Store, db: Path) -> None:
    table = s.countries(since="1970-01-01")
    rows = {r["iso2"]: r for r in table.to_pylist()}
    done = run_cli("evidence", "countries", "--since", "1970-01-01", "-f", "json", "--db", str(db), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["countries"] == table.to_pylist()
    # One middlebox detection is not a score of 0; Italy's URLs, apps and tools on 3 networks are a score.
    gb, it = rows["GB"], rows["IT"]
    assert (gb["score"], gb["score_status"], gb["score_weight"]) == (None, "not_enough_evidence", 0.1)
    assert (it["score"], it["score_status"]) == (100, "scored")
    later = s.countries(since="2030-01-01")
    assert later.num_rows == 0 and "score_status" in later.schema.names


def test_index_errors_and_a_missing_store(s: netfreedom.Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no index built for 2017 \(built: 2018\)"):
        s.index(2017)
    assert s.flags(2017).num_rows == 0
    with pytest.raises(StoreError, match="no store"):
        netfreedom.open(tmp_path / "nothing.duckdb")


def test_analyze_gives_what_the_store_holds(s: netfreedom.Store) -> None:
    fingerprints = load_fingerprints(sources_in_dir(DATA))
    stored = {r["measurement_uid"]: r for r in s.verdicts().to_pylist()}
    checked = 0
    lines = [line for f in sorted(MEASUREMENTS.glob("*.jsonl")) for line in f.read_text("utf-8").splitlines()]
    for line in lines:
        measurement = json.loads(line)
        verdict = netfreedom.analyze(measurement, fingerprints)
        assert isinstance(verdict, netfreedom.Verdict)
        assert s.analyze(line, fingerprints) == verdict
        # stored under OONI's uid, else a hash of the content (as ingest names it)
        row = stored[measurement.get("measurement_uid") or content_uid(line.encode())]
        assert (row["outcome"], row["reason"], row["confirmed"]) == (
            verdict.outcome.value,
            verdict.reason.value,
            verdict.confirmed,
        )
        checked += 1
    assert checked == len(lines) == 90
    with pytest.raises(InputError, match="not an OONI measurement"):
        netfreedom.analyze({"hello": "world"})


def test_events_and_the_writer(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    shutil.copytree(db.with_name(db.stem + ".parquet"), copy.with_name("copy.parquet"))
    event = Event(
        id="t-1",
        source="test",
        iso2="IR",
        country="Iran",
        start=dt.date(2019, 11, 16),
        end=dt.date(2019, 11, 21),
        kind=EventKind.SHUTDOWN,
        services=("internet",),
    )
    with netfreedom.open(copy, write=True) as w:
        w.store.put_events([event])
    with netfreedom.open(copy) as r:
        assert r.events(probe_cc="ir").column("id").to_pylist() == ["t-1"]
        assert r.events(since="2019-11-20", until="2019-12-31").num_rows == 1
        assert r.events(since="2019-11-22").num_rows == 0
        assert r.events(until="2019-11-15").num_rows == 0
        row = r.events(kind="shutdown").to_pylist()[0]
        assert row["start"] == dt.date(2019, 11, 16) and row["services"] == ["internet"]
        assert r.events(detected=True).num_rows == 0
        with pytest.raises(InputError, match="unknown event kind"):
            r.events(kind="earthquake")


def test_the_worked_example_runs(db: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "notebook.py"),
            str(db),
            "--country",
            "IT",
            "--out",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "65 countries in the 2018 index" in done.stdout
    spec = json.loads((tmp_path / "blocked-share-IT.vl.json").read_text())
    assert spec["$schema"].endswith("vega-lite/v5.json")
    months = [v["month"] for v in spec["data"]["values"]]
    assert months and months == sorted(months)
    assert all(v["blocked_share"] is None or 0 <= v["blocked_share"] <= 1 for v in spec["data"]["values"])


def test_aggregates(tmp_path: Path) -> None:
    db = tmp_path / "agg.duckdb"
    files = {
        "IQ_telegram_day-asn.csv": ("IQ", "telegram"),
        "IE_signal_day.csv": ("IE", "signal"),
    }
    for name, (cc, test) in files.items():
        path = DATA / "ooni" / "aggregation" / name
        args = ["ingest", str(path), "--db", str(db), "-d", f"probe_cc={cc}", "-d", f"test_name={test}"]
        done = subprocess.run([sys.executable, "-m", "netfreedom", *args], capture_output=True, env=cli_env())
        assert done.returncode == 0, done.stderr
    with netfreedom.open(db) as s:
        rows = s.aggregates()
        assert _types(rows) == _documented()["aggregates"] == _types(SCHEMAS["aggregates"])
        [n] = s.query("SELECT count(*) AS n FROM aggregates").to_pylist()
        assert rows.num_rows == n["n"] > 0
        iraq = s.aggregates(probe_cc="iq", test_name="Telegram")
        assert set(iraq.column("probe_cc").to_pylist()) == {"IQ"} and iraq.num_rows > 0
        assert set(iraq.column("layer").to_pylist()) == {"probe_asn"}
        asn = iraq.column("probe_asn")[0].as_py()
        by_asn = s.aggregates(probe_asn=f"AS{asn}")
        assert by_asn.num_rows > 0 and set(by_asn.column("probe_asn").to_pylist()) == {asn}
        start = min(rows.column("period_start").to_pylist())
        day = start.date().isoformat()
        first_day = s.aggregates(since=day, until=day)
        assert first_day.num_rows > 0
        assert {p.date() for p in first_day.column("period_start").to_pylist()} == {start.date()}
        assert s.aggregates(layer="").num_rows + iraq.num_rows == rows.num_rows
        assert s.aggregates(until="1999-12-31").num_rows == 0
    with netfreedom.open(tmp_path / "plain.duckdb", write=True) as empty:
        assert _types(empty.aggregates()) == _types(SCHEMAS["aggregates"])
