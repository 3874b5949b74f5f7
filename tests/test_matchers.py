"""Hyperscan and the portable matcher give identical matches and identical verdicts.

The portable matcher (``analysis._portable``, Python's ``re``) is what a platform without Hyperscan
wheels uses; a verdict must not depend on which one ran."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netfreedom.analysis import analyze_line
from netfreedom.analysis._portable import PortableMatcher, usable
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.analysis.fingerprints import Fingerprint, FingerprintDB, PatternType
from netfreedom.analysis.web_connectivity import response_bodies, response_headers
from netfreedom.models.registry import decode_measurement
from netfreedom.models.web_connectivity import WebConnectivityKeys

from .conftest import MEASUREMENTS


@pytest.fixture(scope="module")
def both(shared_data: Path) -> tuple[FingerprintDB, FingerprintDB]:
    loaded = load_fingerprints(sources_in_dir(shared_data))
    fast = FingerprintDB(loaded.fingerprints, loaded.load_problems, matcher="hyperscan")
    portable = FingerprintDB(loaded.fingerprints, loaded.load_problems, matcher="portable")
    assert fast.matcher == "hyperscan" and portable.matcher == "portable"
    return fast, portable


def _lines() -> list[bytes]:
    return [line for f in sorted(MEASUREMENTS.glob("*.jsonl")) for line in f.read_bytes().splitlines()]


def _names(db: FingerprintDB, body: str | bytes | None, headers: dict[str, str] | None) -> list[str]:
    return sorted(fp.name for fp in db.match_page(body, headers))


def test_every_verdict_of_the_shared_corpus_is_the_same_with_both(
    both: tuple[FingerprintDB, FingerprintDB],
) -> None:
    fast, portable = both
    assert fast.problems == portable.problems == ()
    lines = _lines()
    verdicts = [(analyze_line(line, fast), analyze_line(line, portable)) for line in lines]
    assert len(verdicts) == len(lines) > 80
    assert [a for a, _ in verdicts] == [b for _, b in verdicts]
    assert sum(1 for a, _ in verdicts if a is not None and a.fingerprint) >= 3  # fingerprints did match


def test_every_page_of_the_shared_corpus_matches_the_same_fingerprints(
    both: tuple[FingerprintDB, FingerprintDB],
) -> None:
    fast, portable = both
    pages = 0
    for line in _lines():
        _, keys = decode_measurement(line)
        if not isinstance(keys, WebConnectivityKeys):
            continue
        for body in response_bodies(keys):
            pages += 1
            assert _names(fast, body, None) == _names(portable, body, None)
        for header in response_headers(keys):
            assert _names(fast, None, dict(header)) == _names(portable, None, dict(header))
    assert pages > 10


ADVERSARIAL = {
    "chain-start-only": b"<meta name=" * 190_000,  # "<meta name=.*twitter:card": every start, no end
    "chain-two-of-three": b"<span style=color:red;" * 90_000,
    "utf8-dot": b"You don't have permission to access " * 58_000,
    "long-continuation": (b"You don\xc3" + b"\x80" * 1000 + b"t have") * 1_900,
    "one-byte": b"a" * 2_000_000,
    "angle": b"<" * 2_000_000,
    "many-hits": b"<title>Access Denied</title>\n" * 70_000,
    "url": b"URL " * 500_000,
}


@pytest.mark.timeout(300)  # a catastrophic (quadratic) case would take hours, not seconds
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_two_megabyte_bodies_match_the_same(
    both: tuple[FingerprintDB, FingerprintDB], name: str
) -> None:
    fast, portable = both
    body = ADVERSARIAL[name] + b"\n<p>FortiGuard Web Filtering</p>"
    assert len(body) >= 1_900_000
    headers = {"Server": "nginx", "Location": body[:5000].decode("latin-1")}
    found = _names(portable, body, headers)
    assert found == _names(fast, body, headers)
    assert "cp.a_prod_fortinet_1" in found


# Hand-made signatures covering every way the portable matcher matches: literals (overlapping, prefixes
# of one another), anchored literals, chains with fixed and variable segments, case-insensitive chains,
# alternations, classes, end anchors and Hyperscan's ``\z``.
_SIGNATURES = [
    ("contains", "abc"),
    ("contains", "bcd"),
    ("contains", "ab"),
    ("contains", "abcde"),
    ("contains", "c\nd"),
    ("prefix", "ab"),
    ("full", "abc"),
    ("regexp", "a.*b.*c"),
    ("regexp", "ab.*cd"),
    ("regexp", "a.c"),
    ("regexp", "b.*a.d"),
    ("regexp", "(?i)AB.*DC"),
    ("regexp", "(ab|abc)d.*e"),
    ("regexp", "[bc]+d"),
    ("regexp", "d$"),
    ("regexp", "e\\Z"),
    ("regexp", "ca?b"),
    ("regexp", "é.*x"),
]


def _db(matcher: str) -> FingerprintDB:
    fps = tuple(
        Fingerprint(f"s{i}", "isp", "body", PatternType(kind), pattern)
        for i, (kind, pattern) in enumerate(_SIGNATURES)
    )
    return FingerprintDB(fps, matcher=matcher)  # type: ignore[arg-type]


_FAST, _PORTABLE = _db("hyperscan"), _db("portable")
_PIECES = ["a", "b", "c", "d", "e", "x", "A", "D", "C", "\n", "é", "\u2019", "ab", "cd", "abc"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_hand_made_signatures_match_the_same_on_generated_bodies(body: str) -> None:
    assert _names(_PORTABLE, body, None) == _names(_FAST, body, None)
    data = body.encode()
    assert _names(_PORTABLE, data + b"\xc3\x80\x80\x80\x80x", None) == _names(
        _FAST, data + b"\xc3\x80\x80\x80\x80x", None
    )


def test_both_refuse_the_same_expressions() -> None:
    refused = [b"a*", b"(?:)", b"\\A", b"(a)\\1", b"(?=a)b", b"(?<=a)b", b"(?>ab)c", b"(unclosed", b"x?"]
    accepted = [b"a", b"a+", b"\\Aab\\z", b"a.*b", b"[ab]c", b"(?i)ab"]
    assert not any(usable(e) for e in refused)
    assert all(usable(e) for e in accepted)
    assert PortableMatcher(refused + accepted).refused == list(range(len(refused)))
    fps = tuple(
        Fingerprint(f"r{i}", "isp", "body", PatternType.REGEXP, e.decode())
        for i, e in enumerate(refused + accepted)
    )
    fast, portable = FingerprintDB(fps, matcher="hyperscan"), FingerprintDB(fps, matcher="portable")
    assert fast.problems == portable.problems
    assert len(portable.problems) == len(refused)


def test_a_pickled_set_keeps_its_matcher_and_its_matches(
    both: tuple[FingerprintDB, FingerprintDB],
) -> None:
    fast, portable = both
    body = "<p>Sorry, but the URL you are requesting is prohibited!</p>"
    for db in (fast, portable):
        copy = pickle.loads(pickle.dumps(db))
        assert copy.matcher == db.matcher and copy.id == db.id
        assert _names(copy, body, None) == _names(db, body, None) == ["cp.f_gen_blocked_23"]
