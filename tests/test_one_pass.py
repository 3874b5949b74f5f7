"""Readers that decode envelope and typed keys in one pass (``keys=True``, what ingest with analysis uses)
give the records and the verdicts of the two-step decoding."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from netfreedom.analysis import _DECODED, FingerprintDB, analyze, analyze_decoded
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.ingest import Record, decode_measurement, read_source
from netfreedom.models.registry import TEST_KEYS


@pytest.fixture(scope="module")
def fingerprints(shared_data: Path) -> FingerprintDB:
    return load_fingerprints(sources_in_dir(shared_data))


def test_every_typed_test_has_a_typed_analyzer() -> None:
    # Otherwise analyze_decoded would have to re-encode the keys for the raw analyzer.
    assert set(TEST_KEYS) <= set(_DECODED)


def _fields(record: Record) -> tuple[object, ...]:
    env = msgspec.structs.asdict(record.envelope)
    env.pop("test_keys")
    return (record.raw, record.file, record.line, record.uid, record.time, record.bucket, env)


def test_one_pass_records_and_verdicts_equal_two_step(
    measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    plain = [r for r in read_source(str(measurements_dir)) if isinstance(r, Record)]
    typed = [r for r in read_source(str(measurements_dir), keys=True) if isinstance(r, Record)]
    assert [_fields(r) for r in plain] == [_fields(r) for r in typed]
    assert all(r.keys is None for r in plain)
    decoded = [r for r in typed if r.keys is not None]
    assert {r.envelope.test_name for r in decoded} == set(TEST_KEYS)
    assert all(bytes(r.envelope.test_keys) == b"null" for r in decoded)
    assert all(r.bare().keys is None and r.bare().raw == r.raw for r in typed)
    for two, one in zip(plain, typed, strict=True):
        expected = analyze(two.envelope, two.envelope.test_keys, fingerprints)
        if one.keys is not None:
            assert analyze_decoded(one.envelope, one.keys, fingerprints) == expected
        else:
            assert analyze(one.envelope, one.envelope.test_keys, fingerprints) == expected


def test_keys_that_do_not_fit_the_model_are_read_as_without(measurements_dir: Path) -> None:
    line = (
        b'{"test_name": "web_connectivity", "input": "https://example.org/", "probe_cc": "IT", '
        b'"measurement_start_time": "2024-03-01 10:00:00", "test_keys": {"requests": "not a list"}}'
    )
    one = decode_measurement(line, "f.jsonl", 1, keys=True)
    two = decode_measurement(line, "f.jsonl", 1)
    assert isinstance(one, Record) and isinstance(two, Record)
    assert one.keys is None and one.envelope == two.envelope
    assert bytes(one.envelope.test_keys) == b'{"requests": "not a list"}'
    assert analyze(one.envelope, one.envelope.test_keys, None).reason.value == "probe_failure"
    bad = decode_measurement(b'{"test_name": "web_connectivity", "test_keys": [}', "f.jsonl", 2, keys=True)
    assert bad == decode_measurement(b'{"test_name": "web_connectivity", "test_keys": [}', "f.jsonl", 2)
