"""Fetch remote inputs (OONI archive objects, fingerprints, test lists, workbooks) with a cache and mirrors.

Every remote source netfreedom reads goes through a ``Fetcher``.  A *mirror* maps a URL prefix to another
base URL or to a local folder, so tests and offline users serve ``../shared/data`` or a local HTTP server
instead of the public home.  Downloads land in the cache atomically (temp file, then rename), so a killed
process never leaves a half-written cache entry; when the expected size is known (an archive listing gives
it) a download of another size is never cached.

Transient failures — HTTP 5xx and 429, S3's ``SlowDown``, a dropped connection, a truncated body — are
retried ``retries`` times with exponential backoff (``backoff`` seconds, doubling; four times longer after
``SlowDown``, or what ``Retry-After`` asks).  Errors carry the server's own error code when it sent one
(S3's XML ``<Error><Code>``), never a generic HTTP text.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from netfreedom.errors import FetchError

DEFAULT_CACHE = Path(os.environ.get("NETFREEDOM_CACHE", Path.home() / ".cache" / "netfreedom"))
RETRIES = 4
BACKOFF = 0.5
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"})
_MAX_WAIT = 30.0
T = TypeVar("T")


def http_error(url: str, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> FetchError:
    """A ``FetchError`` for an HTTP error answer: S3's error code and message when the body is an S3
    ``<Error>`` document, else the status alone."""
    code = message = None
    if body.lstrip().startswith(b"<"):
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is not None and root.tag.rsplit("}", 1)[-1] == "Error":
            code = (root.findtext("{*}Code") or root.findtext("Code") or "").strip() or None
            message = (root.findtext("{*}Message") or root.findtext("Message") or "").strip() or None
    text = f"S3 error {code} (HTTP {status})" if code else f"HTTP {status}"
    if message:
        text += f": {message[:200]}"
    retry_after = None
    if headers is not None and (value := headers.get("retry-after", "")).strip().isdigit():
        retry_after = float(value)
    transient = status in _TRANSIENT_STATUS or code in _TRANSIENT_CODES
    return FetchError(text, url=url, code=code, status=status, transient=transient, retry_after=retry_after)


def parse_mirrors(specs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse ``--mirror`` values.  ``https://prefix=TARGET`` maps one URL prefix; a bare ``TARGET`` maps
    every URL ``scheme://host/path`` to ``TARGET/host/path``.  TARGET is a base URL or a local folder."""
    out: dict[str, str] = {}
    for spec in specs:
        prefix, sep, target = spec.partition("=")
        if sep and prefix.startswith(("http://", "https://")):
            out[prefix] = target
        else:
            out["*"] = spec
    return out


@dataclass
class Fetcher:
    """Downloads URLs into a cache, honouring mirrors.  ``timeout`` is per request, in seconds."""

    cache_dir: Path = DEFAULT_CACHE
    mirrors: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    retries: int = RETRIES
    backoff: float = BACKOFF
    # A path-style S3 endpoint (MinIO, Ceph, moto …) serving ``s3://BUCKET/…`` as ``ENDPOINT/BUCKET/…``.
    s3_endpoint: str | None = None
    requests: int = 0  # HTTP requests made (every attempt counts)
    _client: httpx.Client | None = field(default=None, repr=False)

    def resolve(self, url: str) -> str:
        """The URL or local path that actually serves ``url`` after mirrors are applied."""
        best = ""
        for prefix in self.mirrors:
            if prefix != "*" and url.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        if best:
            rest = url[len(best) :].lstrip("/")
            target = self.mirrors[best]
            # A prefix that is the whole URL maps one file to one file: no trailing slash.
            return target.rstrip("/") + "/" + rest if rest else target
        if "*" in self.mirrors:
            parts = urllib.parse.urlsplit(url)
            rest = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
            return self.mirrors["*"].rstrip("/") + "/" + rest
        return url

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get_bytes(self, url: str) -> bytes:
        """GET a small resource (a listing, a CSV) without caching it; transient failures are retried."""
        target = self.resolve(url)
        if not target.startswith(("http://", "https://")):
            try:
                return Path(target).read_bytes()
            except OSError as exc:
                raise FetchError(f"cannot read mirror file {target}: {exc.strerror}", url=url) from exc
        return self.retrying(lambda: self._get(target, url))

    def _get(self, target: str, url: str) -> bytes:
        self.requests += 1
        try:
            resp = self.client.get(target)
        except httpx.TransportError as exc:
            raise FetchError(_describe(exc), url=url, transient=True) from exc
        except httpx.HTTPError as exc:
            raise FetchError(_describe(exc), url=url) from exc
        if resp.status_code >= 400:
            raise http_error(url, resp.status_code, resp.content, resp.headers)
        return resp.content

    def retrying(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, retrying transient ``FetchError`` with backoff."""
        delay = self.backoff
        for n in range(self.retries + 1):
            try:
                return attempt()
            except FetchError as exc:
                if not exc.transient or n == self.retries:
                    if n:
                        exc.reason += f" (after {n + 1} attempts)"
                        exc.args = (f"{exc.url}: {exc.reason}",)
                    raise
                wait = exc.retry_after if exc.retry_after is not None else delay
                if exc.code == "SlowDown" and exc.retry_after is None:
                    wait *= 4
                time.sleep(min(wait, _MAX_WAIT))
                delay *= 2
        raise AssertionError("unreachable")

    def fetch(
        self, url: str, *, refresh: bool = False, max_age: float | None = None, size: int | None = None
    ) -> Path:
        """Return a local path holding ``url``'s content, downloading it into the cache if needed.

        Without ``max_age`` a cached copy is kept for ever (archive objects never change).  With it (seconds),
        a copy older than that is downloaded again (and still used if the download fails, unless the resource
        is now gone: a 404), and a 404 is remembered as long, so that resources that evolve (test lists) stay
        fresh and the many that do not exist are not asked for on every run.  With ``size`` (bytes, from a
        listing) a download of another size is a transient failure, never cached, and a cached copy of
        another size is downloaded again."""
        target = self.resolve(url)
        if not target.startswith(("http://", "https://")):
            path = Path(target)
            if not path.is_file():
                raise FetchError(f"mirror file {path} does not exist", url=url)
            return path
        base = Path(urllib.parse.urlsplit(target).path).name
        name = hashlib.sha256(target.encode()).hexdigest()[:24] + "-" + base
        dest = self.cache_dir / name
        missing = dest.with_name(name + ".missing")
        if not refresh:
            if dest.is_file() and _fresh(dest, max_age) and (size is None or dest.stat().st_size == size):
                return dest
            if max_age is not None and missing.is_file() and _fresh(missing, max_age):
                raise FetchError("not found (remembered from an earlier run)", url=url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.retrying(
                lambda: self._download(target, url, dest, missing if max_age is not None else None, size)
            )
        except FetchError:
            if max_age is not None and dest.is_file() and not missing.is_file():
                return dest  # the home cannot be reached now: an older copy beats no copy
            raise
        missing.unlink(missing_ok=True)
        return dest

    def _download(self, target: str, url: str, dest: Path, missing: Path | None, size: int | None) -> None:
        """One attempt: stream into a temp file beside ``dest``, check the size, rename."""
        self.requests += 1
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            written = 0
            with os.fdopen(fd, "wb") as out, self.client.stream("GET", target) as resp:
                if resp.status_code >= 400:
                    if resp.status_code == 404 and missing is not None:
                        missing.touch()
                    raise http_error(url, resp.status_code, resp.read()[:65536], resp.headers)
                for chunk in resp.iter_bytes(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
            if size is not None and written != size:
                raise FetchError(
                    f"download truncated: {written} of {size} bytes (the listing's size)",
                    url=url,
                    transient=True,
                )
            os.replace(tmp, dest)
        except httpx.TransportError as exc:
            raise FetchError(_describe(exc), url=url, transient=True) from exc
        except httpx.HTTPError as exc:
            raise FetchError(_describe(exc), url=url) from exc
        finally:
            Path(tmp).unlink(missing_ok=True)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection broken ({text})"
    return text


def _fresh(path: Path, max_age: float | None) -> bool:
    return max_age is None or time.time() - path.stat().st_mtime < max_age
