"""A test bucket written the way OONI writes the archive, served by moto (a real S3 implementation) on
loopback behind a small proxy that injects faults.

OONI's uploader writes, for every hour × country × test, a postcan ``YYYYMMDDHH_CC_TEST.n1.K.tar.gz``
(entries ``…/<measurement_uid>.post``, body ``{"format":"json","content":…}``) and its ``….jsonl.gz`` twin
holding the same measurements without ``measurement_uid``, under ``raw/YYYYMMDD/HH/CC/TEST/``; before
2020-10-21 the archive is ``jsonl/TEST/CC/YYYYMMDD/00/``.  The measurements are the shared ones, re-issued
in memory with new countries, times, report ids and uids (nothing is written to the repository).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import tarfile
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

BUCKET = "ooni-data-eu-fra"
# Folder name → test name; small measurements keep the bucket light.
TESTS = {
    "webconnectivity": "web_connectivity",
    "telegram": "telegram",
    "httpheaderfieldmanipulation": "http_header_field_manipulation",
    "urlgetter": "urlgetter",
}
COUNTRIES = ("IR", "IT", "RU", "CN", "DE", "BR")
BUSY_DAY = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
MISSING_POSTCAN = (5, "IR", "telegram")  # this hour's postcan was never uploaded: its twin is read
ODD_KEY = (3, "DE", "urlgetter")  # a key that needs URL-encoding
LATE = (0, "IR", "webconnectivity")  # holds a measurement taken the day before its upload


@dataclass
class Issued:
    """One measurement of the bucket: its OONI uid (None where the archive has none), content, bucket."""

    uid: str | None
    doc: dict[str, Any]
    bucket: dt.datetime
    key: str  # the object it is read from (the postcan, or the jsonl.gz where there is no postcan)


@dataclass
class Plan:
    objects: dict[str, bytes] = field(default_factory=dict)
    issued: list[Issued] = field(default_factory=list)
    twins: int = 0  # jsonl.gz objects whose postcan is there


def _templates(measurements: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for test in TESTS.values():
        lines = sorted((measurements / f"{test}.jsonl").read_bytes().splitlines(), key=len)
        out[test] = [json.loads(line) for line in lines[:3]]
    return out


def _tar_gz(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def _ujson_like(doc: dict[str, Any]) -> bytes:
    # The twin is re-serialised by the uploader (ujson escapes "/"): other bytes, the same measurement.
    return json.dumps(doc).replace("/", "\\/").encode()


class _Issuer:
    def __init__(self, measurements: Path) -> None:
        self.templates = _templates(measurements)
        self.serial = 0

    def issue(self, folder: str, cc: str, when: dt.datetime) -> tuple[str, dict[str, Any]]:
        self.serial += 1
        test = TESTS[folder]
        options = self.templates[test]
        doc = dict(options[self.serial % len(options)])
        for drop in ("measurement_uid", "bucket_date", "report_filename"):
            doc.pop(drop, None)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S")
        doc.update(
            probe_cc=cc,
            measurement_start_time=stamp,
            test_start_time=stamp,
            report_id=f"{when:%Y%m%dT%H%M%SZ}_{folder}_{cc}_30722_n1_{self.serial:08d}",
        )
        digest = hashlib.sha1(str(self.serial).encode()).hexdigest()[:16]
        uid = f"{when:%Y%m%d%H%M%S}.{self.serial:06d}_{cc}_{folder}_{digest}"
        return uid, doc


def _raw_pair(  # noqa: PLR0917
    plan: Plan,
    issuer: _Issuer,
    hour: dt.datetime,
    cc: str,
    folder: str,
    times: list[dt.datetime],
    *,
    k: str = "0",
    postcan: bool = True,
    extra_entry: bool = False,
) -> None:
    stem = f"{hour:%Y%m%d%H}_{cc}_{folder}.n1.{k}"
    prefix = f"raw/{hour:%Y%m%d}/{hour:%H}/{cc}/{folder}/{stem}"
    docs = [issuer.issue(folder, cc, t) for t in times]
    jsonl_key, can_key = prefix + ".jsonl.gz", prefix + ".tar.gz"
    plan.objects[jsonl_key] = gzip.compress(b"".join(_ujson_like(d) + b"\n" for _, d in docs), mtime=0)
    if postcan:
        entries = [
            (f"{stem}/{uid}.post", b'{"format":"json","content":' + json.dumps(d).encode() + b"}")
            for uid, d in docs
        ]
        if extra_entry:
            entries.append((f"{stem}/index.json", b'{"entries": 1}'))
        plan.objects[can_key] = _tar_gz(entries)
        plan.twins += 1
    for uid, d in docs:
        plan.issued.append(Issued(uid if postcan else None, d, hour, can_key if postcan else jsonl_key))


def build_plan(measurements: Path) -> Plan:
    plan = Plan()
    issuer = _Issuer(measurements)
    # One busy day: every hour × country × test, more than 1,000 objects under raw/20240301/.
    for h in range(24):
        hour = BUSY_DAY + dt.timedelta(hours=h)
        for ci, cc in enumerate(COUNTRIES):
            for ti, folder in enumerate(TESTS):
                spot = (h, cc, folder)
                times = [hour + dt.timedelta(minutes=10)]
                if (h + ci + ti) % 5 == 0:
                    times.append(hour + dt.timedelta(minutes=20))
                if spot == LATE:
                    times.append(hour - dt.timedelta(seconds=30))
                _raw_pair(
                    plan,
                    issuer,
                    hour,
                    cc,
                    folder,
                    times,
                    k="0 +x" if spot == ODD_KEY else "0",
                    postcan=spot != MISSING_POSTCAN,
                    extra_entry=spot == (2, "IT", "telegram"),
                )
    for hour in (dt.datetime(2024, 2, 29, 23, tzinfo=dt.UTC), dt.datetime(2024, 3, 2, 0, tzinfo=dt.UTC)):
        _raw_pair(plan, issuer, hour, "IR", "webconnectivity", [hour + dt.timedelta(minutes=5)])
    # Across the layout boundary: raw/ starts on 2020-10-20, jsonl/ ends then.
    for day in (20, 21):
        hour = dt.datetime(2020, 10, day, 12, tzinfo=dt.UTC)
        _raw_pair(plan, issuer, hour, "IT", "webconnectivity", [hour + dt.timedelta(minutes=1)])
    for day, cc, folder in [
        (dt.date(2020, 10, 20), "IT", "webconnectivity"),
        (dt.date(2018, 5, 1), "IR", "webconnectivity"),
        (dt.date(2018, 5, 2), "IR", "webconnectivity"),
        (dt.date(2018, 5, 1), "IR", "telegram"),
        (dt.date(2018, 6, 1), "IT", "webconnectivity"),
    ]:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        docs = []
        for n in range(2):
            uid, doc = issuer.issue(folder, cc, start + dt.timedelta(hours=3 + n))
            doc["measurement_uid"] = uid  # the legacy pipeline wrote the uid into the measurement
            docs.append((uid, doc))
        key = f"jsonl/{folder}/{cc}/{day:%Y%m%d}/00/{day:%Y%m%d}00_{cc}_{folder}.n0.0.jsonl.gz"
        plan.objects[key] = gzip.compress(b"".join(json.dumps(d).encode() + b"\n" for _, d in docs), mtime=0)
        plan.issued += [Issued(uid, d, start, key) for uid, d in docs]
    # What OONI's readers leave unread.
    plan.objects["raw/20240301/00/index.json.gz"] = gzip.compress(b'{"files": []}', mtime=0)
    plan.objects["raw/20240301/01/IT/telegram/2024030101_IT_telegram.n1.9.jsonl.gz"] = b""
    plan.objects["canned/2018-05-01/ir-web_connectivity.00.tar.lz4"] = b"\x04\x22\x4d\x18lz4 can"
    return plan


def start_moto(plan: Plan) -> tuple[Any, Any, str]:
    """moto's S3 in this process, filled with boto3, and served over HTTP on a free loopback port."""
    import boto3
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    mock = mock_aws()
    mock.start()
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket=BUCKET, ACL="public-read")
    for key, body in plan.objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return mock, server, f"http://{host}:{port}"


@dataclass
class Fault:
    """Answer requests that ``match`` with ``kind`` instead of the real answer, ``times`` times (None:
    always)."""

    match: Callable[[str, dict[str, str]], bool]
    kind: str
    times: int | None = 1
    hits: int = 0


_S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
    "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
)


class Proxy:
    """A loopback HTTP proxy in front of moto: logs every request and injects ``faults``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()

    def listings(self) -> list[dict[str, str]]:
        return [q for _, q in self.log if q.get("list-type") == "2"]

    def downloads(self) -> list[str]:
        return [p for p, q in self.log if "list-type" not in q]

    def _fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self.lock:
            self.log.append((path, query))
            for f in self.faults:
                if (f.times is None or f.hits < f.times) and f.match(path, query):
                    f.hits += 1
                    return f
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urllib.parse.urlsplit(h.path)
        path = urllib.parse.unquote(split.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        fault = self._fault(path, query)
        kind = fault.kind if fault else None
        if kind == "500":
            return _send(
                h, 500, _S3_ERROR.format(code="InternalError", message="We encountered an internal error.")
            )
        if kind == "slowdown":
            return _send(
                h, 503, _S3_ERROR.format(code="SlowDown", message="Please reduce your request rate.")
            )
        if kind == "403":
            return _send(h, 403, _S3_ERROR.format(code="AccessDenied", message="Access Denied"))
        if kind == "html":
            return _send(h, 200, "<html><body>Welcome to a web server</body></html>", "text/html")
        resp = self.client.get(self.upstream + h.path)
        body = resp.content
        if kind == "no-token":
            text = body.decode()
            start, end = text.find("<NextContinuationToken>"), text.find("</NextContinuationToken>")
            if start >= 0:
                text = text[:start] + text[end + len("</NextContinuationToken>") :]
            body = text.encode()
        if kind == "short":  # a body cut short, sent as if complete: only the listing's size tells
            body = body[: len(body) // 2]
        h.send_response(resp.status_code)
        h.send_header("Content-Type", resp.headers.get("content-type", "application/octet-stream"))
        h.send_header("Content-Length", str(len(resp.content) if kind == "cut" else len(body)))
        h.end_headers()
        if kind == "cut":  # the connection drops mid-body
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        h.wfile.write(body)
        return None


def _send(h: BaseHTTPRequestHandler, status: int, text: str, ctype: str = "application/xml") -> None:
    data = text.encode()
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)
