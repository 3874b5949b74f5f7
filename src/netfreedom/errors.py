"""The one exception tree of netfreedom.

    NetfreedomError
    ├── InputError          a file or value the user gave cannot be used (names the file and line)
    ├── ConfigError         a project, methodology or score file is invalid (names the file and problem)
    ├── StoreError          the store cannot be opened, read or written
    └── FetchError          a remote source could not be downloaded (names the URL)

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
    """A remote source could not be downloaded."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")
