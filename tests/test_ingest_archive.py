"""The OONI archive over HTTP: a local S3-compatible server (ListObjectsV2, paged) on 127.0.0.1 serves the
shared measurements in the archive layouts; ingesting it must equal ingesting the local folder."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import msgspec
import pytest

from netfreedom.fetch import Fetcher
from netfreedom.ingest import Filters
from netfreedom.models.measurement import Envelope, measurement_time
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store

from .test_ingest_cli import run_cli

ENDPOINT = "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com"
PAGE = 3  # small pages, so continuation tokens are exercised


class Bucket:
    """Objects by key, plus a log of what was listed and served."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        self.served: list[str] = []
        self.listed: list[str] = []

    def listing(self, query: dict[str, str]) -> bytes:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter")
        self.listed.append(prefix)
        entries: list[tuple[str, bool]] = []
        seen: set[str] = set()
        for key in self.keys:
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter)[0] + delimiter
                if common not in seen:
                    seen.add(common)
                    entries.append((common, True))
            else:
                entries.append((key, False))
        start = int(query.get("continuation-token", "0"))
        page = entries[start : start + PAGE]
        more = start + PAGE < len(entries)
        parts = ['<?xml version="1.0" encoding="UTF-8"?>']
        parts.append('<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">')
        parts.append(
            f"<Name>ooni-data-eu-fra</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
        )
        parts.append(f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>")
        for name, is_prefix in page:
            if is_prefix:
                parts.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
            else:
                size = (self.root / name).stat().st_size
                parts.append(f"<Contents><Key>{escape(name)}</Key><Size>{size}</Size></Contents>")
        if more:
            parts.append(f"<NextContinuationToken>{start + PAGE}</NextContinuationToken>")
        parts.append("</ListBucketResult>")
        return "".join(parts).encode()


@pytest.fixture()
def serve() -> Iterator[callable]:  # type: ignore[valid-type]
    servers: list[ThreadingHTTPServer] = []

    def start(bucket: Bucket) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/" and query.get("list-type") == "2":
                    body = bucket.listing(query)
                else:
                    key = urllib.parse.unquote(url.path.lstrip("/"))
                    if key not in bucket.keys:
                        self.send_error(404)
                        return
                    bucket.served.append(key)
                    body = (bucket.root / key).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _tar_gz(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def build_archive(measurements: Path, root: Path) -> list[tuple[bytes, Envelope, dt.datetime]]:
    """Lay the shared measurements out as the archive does: before 2020-10-21 in ``jsonl/TEST/CC/DAY/00``,
    later in ``raw/DAY/HH/CC/TEST`` — web_connectivity as a postcan of wrapped ``.post`` entries."""
    groups: dict[str, list[bytes]] = {}
    kept = []
    for path in sorted(measurements.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            env = msgspec.json.decode(line, type=Envelope)
            when = measurement_time(env)
            assert when is not None
            kept.append((line, env, when))
            cc = env.probe_cc or "ZZ"
            test = env.test_name.replace("_", "")
            if when < dt.datetime(2020, 10, 21, tzinfo=dt.UTC):
                key = f"jsonl/{test}/{cc}/{when:%Y%m%d}/00/{cc}-{test}-{when:%Y%m%d}.jsonl.gz"
            elif env.test_name == "web_connectivity":
                key = f"raw/{when:%Y%m%d}/{when:%H}/{cc}/{test}/{when:%Y%m%d%H}_{cc}_{test}.n0.0.tar.gz"
            else:
                key = f"raw/{when:%Y%m%d}/{when:%H}/{cc}/{test}/{when:%Y%m%d%H}_{cc}_{test}.n0.0.jsonl.gz"
            groups.setdefault(key, []).append(line)
    for key, lines in groups.items():
        dest = root / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        if key.endswith(".tar.gz"):
            entries = [
                (f"can/{i:04d}.post", b'{"format":"json","content":' + ln + b"}")
                for i, ln in enumerate(lines)
            ]
            dest.write_bytes(_tar_gz(entries))
        else:
            dest.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return kept


def content(db: Path) -> set[tuple[str, bytes, str, str]]:
    with open_store(db, read_only=True) as store:
        return {
            (m.measurement_uid, m.raw, m.test_name, m.probe_cc)
            for batch in store.iter_measurements()
            for m in batch
        }


def test_archive_over_http_equals_local_folder(tmp_path: Path, measurements_dir: Path, serve) -> None:  # type: ignore[no-untyped-def]
    build_archive(measurements_dir, tmp_path / "bucket")
    bucket = Bucket(tmp_path / "bucket")
    assert any(k.endswith(".tar.gz") for k in bucket.keys) and any(
        k.startswith("jsonl/") for k in bucket.keys
    )
    base = serve(bucket)

    with open_store(tmp_path / "local.duckdb") as store:
        assert ingest(store, [str(measurements_dir)]).ingested == 90
    remote = run_cli(
        "ingest",
        "s3://ooni-data-eu-fra/",
        "--mirror",
        f"{ENDPOINT}={base}",
        "--cache-dir",
        tmp_path / "cache",
        "--db",
        tmp_path / "remote.duckdb",
        "--json",
    )
    assert remote.returncode == 0, remote.stderr
    doc = json.loads(remote.stdout)
    assert doc["ingested"] == 90 and doc["rejected"] == 0
    assert doc["files"] == len(bucket.keys)
    assert sorted(bucket.served) == bucket.keys  # each object downloaded once
    assert content(tmp_path / "remote.duckdb") == content(tmp_path / "local.duckdb")

    # A second run is served from the download cache and adds nothing.
    bucket.served.clear()
    fetcher = Fetcher(cache_dir=tmp_path / "cache", mirrors={ENDPOINT: base})
    with open_store(tmp_path / "remote.duckdb") as store:
        again = ingest(store, [f"{ENDPOINT}/raw/"], fetcher=fetcher)
    fetcher.close()
    assert again.ingested == 0 and again.duplicates > 0 and bucket.served == []


@pytest.mark.parametrize(
    "case",
    [
        ("2022-01-01", None, ["IT"], ["web_connectivity", "signal"]),
        ("2019-01-01", "2020-12-31", [], []),
        (None, "2018-12-31", ["GB", "IT"], []),
        (None, None, [], ["tor"]),
        ("2022-08-15", "2022-08-20", [], []),
    ],
)
def test_filters_prune_the_listing(tmp_path: Path, measurements_dir: Path, serve, case) -> None:  # type: ignore[no-untyped-def]
    since, until, countries, tests = case
    kept = build_archive(measurements_dir, tmp_path / "bucket")
    bucket = Bucket(tmp_path / "bucket")
    base = serve(bucket)
    filters = Filters.build(since, until, countries, tests)

    def wanted(env: Envelope, when: dt.datetime) -> bool:
        if filters.since and when < filters.since:
            return False
        if filters.until and when >= filters.until:
            return False
        if countries and (env.probe_cc or "ZZ") not in countries:
            return False
        return not (tests and env.test_name not in tests)

    expected = sum(1 for _, env, when in kept if wanted(env, when))
    assert expected > 0
    fetcher = Fetcher(cache_dir=tmp_path / "cache", mirrors={ENDPOINT: base})
    with open_store(tmp_path / "s.duckdb") as store:
        summary = ingest(store, ["s3://ooni-data-eu-fra/"], filters=filters, fetcher=fetcher)
    fetcher.close()
    assert summary.ingested == expected and summary.rejected == 0
    # Nothing outside the filters was downloaded: every served object's path is allowed by them.
    assert bucket.served
    assert all(filters.allows_path(key.split("/")[:-1]) for key in bucket.served)
    outside = [k for k in bucket.keys if not filters.allows_path(k.split("/")[:-1])]
    assert outside and not set(outside) & set(bucket.served)
    if countries:
        # Country folders are addressed directly, never listed.
        assert not any(p.count("/") == 3 and p.startswith("raw/") for p in bucket.listed)
    if filters.since and filters.until and (filters.until - filters.since).days <= 31:
        assert "raw/" not in bucket.listed  # a short span's days are addressed directly, not listed


def test_archive_errors_are_problems(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "bucket"
    (root / "raw/20240101/00/IT/webconnectivity").mkdir(parents=True)
    (root / "raw/20240101/00/IT/webconnectivity/a.jsonl.gz").write_bytes(b"\x1f\x8bnot really gzip")
    bucket = Bucket(root)
    base = serve(bucket)
    fetcher = Fetcher(cache_dir=tmp_path / "cache", mirrors={ENDPOINT: base})
    with open_store(tmp_path / "s.duckdb") as store:
        s = ingest(
            store, [f"{ENDPOINT}/raw/", f"{ENDPOINT}/raw/20240101/00/IT/x/missing.jsonl.gz"], fetcher=fetcher
        )
    fetcher.close()
    reasons = [e.reason for e in s.errors]
    # A damaged object is bad input (rejected); an object that cannot be downloaded leaves the run incomplete.
    assert s.ingested == 0 and s.rejected == 1 and not s.complete
    assert "gzip" in reasons[0]
    assert s.errors[0].file == f"{ENDPOINT}/raw/20240101/00/IT/webconnectivity/a.jsonl.gz"
    assert [i.reason for i in s.incomplete] == ["download failed: HTTP 404"]


def test_local_folder_in_archive_layout_is_pruned(tmp_path: Path, measurements_dir: Path) -> None:
    build_archive(measurements_dir, tmp_path / "bucket")
    with open_store(tmp_path / "s.duckdb") as store:
        everything = ingest(store, [str(tmp_path / "bucket")])
    assert everything.ingested == 90
    with open_store(tmp_path / "t.duckdb") as store:
        only = ingest(store, [str(tmp_path / "bucket")], filters=Filters.build(countries=["IR"]))
    assert only.filtered == 0  # pruned by folder, not read then dropped
    assert only.ingested == sum(
        1
        for p in measurements_dir.glob("*.jsonl")
        for ln in p.read_bytes().splitlines()
        if json.loads(ln).get("probe_cc") == "IR"
    )
