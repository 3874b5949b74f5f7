"""The fetcher: mirrors to folders and base URLs, the cache, and clean errors — against a real HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netfreedom.errors import FetchError
from netfreedom.fetch import Fetcher, parse_mirrors


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - shared by the test server's threads

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.hits.append(self.path)
        super().do_GET()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    (root / "lists").mkdir(parents=True)
    (root / "lists" / "global.csv").write_text("url,category_code\n")
    (root / "one.json").write_text('{"ok": true}')
    _Handler.hits = []

    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_parse_mirrors_prefix_and_catch_all() -> None:
    got = parse_mirrors(["https://example.org/a=/tmp/x", "../shared/data"])
    assert got == {"https://example.org/a": "/tmp/x", "*": "../shared/data"}


def test_prefix_mirror_to_base_url_and_whole_file(server: str, tmp_path: Path) -> None:
    f = Fetcher(
        cache_dir=tmp_path / "cache",
        mirrors={
            "https://example.org/lists": f"{server}/lists",
            "https://example.org/map.json": f"{server}/one.json",
        },
    )
    assert f.resolve("https://example.org/map.json") == f"{server}/one.json"
    assert f.fetch("https://example.org/map.json").read_text() == '{"ok": true}'
    assert f.get_bytes("https://example.org/lists/global.csv") == b"url,category_code\n"


def test_cache_is_used_on_the_second_fetch(server: str, tmp_path: Path) -> None:
    f = Fetcher(cache_dir=tmp_path / "cache", mirrors={"https://example.org/": f"{server}/"})
    first = f.fetch("https://example.org/one.json")
    second = f.fetch("https://example.org/one.json")
    assert first == second
    assert _Handler.hits.count("/one.json") == 1
    assert not list((tmp_path / "cache").glob(".part-*"))


def test_catch_all_mirror_to_a_folder(tmp_path: Path) -> None:
    (tmp_path / "example.org" / "d").mkdir(parents=True)
    (tmp_path / "example.org" / "d" / "f.txt").write_text("hi")
    f = Fetcher(cache_dir=tmp_path / "cache", mirrors={"*": str(tmp_path)})
    assert f.fetch("https://example.org/d/f.txt").read_text() == "hi"
    with pytest.raises(FetchError, match="does not exist"):
        f.fetch("https://example.org/d/missing.txt")


def test_http_errors_become_fetch_errors(server: str, tmp_path: Path) -> None:
    f = Fetcher(cache_dir=tmp_path / "cache", mirrors={"https://example.org/": f"{server}/"})
    with pytest.raises(FetchError) as info:
        f.fetch("https://example.org/nope.json")
    assert info.value.url == "https://example.org/nope.json"
    assert not list((tmp_path / "cache").glob("*"))


def _age(path: Path, seconds: float) -> None:
    import os
    import time

    old = time.time() - seconds
    os.utime(path, (old, old))


def test_max_age_refreshes_old_copies_and_remembers_missing_ones(server: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    f = Fetcher(cache_dir=cache, mirrors={"https://example.org/": f"{server}/"})
    first = f.fetch("https://example.org/one.json", max_age=60)
    assert f.fetch("https://example.org/one.json", max_age=60) == first
    assert _Handler.hits.count("/one.json") == 1
    _age(first, 120)
    assert f.fetch("https://example.org/one.json", max_age=60).read_text() == '{"ok": true}'
    assert _Handler.hits.count("/one.json") == 2
    # A 404 is remembered for max_age: no second request, the same clean error.
    for _ in range(2):
        with pytest.raises(FetchError) as info:
            f.fetch("https://example.org/nope.json", max_age=60)
        assert info.value.url == "https://example.org/nope.json"
    assert _Handler.hits.count("/nope.json") == 1
    (marker,) = cache.glob("*.missing")
    _age(marker, 120)
    with pytest.raises(FetchError):
        f.fetch("https://example.org/nope.json", max_age=60)
    assert _Handler.hits.count("/nope.json") == 2
    # Without max_age (archive objects) a cached copy never expires and no 404 is remembered.
    _age(first, 10**6)
    assert f.fetch("https://example.org/one.json") == first
    assert _Handler.hits.count("/one.json") == 2
    f.close()


def test_an_old_copy_is_used_when_the_home_cannot_be_reached(tmp_path: Path) -> None:
    import functools

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "list.csv").write_text("url\n")
    handler = functools.partial(_Handler, directory=str(tmp_path / "www"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    f = Fetcher(
        cache_dir=tmp_path / "cache",
        mirrors={"https://example.org/": f"http://127.0.0.1:{httpd.server_address[1]}/"},
        timeout=5,
    )
    copy = f.fetch("https://example.org/list.csv", max_age=60)
    httpd.shutdown()
    httpd.server_close()
    f.close()
    _age(copy, 120)
    # Too old, and the home is gone: the old copy rather than a failed build.
    assert f.fetch("https://example.org/list.csv", max_age=60) == copy
    assert copy.read_text() == "url\n"
    # Without a copy there is nothing to fall back on.
    with pytest.raises(FetchError):
        f.fetch("https://example.org/other.csv", max_age=60)
    f.close()


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Fails the first ``fail`` requests of each path with S3's 503 SlowDown, then serves ``body``; a path
    starting with /short serves half of it; /gone is S3's NoSuchKey."""

    fail = 0
    seen: dict[str, int] = {}  # noqa: RUF012 - shared by the test server's threads
    body = b"x" * 1000

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        n = _Flaky.seen[self.path] = _Flaky.seen.get(self.path, 0) + 1
        if self.path == "/gone":
            self._send(
                404, b"<Error><Code>NoSuchKey</Code><Message>The key does not exist.</Message></Error>"
            )
        elif n <= _Flaky.fail:
            self._send(
                503,
                b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            )
        else:
            self._send(200, _Flaky.body[:500] if self.path.startswith("/short") else _Flaky.body)

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def flaky() -> Iterator[str]:
    _Flaky.seen = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_transient_failures_are_retried_and_errors_carry_s3_codes(flaky: str, tmp_path: Path) -> None:
    _Flaky.fail = 2
    f = Fetcher(cache_dir=tmp_path / "cache", retries=3, backoff=0.001)
    assert f.fetch(f"{flaky}/a", size=1000).read_bytes() == _Flaky.body
    assert f.get_bytes(f"{flaky}/b") == _Flaky.body
    assert f.requests == 6 and _Flaky.seen == {"/a": 3, "/b": 3}
    _Flaky.fail = 10
    with pytest.raises(FetchError) as slow:
        f.get_bytes(f"{flaky}/c")
    assert slow.value.code == "SlowDown" and "S3 error SlowDown (HTTP 503)" in str(slow.value)
    assert "after 4 attempts" in str(slow.value) and _Flaky.seen["/c"] == 4
    with pytest.raises(FetchError) as gone:
        f.fetch(f"{flaky}/gone")
    assert gone.value.code == "NoSuchKey" and _Flaky.seen["/gone"] == 1  # not retried
    assert "developer.mozilla.org" not in str(gone.value)
    f.close()


def test_a_download_of_the_wrong_size_is_never_cached(flaky: str, tmp_path: Path) -> None:
    _Flaky.fail = 0
    f = Fetcher(cache_dir=tmp_path / "cache", retries=2, backoff=0.001)
    with pytest.raises(FetchError, match="download truncated: 500 of 1000 bytes"):
        f.fetch(f"{flaky}/short", size=1000)
    assert _Flaky.seen["/short"] == 3
    assert list((tmp_path / "cache").iterdir()) == []  # no entry, no temp file
    # A cached copy of another size than the listing's (an older, damaged download) is fetched again.
    good = f.fetch(f"{flaky}/ok", size=1000)
    good.write_bytes(b"cut")
    assert f.fetch(f"{flaky}/ok", size=1000).read_bytes() == _Flaky.body and _Flaky.seen["/ok"] == 2
    f.close()
