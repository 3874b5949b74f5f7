"""The one registry of typed ``test_keys``, keyed by ``test_name``.

A test listed in :data:`TEST_KEYS` decodes to its typed struct; any other test decodes to a plain ``dict``
holding its ``test_keys`` exactly as written (unknown tests are kept, not rejected).  Add a test by adding
one line here — nothing else lists test names.
"""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.errors import InputError
from netfreedom.models.web_connectivity import WebConnectivityKeys

__all__ = ["TEST_KEYS", "TestKeys", "decode_test_keys"]

TEST_KEYS: dict[str, type[msgspec.Struct]] = {
    "web_connectivity": WebConnectivityKeys,
}

TestKeys = msgspec.Struct | dict[str, Any] | None
"""Decoded ``test_keys``: a registered struct, a generic dict, or None when the probe wrote null."""

# One decoder per type, built once: a msgspec Decoder is cheap to call and costly to build.
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(model | None) for name, model in TEST_KEYS.items()
}
_GENERIC: msgspec.json.Decoder[Any] = msgspec.json.Decoder(dict[str, Any] | None)


def decode_test_keys(test_name: str, raw: bytes | msgspec.Raw | str) -> TestKeys:
    """Decode the raw JSON ``test_keys`` of a ``test_name`` measurement.

    Returns the registered struct (web_connectivity: :class:`WebConnectivityKeys`), a ``dict`` for any
    other test, or None for ``null``.  Raises :class:`~netfreedom.errors.InputError` naming the offending
    path when the JSON is invalid or does not fit the model (e.g. ``test_keys`` is a list).
    """
    decoder = _DECODERS.get(test_name, _GENERIC)
    try:
        return decoder.decode(raw)  # type: ignore[no-any-return]
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise InputError(f"{test_name} test_keys: {exc}") from exc
