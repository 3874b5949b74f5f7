"""Decoding untrusted JSON: what can go wrong, named once.

msgspec reports a document nested past Python's recursion limit (about 1,000 levels, less the caller's own
stack) with ``RecursionError``, not with a ``DecodeError`` — even inside a field it skips or keeps raw.
Every decoder of untrusted bytes catches :data:`DECODE_ERRORS`; a reader reports such a line with
:data:`TOO_DEEP`.  (orjson stops at 1,024 levels with its own ``JSONDecodeError``.)  Real measurements
nest a few dozen levels at most.
"""

from __future__ import annotations

import msgspec

__all__ = ["DECODE_ERRORS", "TOO_DEEP", "decode_error"]

DECODE_ERRORS: tuple[type[Exception], ...] = (msgspec.DecodeError, RecursionError)
TOO_DEEP = "JSON nested too deeply (more levels than the JSON decoder allows)"


def decode_error(exc: Exception) -> str:
    """A person's reason for one of :data:`DECODE_ERRORS`."""
    return TOO_DEEP if isinstance(exc, RecursionError) else str(exc)
