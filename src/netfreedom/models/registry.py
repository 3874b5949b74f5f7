"""The one registry of typed ``test_keys``, keyed by ``test_name``.

A test listed in :data:`TEST_KEYS` decodes to its typed struct; any other test decodes to a plain ``dict``
holding its ``test_keys`` exactly as written (unknown tests are kept, not rejected).  Add a test by adding
one line here — nothing else lists test names.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec

from netfreedom.errors import InputError
from netfreedom.models.decoding import DECODE_ERRORS, decode_error
from netfreedom.models.measurement import Envelope
from netfreedom.models.web_connectivity import WebConnectivityKeys

__all__ = ["TEST_KEYS", "TestKeys", "decode_measurement", "decode_test_keys", "decode_whole"]

TEST_KEYS: dict[str, type[msgspec.Struct]] = {
    "web_connectivity": WebConnectivityKeys,
}

TestKeys = msgspec.Struct | dict[str, Any] | None
"""Decoded ``test_keys``: a registered struct, a generic dict, or None when the probe wrote null."""


# Whole-measurement structs (an Envelope whose test_keys is typed): the envelope and the keys in ONE pass
# over the line.  Decoding the envelope first (test_keys as Raw) and then the keys scans the big test_keys
# twice, a third of the decoding cost.
_WHOLE: dict[str, type[Envelope]] = {
    name: cast(
        "type[Envelope]",
        msgspec.defstruct(
            f"Whole_{name}", [("test_keys", model | None, None)], bases=(Envelope,), kw_only=True
        ),
    )
    for name, model in TEST_KEYS.items()
}

# One decoder per type, built once: a msgspec Decoder is cheap to call and costly to build.
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(model | None) for name, model in TEST_KEYS.items()
}
_GENERIC: msgspec.json.Decoder[Any] = msgspec.json.Decoder(dict[str, Any] | None)
_ENVELOPE = msgspec.json.Decoder(Envelope)
_FAST = {
    name: (
        (f'"test_name":"{name}"'.encode(), f'"test_name": "{name}"'.encode()),
        msgspec.json.Decoder(model),
    )
    for name, model in _WHOLE.items()
}
_ENVELOPE_FIELDS = tuple(f for f in Envelope.__struct_fields__ if f != "test_keys")


def decode_test_keys(test_name: str, raw: bytes | msgspec.Raw | str) -> TestKeys:
    """Decode the raw JSON ``test_keys`` of a ``test_name`` measurement.

    Returns the registered struct (web_connectivity: :class:`WebConnectivityKeys`), a ``dict`` for any
    other test, or None for ``null``.  Raises :class:`~netfreedom.errors.InputError` naming the offending
    path when the JSON is invalid or does not fit the model (e.g. ``test_keys`` is a list).
    """
    decoder = _DECODERS.get(test_name, _GENERIC)
    try:
        return decoder.decode(raw)  # type: ignore[no-any-return]
    except DECODE_ERRORS as exc:  # ValidationError is a DecodeError
        raise InputError(f"{test_name} test_keys: {decode_error(exc)}") from exc


def decode_whole(line: bytes) -> tuple[Envelope, TestKeys] | None:
    """The envelope and typed keys of a registered test's measurement in one pass over ``line``, or None
    when that does not apply (another test, a ``"test_name"`` not visible as such) or fails (the caller's
    two-step decoding then names the problem).  The returned envelope's ``test_keys`` is ``null``."""
    for name, (markers, decoder) in _FAST.items():
        # Searched from the end: OONI writes the envelope's keys in order, so ``test_name`` follows the
        # large ``test_keys`` and is found within a few hundred bytes (``in`` would read the whole line).
        if line.rfind(markers[0]) >= 0 or line.rfind(markers[1]) >= 0:
            try:
                whole = decoder.decode(line)
            except DECODE_ERRORS:
                return None
            if whole.test_name != name:
                return None  # the marker was inside a body, not the envelope
            env = Envelope(**{f: getattr(whole, f) for f in _ENVELOPE_FIELDS})
            return env, whole.test_keys  # type: ignore[return-value]
    return None


def decode_measurement(line: bytes) -> tuple[Envelope, TestKeys]:
    """Decode one measurement line into its envelope and typed test keys, in one pass when it can.

    For a registered test whose ``"test_name"`` is visible in the line the envelope and keys are decoded
    together; the returned envelope's ``test_keys`` is then left as ``null`` (the keys are the second
    value).  Otherwise the envelope is decoded first and the keys from its raw ``test_keys``.  Raises
    :class:`~netfreedom.errors.InputError` for a line that is not a measurement or keys that do not fit.
    """
    found = decode_whole(line)
    if found is not None:
        return found
    try:
        env = _ENVELOPE.decode(line)
    except DECODE_ERRORS as exc:
        raise InputError(f"not a measurement: {decode_error(exc)}") from exc
    return env, decode_test_keys(env.test_name, env.test_keys)
