"""The OONI archive against a real S3 implementation (moto, on loopback) holding a bucket written the way
OONI writes it (``_s3_bucket``), with a proxy that injects faults: every measurement stored once with its
uid, every object read or a loud failure, and few requests."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netfreedom.fetch import Fetcher
from netfreedom.ingest import Filters
from netfreedom.pipeline.ingest import IngestSummary, ingest
from netfreedom.store import open_store

from ._s3_bucket import (
    BUCKET,
    BUSY_DAY,
    LATE,
    MISSING_POSTCAN,
    Fault,
    Plan,
    Proxy,
    build_plan,
    start_moto,
)
from .conftest import ROOT as REPO
from .test_ingest_cli import run_cli

ROOT = f"s3://{BUCKET}/"
BUSY = f"s3://{BUCKET}/raw/20240301/"


@dataclass
class S3:
    plan: Plan
    proxy: Proxy
    warm: Path  # a download cache holding every object of the bucket


@pytest.fixture(scope="module")
def s3(measurements_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    plan = build_plan(measurements_dir)
    mock, server, url = start_moto(plan)
    proxy = Proxy(url)
    warm = tmp_path_factory.mktemp("warm-cache")
    try:
        fetcher = Fetcher(cache_dir=warm, s3_endpoint=proxy.url, backoff=0.01)
        with open_store(warm.parent / "warm.duckdb") as store:
            ingest(store, [ROOT], fetcher=fetcher)
        fetcher.close()
        yield S3(plan, proxy, warm)
    finally:
        proxy.close()
        server.stop()
        mock.stop()


@pytest.fixture()
def bucket(s3: S3) -> S3:
    s3.proxy.reset()
    return s3


def run(
    s3: S3,
    tmp_path: Path,
    sources: list[str],
    filters: Filters | None = None,
    *,
    warm: bool = False,
    db: str = "s",
) -> IngestSummary:
    cache = tmp_path / "cache"
    if warm and not cache.exists():
        shutil.copytree(s3.warm, cache)
    fetcher = Fetcher(cache_dir=cache, s3_endpoint=s3.proxy.url, backoff=0.01, retries=3)
    try:
        with open_store(tmp_path / f"{db}.duckdb") as store:
            return ingest(store, sources, filters=filters, fetcher=fetcher)
    finally:
        fetcher.close()


def stored(tmp_path: Path, db: str = "s") -> dict[str, tuple[str, dt.date | None]]:
    """report_id → (measurement_uid, bucket_date) of every stored row (report ids are unique per issue)."""
    with open_store(tmp_path / f"{db}.duckdb", read_only=True) as store:
        rows = store.query("SELECT measurement_uid, bucket_date, report_id FROM measurements").to_pylist()
    out: dict[str, tuple[str, dt.date | None]] = {}
    for r in rows:
        assert r["report_id"] not in out, f"stored twice: {r['report_id']}"
        out[r["report_id"]] = (r["measurement_uid"], r["bucket_date"])
    return out


def busy(plan: Plan) -> list[str]:
    return [i.doc["report_id"] for i in plan.issued if i.key.startswith("raw/20240301/")]


def test_every_measurement_once_with_its_uid(bucket: S3, tmp_path: Path) -> None:
    plan = bucket.plan
    assert sum(1 for k in plan.objects if k.startswith("raw/20240301/")) > 1000
    s = run(bucket, tmp_path, [ROOT])
    assert s.complete and s.rejected == 0, (s.incomplete, s.errors)
    rows = stored(tmp_path)
    assert s.ingested == len(rows) == len(plan.issued) and s.duplicates == 0
    for issued in plan.issued:
        uid, bucket_date = rows[issued.doc["report_id"]]
        if issued.uid is not None:
            assert uid == issued.uid  # OONI's uid, from the postcan entry name or the legacy line
        else:
            assert uid.startswith("h")  # no postcan: read from the twin, identified by content
        assert bucket_date == issued.bucket.date()
    # One read per object pair: the postcans; twins, the empty object and the index file left unread.
    assert s.skipped == {
        "jsonl.gz twin of a postcan that is read (the same measurements without uids)": plan.twins,
        "empty object": 1,
        "legacy index file (.json.gz)": 1,
        "postcan entry that is not a .post measurement": 1,
    }
    reads = [p.split(f"/{BUCKET}/", 1)[1] for p in bucket.proxy.downloads()]
    assert len(reads) == len(set(reads)) == s.files  # each object downloaded once
    assert [k for k in reads if k.removesuffix(".jsonl.gz") + ".tar.gz" in plan.objects] == []
    missing = next(i for i in plan.issued if i.uid is None)
    assert missing.key.endswith(".jsonl.gz") and f"/{MISSING_POSTCAN[1]}/{MISSING_POSTCAN[2]}/" in missing.key

    # The twins read on their own (a local copy, say) are the same measurements: nothing new.
    twins = tmp_path / "twins"
    twins.mkdir()
    for key, body in plan.objects.items():
        if (
            key.endswith(".jsonl.gz")
            and key.replace(".jsonl.gz", ".tar.gz") in plan.objects
            and "/05/" in key
        ):
            (twins / key.replace("/", "_")).write_bytes(body)
    with open_store(tmp_path / "s.duckdb") as store:
        again = ingest(store, [str(twins)])
    assert again.lines > 20 and again.ingested == 0 and again.duplicates == again.lines


def test_readme_example_and_a_month_list_no_jsonl(bucket: S3, tmp_path: Path) -> None:
    """The README's archive example, and a one-month window after 2020 from the bucket root: the requests
    are counted, and no jsonl/ folder is listed (jsonl/ ends on 2020-10-20)."""
    plan = bucket.plan
    line = next(
        ln for ln in (REPO / "README.md").read_text().splitlines() if ln.startswith("netfreedom ingest s3://")
    )
    args = shlex.split(line)[1:]
    out = run_cli(
        *args,
        "--s3-endpoint",
        bucket.proxy.url,
        "--cache-dir",
        tmp_path / "cache",
        "--db",
        tmp_path / "r.duckdb",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    want = [
        i
        for i in plan.issued
        if i.doc["probe_cc"] == "IR"
        and i.doc["test_name"] == "web_connectivity"
        and dt.date(2024, 3, 1) <= i.bucket.date() <= dt.date(2024, 3, 2)
    ]
    assert s["complete"] and s["ingested"] == len(want) > 24
    counts = f"{s['requests']} requests, {s['files']} objects, {s['ingested']} measurements"
    print(f"\nREADME example ({line}): {counts}")
    # Two days addressed directly, each lists its hours once, then one listing per hour of IR/webconnectivity.
    assert len(bucket.proxy.listings()) == 2 + 24 + 1
    assert s["requests"] == len(bucket.proxy.log) == len(bucket.proxy.listings()) + s["files"]

    bucket.proxy.reset()
    month = run(bucket, tmp_path, [ROOT], Filters.build("2024-03-01", "2024-03-31"), db="month")
    prefixes = [q.get("prefix", "") for q in bucket.proxy.listings()]
    assert not any(p.startswith("jsonl") for p in prefixes)
    assert month.complete and month.ingested == sum(1 for i in plan.issued if i.bucket >= BUSY_DAY)
    listed = len(prefixes)
    print(f"one month from the root: {month.requests} requests ({listed} listings), {month.files} objects")

    # 2018: the layout chosen by date is jsonl/; raw/ is not listed.
    bucket.proxy.reset()
    old = run(bucket, tmp_path, [ROOT], Filters.build("2018-05-01", "2018-05-31", ["IR"]), db="old")
    prefixes = [q.get("prefix", "") for q in bucket.proxy.listings()]
    assert not any(p.startswith("raw") for p in prefixes)
    assert old.complete and old.ingested == 6
    # raw/ with 2018 dates says where those buckets are instead of finding nothing in silence.
    bucket.proxy.reset()
    nothing = run(
        bucket, tmp_path, [f"s3://{BUCKET}/raw/"], Filters.build("2018-05-01", "2018-05-31"), db="x"
    )
    assert nothing.ingested == 0 and bucket.proxy.log == []  # nothing was listed
    assert "raw/ holds buckets from 2020-10-20 on" in nothing.errors[0].reason

    # Across the boundary both layouts are read: the 20th from both, the 21st from raw/.
    edge = run(bucket, tmp_path, [ROOT], Filters.build("2020-10-20", "2020-10-21"), db="edge")
    assert edge.complete and edge.ingested == 4


def test_bucket_date_windows_cover_the_archive_once(bucket: S3, tmp_path: Path) -> None:
    """Consecutive daily windows (by upload day, the default) read every measurement once, including one
    taken on the 29th and uploaded on the 1st, which a measurement-time window of the 1st leaves out."""
    late = [i for i in bucket.plan.issued if i.bucket == BUSY_DAY and i.doc["probe_cc"] == LATE[1]]
    taken_before = [i for i in late if i.doc["measurement_start_time"].startswith("2024-02-29")]
    assert len(taken_before) == 1
    total = 0
    for day in ("2024-02-29", "2024-03-01", "2024-03-02"):
        s = run(
            bucket, tmp_path, [ROOT], Filters.build(day, day, ["IR"], ["web_connectivity"]), warm=True, db="d"
        )
        assert s.complete and s.duplicates == 0 and s.filtered == 0
        total += s.ingested
    rows = stored(tmp_path, "d")
    want = {
        i.doc["report_id"]
        for i in bucket.plan.issued
        if i.doc["probe_cc"] == "IR" and i.doc["test_name"] == "web_connectivity" and i.bucket.year == 2024
    }
    assert set(rows) == want and total == len(want)
    by_time = run(
        bucket,
        tmp_path,
        [BUSY],
        Filters.build("2024-03-01", "2024-03-01", ["IR"], ["web_connectivity"], by="measurement-time"),
        warm=True,
        db="t",
    )
    assert taken_before[0].doc["report_id"] not in stored(tmp_path, "t") and by_time.filtered == 1


def _listing_page(n: int, prefix: str = "raw/20240301/") -> object:
    """Match the n-th page (1-based) of the flat listing of ``prefix``."""
    seen: dict[str, int] = {}

    def match(path: str, q: dict[str, str]) -> bool:
        if q.get("list-type") != "2" or q.get("prefix") != prefix or "delimiter" in q:
            return False
        token = q.get("continuation-token")
        if token is None:
            return n == 1
        seen.setdefault(token, len(seen) + 2)
        return seen[token] == n

    return match


def _object(name: str) -> object:
    return lambda path, q: "list-type" not in q and path.endswith(name)


TARGET = "2024030107_CN_urlgetter.n1.0.tar.gz"
# (where, fault kind, times) → whether every object is still read.
MATRIX = [
    ("page", "500", 1, True),
    ("page", "slowdown", 2, True),
    ("page", "cut", 1, True),
    ("page", "500", None, False),
    ("page", "slowdown", None, False),
    ("page", "403", 1, False),
    ("page", "no-token", 1, False),
    ("page", "html", 1, False),
    ("object", "500", 1, True),
    ("object", "slowdown", 1, True),
    ("object", "cut", 1, True),
    ("object", "short", 2, True),
    ("object", "500", None, False),
    ("object", "short", None, False),
    ("object", "cut", None, False),
    ("object", "403", 1, False),
]


@pytest.mark.parametrize(("where", "kind", "times", "recovers"), MATRIX)
def test_fault_matrix(  # noqa: PLR0917
    bucket: S3, tmp_path: Path, where: str, kind: str, times: int | None, recovers: bool
) -> None:
    """Against > 1,000 objects under one prefix: a fault that passes is retried and every object read; one
    that stays makes the run incomplete.  No fault gives a partial read reported as complete."""
    expected = busy(bucket.plan)
    shutil.copytree(bucket.warm, tmp_path / "cache")
    if where == "object":
        for p in (tmp_path / "cache").glob(f"*-{TARGET}"):
            p.unlink()  # the one object downloaded in this run
    match = _listing_page(1 if kind == "no-token" else 2) if where == "page" else _object(TARGET)
    bucket.proxy.faults.append(Fault(match, kind, times))  # type: ignore[arg-type]
    s = run(bucket, tmp_path, [BUSY], warm=True)
    assert bucket.proxy.faults[0].hits >= 1
    rows = stored(tmp_path)
    # A twin is never read in place of its postcan, even when the page holding the postcan failed.
    reads = [p.split(f"/{BUCKET}/", 1)[1] for p in bucket.proxy.downloads()]
    assert [k for k in reads if k.removesuffix(".jsonl.gz") + ".tar.gz" in bucket.plan.objects] == []
    assert s.complete is recovers
    assert (set(rows) == set(expected)) is recovers  # complete ⇔ every measurement read
    if recovers:
        assert s.rejected == 0
        return
    reason = s.incomplete[0].reason
    code = {"500": "InternalError", "slowdown": "SlowDown", "403": "AccessDenied"}.get(kind)
    if code:
        assert f"S3 error {code}" in reason
    if kind == "no-token":
        assert "IsTruncated" in reason
    if kind == "html":
        assert "not an S3 listing" in reason
    if kind == "short":
        assert "truncated" in reason
    if where == "object":
        # The failed object is the only one missing, and no partial copy of it stays in the cache.
        assert len(expected) - len(rows) == 1
        assert not list((tmp_path / "cache").glob(f"*-{TARGET}"))


def test_cli_incomplete_walk_exits_1_and_says_how_to_resume(bucket: S3, tmp_path: Path) -> None:
    bucket.proxy.faults.append(Fault(_listing_page(2), "slowdown", None))  # type: ignore[arg-type]
    shutil.copytree(bucket.warm, tmp_path / "cache")
    args = [
        "ingest",
        BUSY,
        "--s3-endpoint",
        bucket.proxy.url,
        "--retries",
        "1",
        "--cache-dir",
        tmp_path / "cache",
        "--db",
        tmp_path / "c.duckdb",
    ]
    first = run_cli(*args)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "INCOMPLETE" in first.stdout
    report = run_cli(*args, "--json")
    assert report.returncode == 1
    doc = json.loads(report.stdout)
    assert not doc["complete"] and "S3 error SlowDown" in doc["incomplete"][0]["reason"]
    assert "re-run the same command" in doc["resume"]
    bucket.proxy.reset()
    second = run_cli(*args, "--json")
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert doc["complete"] and doc["ingested"] > 0 and doc["incomplete"] == []
    with open_store(tmp_path / "c.duckdb", read_only=True) as store:
        assert store.count_measurements() == len(busy(bucket.plan))


def test_path_style_urls_and_s3_errors(bucket: S3, tmp_path: Path) -> None:
    day = "raw/20240302/"
    want = sum(1 for i in bucket.plan.issued if i.key.startswith(day))
    s = run(bucket, tmp_path, [f"{bucket.proxy.url}/{BUCKET}/{day}"], db="p")
    assert s.complete and s.ingested == want == 1
    # The bucket missing from the path: S3's own error code, not an empty success.
    wrong = run(bucket, tmp_path, [f"{bucket.proxy.url}/{day}"], db="q")
    assert not wrong.complete and "NoSuchBucket" in wrong.incomplete[0].reason
    nobucket = run(bucket, tmp_path, ["s3://no-such-bucket/raw/"], db="r")
    assert not nobucket.complete and "S3 error NoSuchBucket" in nobucket.incomplete[0].reason
    # A single object by URL, with a key that needs encoding.
    odd = next(k for k in bucket.plan.objects if "+x" in k and k.endswith(".tar.gz"))
    one = run(bucket, tmp_path, [f"s3://{BUCKET}/{odd}"], db="o")
    assert one.complete and one.ingested >= 1


def test_lz4_cans_are_skipped_and_said(bucket: S3, tmp_path: Path) -> None:
    s = run(bucket, tmp_path, [f"s3://{BUCKET}/canned/"])
    assert s.ingested == 0 and s.complete
    assert list(s.skipped) == [
        "lz4 can (the legacy canned/ format, not read; jsonl/ and raw/ hold the same measurements)"
    ]


def test_an_older_store_gains_the_new_columns(tmp_path: Path, measurements_dir: Path) -> None:
    """A store written before bucket_date and content_key existed opens, reads and de-duplicates."""
    import duckdb
    import pyarrow.parquet as pq

    db = tmp_path / "old.duckdb"
    with open_store(db) as store:
        first = ingest(store, [str(measurements_dir / "telegram.jsonl")])
        root = store.parquet_root
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE measurements DROP COLUMN bucket_date")
    con.execute("ALTER TABLE measurements DROP COLUMN content_key")
    con.close()
    for f in root.rglob("*.parquet"):
        pq.write_table(pq.read_table(f).drop_columns(["bucket_date", "content_key"]), f)
    with open_store(db) as store:
        more = ingest(store, [str(measurements_dir / "tor.jsonl")])
        assert more.ingested == 3 and store.check() == []
        uids = {m.measurement_uid for batch in store.iter_measurements() for m in batch}
        assert len(uids) == first.ingested + 3
        # The new rows know their content: a copy carrying an archive uid is the same measurement.
        copy = tmp_path / "tor-copy.jsonl"
        lines = (measurements_dir / "tor.jsonl").read_bytes().splitlines()
        copy.write_bytes(
            b"".join(
                json.dumps(
                    {**json.loads(line), "measurement_uid": f"20240101000000.{n:06d}_IT_tor_ab"}
                ).encode()
                + b"\n"
                for n, line in enumerate(lines)
            )
        )
        assert ingest(store, [str(copy)]).duplicates == 3
    with open_store(db, read_only=True) as store:
        assert store.count_measurements() == first.ingested + 3


def test_a_content_key_joins_only_a_copy_without_an_archive_uid() -> None:
    """The twin of a postcan measurement (no uid: a content hash) is the same measurement; two
    measurements that both carry archive uids are two, even with one content key."""
    from netfreedom.ingest import content_uid
    from netfreedom.store.parquet import first_of_each

    a = "20240301001000.000001_IR_webconnectivity_aa"
    b = "20240301001000.000002_IR_webconnectivity_bb"
    h = content_uid(b'{"test_name": "x"}')
    assert first_of_each([a, h], ["k1", "k1"]) == [True, False]  # postcan first, then its twin
    assert first_of_each([h, a], ["k1", "k1"]) == [True, False]  # twin first (a local copy)
    assert first_of_each([a, b], ["k1", "k1"]) == [True, True]  # two archive uids
    assert first_of_each([a, a, h], ["k1", None, None]) == [True, False, True]  # no key: uid only


def test_the_dask_engine_lists_and_reads_the_same(bucket: S3, tmp_path: Path) -> None:
    """``ingest --engine dask`` lists on the client with the same walk (twins and skips included) and its
    workers read each object with the listing's size and bucket; here the worker function runs in-process."""
    from netfreedom.ingest import Incomplete, Skipped
    from netfreedom.pipeline.scale.ingest import Job, group_sources, ingest_group, list_sources
    from netfreedom.store.staged import new_run

    fetcher = Fetcher(cache_dir=tmp_path / "cache", s3_endpoint=bucket.proxy.url, backoff=0.01)
    f = Filters.build("2024-03-01", "2024-03-01", ["IR"])
    listed = list(list_sources([ROOT], f, fetcher))
    objects = [x for x in listed if isinstance(x, tuple)]
    assert not [x for x in listed if isinstance(x, Incomplete)]
    assert {x.reason for x in listed if isinstance(x, Skipped)} == {
        "jsonl.gz twin of a postcan that is read (the same measurements without uids)"
    }
    assert all(url.endswith(".tar.gz") or "/05/IR/telegram/" in url for url, _ in objects)
    want = {
        i.doc["report_id"]: i
        for i in bucket.plan.issued
        if i.doc["probe_cc"] == "IR" and i.bucket.date() == BUSY_DAY.date()
    }
    with open_store(tmp_path / "d.duckdb") as store:
        job = Job(f, fetcher, 1 << 25, 100, str(store.parquet_root), new_run())
        rows = 0
        for group in group_sources(objects):
            assert group.sizes and all(group.sizes)
            part = ingest_group(group, job)
            assert part.incomplete == [] and part.staged is not None
            rows += store.add_measurement_files(part.staged).added
        got = store.query("SELECT report_id, bucket_date FROM measurements").to_pylist()
    assert rows == len(want) and {r["report_id"] for r in got} == set(want)
    assert {r["bucket_date"] for r in got} == {BUSY_DAY.date()}
    fetcher.close()
