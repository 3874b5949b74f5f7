"""The one exception tree of netfreedom.

    NetfreedomError
    ├── InputError          a file or value the user gave cannot be used (names the file and line)
    ├── ConfigError         a project, methodology or score file is invalid (names the file and problem)
    ├── StoreError          the store cannot be opened, read or written
    ├── FetchError          a remote source could not be downloaded (names the URL)
    ├── EngineError         the Dask cluster refused or failed the run (names the scheduler, task or workers)
    └── MissingExtraError   an optional part is not installed (names the ``pip install`` that adds it)

A bad line inside a measurement file is *not* an exception: it is data about the input, counted and
reported by the reader (see ``netfreedom.ingest``).  Exceptions from libraries are converted where they
enter (``raise StoreError(...) from exc``) so callers only ever catch ``NetfreedomError``.
"""

from __future__ import annotations


class NetfreedomError(Exception):
    """Base of every error netfreedom raises on purpose."""


class InputError(NetfreedomError):
    """A file or value given by the user cannot be used."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{message}")


class ConfigError(InputError):
    """A project, methodology or score file is invalid."""


class StoreError(NetfreedomError):
    """The store cannot be opened, read or written."""


class FetchError(NetfreedomError):
    """A remote source could not be downloaded.  ``code`` is the server's own error code when it sent one
    (S3: ``AccessDenied``, ``SlowDown``, ``NoSuchBucket``…), ``status`` the HTTP status; ``transient``
    marks a failure worth retrying (a 5xx, a 429, a dropped connection, a truncated body)."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        code: str | None = None,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.url = url
        self.reason = message
        self.code = code
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        super().__init__(f"{url}: {message}")

    def with_hint(self, hint: str) -> FetchError:
        """The same failure, saying what the user can do about it (the command knows which options fit)."""
        return FetchError(
            f"{self.reason} ({hint})",
            url=self.url,
            code=self.code,
            status=self.status,
            transient=self.transient,
        )


class EngineError(NetfreedomError):
    """The scale-out engine could not run: a bad or unreachable scheduler address, a cluster without
    workers, workers that run other code or cannot see the store, a task that failed on a worker."""


class MissingExtraError(NetfreedomError):
    """An optional part of netfreedom is not installed.  ``extras`` are the missing extras' names,
    ``modules`` the packages that could not be imported; the message says the ``pip install`` to run."""

    def __init__(self, what: str, extras: tuple[str, ...], modules: tuple[str, ...]) -> None:
        self.what = what
        self.extras = extras
        self.modules = modules
        noun = "extra" if len(extras) == 1 else "extras"
        names = ", ".join(extras)
        # the command on a line of its own, short enough never to be wrapped
        super().__init__(
            f"{what} needs the optional {noun} {names} (missing: {', '.join(modules)})\n"
            f"install with: pip install 'netfreedom[{','.join(extras)}]'"
        )
