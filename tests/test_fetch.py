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
