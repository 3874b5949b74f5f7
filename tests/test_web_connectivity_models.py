"""The typed web_connectivity test keys and the test-keys registry, on real OONI measurements."""

from __future__ import annotations

import base64
from pathlib import Path

import msgspec
import pytest

from netfreedom.errors import InputError
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import TEST_KEYS, decode_test_keys
from netfreedom.models.web_connectivity import (
    BinaryData,
    WebConnectivityKeys,
    decode_base64,
    decode_network_events,
)


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def test_every_web_connectivity_line_decodes(measurements_dir: Path) -> None:
    lines = _lines(measurements_dir / "web_connectivity.jsonl")
    assert len(lines) >= 20
    typed = 0
    for line in lines:
        env = msgspec.json.decode(line, type=Envelope)
        keys = decode_test_keys(env.test_name, env.test_keys)
        if keys is None:
            assert msgspec.json.decode(env.test_keys) is None
            continue
        assert isinstance(keys, WebConnectivityKeys)
        typed += 1
        plain = msgspec.json.decode(env.test_keys)
        # What the probe concluded survives decoding unchanged.
        assert keys.blocking == plain.get("blocking")
        assert keys.accessible == plain.get("accessible")
        assert len(keys.requests or []) == len(plain.get("requests") or [])
        assert len(keys.queries or []) == len(plain.get("queries") or [])
        for entry, raw in zip(keys.requests or [], plain.get("requests") or [], strict=True):
            body = (raw.get("response") or {}).get("body")
            got = entry.response.body if entry.response else None
            if isinstance(body, str):
                assert got == body
            elif isinstance(body, dict):
                assert got is None or isinstance(got, bytes)
                assert entry.response is not None
                if got is not None:
                    assert got == base64.b64decode(body["data"])
                else:
                    assert entry.response.body_is_invalid
            for value in ((entry.response.headers if entry.response else None) or {}).values():
                assert isinstance(value, str)
    assert typed == len(lines) - 1  # exactly one fixture holds "test_keys": null


def test_base64_body_and_header_are_decoded() -> None:
    payload = b"\xff\xfe<title>x</title>"
    raw = msgspec.json.encode(
        {
            "requests": [
                {
                    "response": {
                        "code": 200,
                        "body": {"format": "base64", "data": base64.b64encode(payload).decode()},
                        "headers": {
                            "Location": {
                                "format": "base64",
                                "data": base64.b64encode(b"http://\xe9").decode(),
                            },
                            "Set-Cookie": ["a=1", "b=2"],
                        },
                    }
                }
            ]
        }
    )
    keys = decode_test_keys("web_connectivity", raw)
    assert isinstance(keys, WebConnectivityKeys)
    assert keys.requests is not None
    response = keys.requests[0].response
    assert response is not None
    assert response.body == payload
    assert response.headers == {"Location": "http://\xe9", "Set-Cookie": "a=1, b=2"}


def test_invalid_base64_does_not_crash() -> None:
    raw = b'{"requests": [{"response": {"body": {"format": "base64", "data": "aGk"}}}]}'
    keys = decode_test_keys("web_connectivity", raw)
    assert isinstance(keys, WebConnectivityKeys)
    assert keys.requests is not None and keys.requests[0].response is not None
    assert keys.requests[0].response.body is None
    assert keys.requests[0].response.body_is_invalid
    assert decode_base64(BinaryData(data="abcde")) is None


def test_unknown_test_keeps_its_keys_intact() -> None:
    raw = b'{"a": [1, {"b": null}], "c": "d"}'
    assert "telegram" not in TEST_KEYS
    assert decode_test_keys("telegram", raw) == {"a": [1, {"b": None}], "c": "d"}
    assert decode_test_keys("no_such_test", b"null") is None


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b"[1, 2]", "object"),
        (b'{"tcp_connect": [{"port": []}]}', "$.tcp_connect[0].port"),
        (b"{", "truncated"),
    ],
)
def test_malformed_test_keys_raise_a_clear_input_error(raw: bytes, where: str) -> None:
    with pytest.raises(InputError) as info:
        decode_test_keys("web_connectivity", raw)
    assert "web_connectivity test_keys" in str(info.value)
    assert where in str(info.value)


def test_network_events_decode_on_demand(measurements_dir: Path) -> None:
    counts = []
    for line in _lines(measurements_dir / "web_connectivity.jsonl"):
        env = msgspec.json.decode(line, type=Envelope)
        keys = decode_test_keys(env.test_name, env.test_keys)
        if isinstance(keys, WebConnectivityKeys):
            events = decode_network_events(keys)
            plain = msgspec.json.decode(env.test_keys).get("network_events") or []
            assert [e.operation for e in events] == [e.get("operation") for e in plain]
            counts.append(len(events))
    assert max(counts) > 0
    assert decode_network_events(WebConnectivityKeys()) == []


def test_decode_measurement_equals_the_two_pass_decoding(measurements_dir: Path) -> None:
    """The one-pass fast path gives the same envelope and keys for every shared measurement, all tests."""
    from netfreedom.models.registry import decode_measurement

    count = 0
    for path in sorted(measurements_dir.glob("*.jsonl")):
        for line in _lines(path):
            env, keys = decode_measurement(line)
            slow = msgspec.json.decode(line, type=Envelope)
            assert keys == decode_test_keys(slow.test_name, slow.test_keys)
            assert env == msgspec.structs.replace(slow, test_keys=msgspec.Raw(b"null")) or env == slow
            count += 1
    assert count >= 90


def test_decode_measurement_falls_back_and_reports_bad_lines() -> None:
    from netfreedom.models.registry import decode_measurement

    # The marker appears inside another test's keys: the envelope decides, not the substring.
    line = b'{"test_name": "telegram", "test_keys": {"note": "\\"test_name\\":\\"web_connectivity\\""}}'
    env, keys = decode_measurement(line)
    assert env.test_name == "telegram"
    assert keys == {"note": '"test_name":"web_connectivity"'}
    # Keys that do not fit the model: the precise error from the two-pass path.
    with pytest.raises(InputError, match=r"\$\.queries"):
        decode_measurement(b'{"test_name":"web_connectivity","test_keys":{"queries":5}}')
    with pytest.raises(InputError, match="not a measurement"):
        decode_measurement(b'{"input": "x"}')
    env, keys = decode_measurement(b'{"test_name":"web_connectivity","test_keys":null,"probe_cc":"IT"}')
    assert (env.probe_cc, keys) == ("IT", None)


def test_headers_as_a_list_of_pairs_become_a_dict() -> None:
    raw = msgspec.json.encode(
        {
            "requests": [
                {"response": {"headers": [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["X", "y"], ["bad"]]}}
            ],
            "control": {"http_request": {"headers": [["Server", "nginx"]]}},
        }
    )
    keys = decode_test_keys("web_connectivity", raw)
    assert isinstance(keys, WebConnectivityKeys)
    assert keys.requests is not None and keys.requests[0].response is not None
    assert keys.requests[0].response.headers == {"Set-Cookie": "a=1, b=2", "X": "y"}
    assert keys.control is not None and keys.control.http_request is not None
    assert keys.control.http_request.headers == {"Server": "nginx"}
