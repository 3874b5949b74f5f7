"""Fetch remote inputs (OONI archive objects, fingerprints, test lists, workbooks) with a cache and mirrors.

Every remote source netfreedom reads goes through a ``Fetcher``.  A *mirror* maps a URL prefix to another
base URL or to a local folder, so tests and offline users serve ``../shared/data`` or a local HTTP server
instead of the public home.  Downloads land in the cache atomically (temp file, then rename), so a killed
process never leaves a half-written cache entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from netfreedom.errors import FetchError

DEFAULT_CACHE = Path(os.environ.get("NETFREEDOM_CACHE", Path.home() / ".cache" / "netfreedom"))


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
        """GET a small resource (a listing, a CSV) without caching it."""
        target = self.resolve(url)
        if not target.startswith(("http://", "https://")):
            try:
                return Path(target).read_bytes()
            except OSError as exc:
                raise FetchError(f"cannot read mirror file {target}: {exc.strerror}", url=url) from exc
        try:
            resp = self.client.get(target)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise FetchError(str(exc) or type(exc).__name__, url=url) from exc
        return resp.content

    def fetch(self, url: str, *, refresh: bool = False, max_age: float | None = None) -> Path:
        """Return a local path holding ``url``'s content, downloading it into the cache if needed.

        Without ``max_age`` a cached copy is kept for ever (archive objects never change).  With it (seconds),
        a copy older than that is downloaded again (and still used if the download fails, unless the resource
        is now gone: a 404), and a 404 is remembered as long, so that resources that evolve (test lists) stay
        fresh and the many that do not exist are not asked for on every run."""
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
            if dest.is_file() and _fresh(dest, max_age):
                return dest
            if max_age is not None and missing.is_file() and _fresh(missing, max_age):
                raise FetchError("not found (remembered from an earlier run)", url=url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, self.client.stream("GET", target) as resp:
                if resp.status_code == 404 and max_age is not None:
                    missing.touch()
                resp.raise_for_status()
                for chunk in resp.iter_bytes(1 << 20):
                    out.write(chunk)
            os.replace(tmp, dest)
            missing.unlink(missing_ok=True)
        except httpx.HTTPError as exc:
            Path(tmp).unlink(missing_ok=True)
            if max_age is not None and dest.is_file() and not missing.is_file():
                return dest  # the home cannot be reached now: an older copy beats no copy
            raise FetchError(str(exc) or type(exc).__name__, url=url) from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest


def _fresh(path: Path, max_age: float | None) -> bool:
    return max_age is None or time.time() - path.stat().st_mtime < max_age
