"""The reader's UTF-8 check (Arrow's validation) agrees with Python's decoder on every input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netfreedom.ingest.records import decode_measurement, utf8_error


def _python(raw: bytes) -> int | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


# Bytes near UTF-8's edges: lead and continuation bytes, surrogates, overlongs, beyond U+10FFFF.
_EDGY = st.lists(
    st.sampled_from(
        [
            b"a",
            b"\x80",
            b"\xbf",
            b"\xc0",
            b"\xc2",
            b"\xdf",
            b"\xe0",
            b"\xed",
            b"\xef",
            b"\xf0",
            b"\xf4",
            b"\xf5",
            b"\xff",
            b"\xa0",
            b"\x90",
            "é".encode(),
            "😀".encode(),
        ]
    ),
    max_size=12,
).map(b"".join)


@given(st.one_of(st.binary(max_size=64), _EDGY, st.text(max_size=32).map(lambda t: t.encode("utf-8"))))
def test_utf8_error_is_python_s_answer(raw: bytes) -> None:
    assert utf8_error(raw) == _python(raw)


def test_an_invalid_line_is_a_problem_naming_the_byte() -> None:
    line = (
        '{"test_name": "dnscheck", "input": "é'.encode()
        + b"\xff"
        + b'", "measurement_start_time": "2024-01-01 00:00:00"}'
    )
    problem = decode_measurement(line, "f.jsonl", 7)
    at = line.index(b"\xff")
    assert getattr(problem, "reason", None) == f"invalid UTF-8 at byte {at}"
    ok = decode_measurement(line.replace(b"\xff", b""), "f.jsonl", 8)
    assert getattr(ok, "envelope", None) is not None
