"""Blockpage fingerprints: OONI's blocking-fingerprints and Censored Planet's signatures, compiled once.

Sources (parsed here from bytes; :mod:`.fingerprint_sources` fetches them):

- OONI ``fingerprints_dns.csv`` — an answer (IP, or a CNAME's hostname) equal to ``pattern``;
- OONI ``fingerprints_http.csv`` — ``body`` or ``header.<name>`` with ``contains``/``prefix``/``full``/
  ``regexp``; scope ``fp`` rows are known false positives;
- Censored Planet ``blockpage_signatures.json`` and ``false_positive_signatures.json`` — JSON lines
  ``{"fingerprint", "pattern"}`` of Python-syntax regexes, matched against the body and the header block
  (``Name: value`` lines), as Censored Planet matches a whole HTTP response.

Matching never loops over patterns in Python.  Every location (the body, each header name, the header
block) has ONE Hyperscan database holding all of its patterns — literals escaped, ``prefix`` anchored with
``\\A``, ``full`` with ``\\A…\\z`` — so one linear-time pass over the bytes reports every pattern that
occurs.  Automata also rule out catastrophic backtracking: Censored Planet's ``A.*B.*C`` signatures take
quadratic time in Python's ``re`` on adversarial bodies.  Measured on the shared web_connectivity bodies
(MB/s of body): pyahocorasick over the ``contains`` literals 10–30, an RE2 set over all body patterns
85–140, Hyperscan over all body patterns ~800.  Hyperscan scans bytes; a lone ``.`` in a signature is
rewritten to match one UTF-8 character (a lead byte and at most three continuation bytes), as it did on
text.

Where Hyperscan cannot be imported (no wheel for the platform) the same expressions go to the portable
matcher (:mod:`._portable`: Python's ``re``, one trie regex for the literals, ``A.*B`` signatures matched
as linear chains), which gives the same matches; ``FingerprintDB(..., matcher="portable")`` asks for it
anywhere and ``NETFREEDOM_MATCHER=portable`` makes it the default.  ``bench/analyze.py`` prints both rates.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, cast

import orjson

from netfreedom.analysis._portable import PortableMatcher, usable
from netfreedom.models.verdict import Layer, Reason

_hyperscan: Any
try:
    import hyperscan as _hyperscan
except ImportError:  # no wheel for this platform: the portable matcher gives the same matches
    _hyperscan = None

Matcher = Literal["hyperscan", "portable"]


def default_matcher() -> Matcher:
    """Hyperscan when it can be imported, unless ``NETFREEDOM_MATCHER=portable`` asks for the other."""
    if _hyperscan is None or os.environ.get("NETFREEDOM_MATCHER") == "portable":
        return "portable"
    return "hyperscan"


__all__ = [
    "CONFIRMING_SCOPES",
    "Finding",
    "Fingerprint",
    "FingerprintDB",
    "Matcher",
    "PatternType",
    "default_matcher",
    "parse_cp_signatures",
    "parse_ooni_csv",
]

CONFIRMING_SCOPES = frozenset({"isp", "nat"})
"""Scopes whose match confirms blocking in any country (a national or ISP filter, not a product)."""

# Censored Planet names start with a letter saying who serves the page; OONI's importer maps them so.
_CP_SCOPES = {"a": "prod", "b": "nat", "c": "isp", "d": "inst", "e": "nat", "f": "vbw"}
# Which blockpage to report when several match: the most specific deployment first.
_SCOPE_RANK = {"nat": 0, "isp": 1, "inst": 2, "prod": 3, "vbw": 4}


class PatternType(StrEnum):
    CONTAINS = "contains"
    PREFIX = "prefix"
    FULL = "full"
    REGEXP = "regexp"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One signature.  ``location`` is ``dns``, ``body``, ``header.<name>`` (lower-case) or ``page``
    (a Censored Planet signature: the body and the header block)."""

    name: str
    scope: str
    location: str
    pattern_type: PatternType
    pattern: str
    expected_countries: frozenset[str] = frozenset()
    source: str = "ooni"

    @property
    def is_false_positive(self) -> bool:
        return self.scope == "fp"

    def confirms(self, probe_cc: str | None) -> bool:
        """A blockpage match is confirmed blocking in ``probe_cc`` (``ZZ`` never is an expected country)."""
        if self.is_false_positive:
            return False
        return self.scope in CONFIRMING_SCOPES or (probe_cc or "ZZ").upper() in self.expected_countries

    @property
    def false_positive_reason(self) -> Reason:
        """What a false-positive page is: a CDN challenge, the site's own geo-block, or another known page."""
        text = f"{self.name} {self.pattern}".lower()
        if any(w in text for w in ("cloudflare", "captcha", "challenge", "incapsula", "ddos", "akamai")):
            return Reason.CDN_CHALLENGE
        if any(w in text for w in ("geo", "regional", "your country", "your region")):
            return Reason.GEO_BLOCK
        return Reason.FALSE_POSITIVE

    def _key(self) -> tuple[str, ...]:
        countries = ",".join(sorted(self.expected_countries))
        return (self.name, self.scope, self.location, self.pattern_type.value, self.pattern, countries)


@dataclass(frozen=True, slots=True)
class Finding:
    """What fingerprints say about one measurement.  ``blockpage`` is None when a false positive won."""

    blockpage: Fingerprint | None = None
    confirmed: bool = False
    false_positive: Fingerprint | None = None

    @property
    def layer(self) -> Layer | None:
        if self.blockpage is None:
            return None
        return Layer.DNS if self.blockpage.location == "dns" else Layer.HTTP


NOTHING = Finding()


def _countries(text: str) -> frozenset[str]:
    out = {c.strip().upper() for c in text.split(",")}
    return frozenset(c for c in out if len(c) == 2 and c != "ZZ")


def parse_ooni_csv(data: bytes, origin: str = "fingerprints.csv") -> tuple[list[Fingerprint], list[str]]:
    """Rows of an OONI fingerprints CSV (DNS or HTTP).  Unusable rows are returned as problems, not raised."""
    fingerprints: list[Fingerprint] = []
    problems: list[str] = []
    text = data.decode("utf-8-sig", errors="replace")
    for number, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
        name = (row.get("name") or "").strip()
        location = (row.get("location_found") or "").strip().lower()
        pattern = row.get("pattern") or ""
        try:
            kind = PatternType((row.get("pattern_type") or "").strip().lower())
        except ValueError:
            problems.append(f"{origin}:{number}: unknown pattern_type {row.get('pattern_type')!r}")
            continue
        if not name or not pattern:
            problems.append(f"{origin}:{number}: empty name or pattern")
            continue
        if location not in ("dns", "body") and not location.startswith("header."):
            problems.append(f"{origin}:{number}: unknown location_found {location!r}")
            continue
        fingerprints.append(
            Fingerprint(
                name=name,
                scope=(row.get("scope") or "").strip().lower(),
                location=location,
                pattern_type=kind,
                pattern=pattern.strip() if location == "dns" else pattern,
                expected_countries=_countries(row.get("expected_countries") or ""),
                source=(row.get("source") or "ooni").strip() or "ooni",
            )
        )
    return fingerprints, problems


def parse_cp_signatures(
    data: bytes, *, false_positive: bool, origin: str = "signatures.json"
) -> tuple[list[Fingerprint], list[str]]:
    """Censored Planet JSON-lines signatures; names get OONI's ``cp.`` prefix."""
    fingerprints: list[Fingerprint] = []
    problems: list[str] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            name, pattern = row["fingerprint"], row["pattern"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            problems.append(f"{origin}:{number}: not a {{fingerprint, pattern}} JSON object")
            continue
        if not isinstance(name, str) or not isinstance(pattern, str) or not name or not pattern:
            problems.append(f"{origin}:{number}: empty or non-text fingerprint/pattern")
            continue
        scope = "fp" if false_positive else _CP_SCOPES.get(name[:1].lower(), "vbw")
        # OONI imports false-positive signatures as ``cp.fp_<name>``; naming them alike dedupes them
        name = ("fp_" + name) if false_positive else name
        fingerprints.append(
            Fingerprint(
                name="cp." + name,
                scope=scope,
                location="page",
                pattern_type=PatternType.REGEXP,
                pattern=pattern,
                source="censored planet",
            )
        )
    return fingerprints, problems


# One UTF-8 character (ASCII but newline, or a lead byte and its continuation bytes): what ``.`` means in
# the signatures' Python syntax, for Hyperscan scanning raw bytes.
_UTF8_CHAR = r"(?:[\x00-\x09\x0b-\x7f]|[\xc0-\xff][\x80-\xbf]{0,3})"


def _bytes_regex(pattern: str) -> str:
    """A Python-syntax regex for byte scanning: a lone ``.`` (not ``.*``/``.+``) matches one UTF-8
    character, as it did on text; runs match the same spans either way."""
    out: list[str] = []
    escaped = in_class = False
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "." and pattern[i + 1 : i + 2] not in ("*", "+"):
            out.append(_UTF8_CHAR)
            continue
        out.append(ch)
    return "".join(out)


def _regex(fp: Fingerprint) -> str:
    if fp.pattern_type is PatternType.REGEXP:
        return _bytes_regex(fp.pattern)
    literal = re.escape(fp.pattern)
    if fp.pattern_type is PatternType.PREFIX:
        return r"\A" + literal
    if fp.pattern_type is PatternType.FULL:
        return r"\A" + literal + r"\z"
    return literal


def _compile(expressions: list[bytes]) -> Any:
    hs = _hyperscan
    database = hs.Database(mode=hs.HS_MODE_BLOCK)
    # no HS_FLAG_ALLOWEMPTY: a pattern matching the empty string would match every page; both refuse it
    database.compile(
        expressions=expressions,
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=[hs.HS_FLAG_SINGLEMATCH] * len(expressions),
    )
    return database


class _NotLoaded(Exception):
    """A pickled pattern set cannot be used here as it is (no serialised database, or no Hyperscan)."""


class _PatternSet:
    """All patterns of one location in one Hyperscan database (or one portable matcher); ``match``
    returns the indices of the fingerprints whose pattern occurs, from one pass over the bytes."""

    def __init__(self) -> None:
        self._expressions: list[bytes] = []
        self._owners: list[list[int]] = []
        self._slot: dict[bytes, int] = {}
        self._database: Any = None
        self._portable: PortableMatcher | None = None
        self._local = threading.local()  # Hyperscan scratch space is per thread

    def add(self, regex: str, owner: int) -> None:
        expression = regex.encode("utf-8", "surrogatepass")
        slot = self._slot.get(expression)
        if slot is None:
            slot = self._slot[expression] = len(self._expressions)
            self._expressions.append(expression)
            self._owners.append([])
        self._owners[slot].append(owner)

    def _keep(self, good: list[int]) -> list[int]:
        """Keep the expressions at ``good``; returns the owners of the others."""
        kept = set(good)
        refused = [o for s in range(len(self._expressions)) if s not in kept for o in self._owners[s]]
        self._expressions = [self._expressions[s] for s in good]
        self._owners = [self._owners[s] for s in good]
        return refused

    def compile(self, matcher: Matcher) -> list[int]:
        """Compile; returns the owners of patterns refused (left out).  Both matchers refuse what the
        portable one cannot take (``_portable.usable``) and Hyperscan whatever else it refuses."""
        if not self._expressions:
            return []
        refused = self._keep([s for s, e in enumerate(self._expressions) if usable(e)])
        if matcher == "portable":
            self._portable = PortableMatcher(self._expressions)  # refuses nothing ``usable``
            return refused
        if not self._expressions:
            return refused
        try:
            self._database = _compile(self._expressions)
            return refused
        except _hyperscan.error:
            pass
        # Hyperscan does not say which expression failed: find them one by one (only on bad input)
        good: list[int] = []
        for slot, expression in enumerate(self._expressions):
            try:
                _compile([expression])
                good.append(slot)
            except _hyperscan.error:
                pass
        refused += self._keep(good)
        self._database = _compile(self._expressions) if self._expressions else None
        return refused

    def dump(self) -> _SetState:
        """The compiled set, for pickling: its expressions, their owners and the serialised Hyperscan
        database (None for the portable matcher, which is rebuilt where it is loaded)."""
        database = _hyperscan.dumpb(self._database) if self._database is not None else None
        return (tuple(self._expressions), tuple(tuple(o) for o in self._owners), database)

    @classmethod
    def load(cls, state: _SetState) -> _PatternSet:
        """A set from ``dump``; raises ``_NotLoaded`` when there is no database to load or no Hyperscan
        here, and a Hyperscan error when this CPU cannot run the database (a cluster of mixed machines):
        the caller compiles instead."""
        expressions, owners, database = state
        pattern_set = cls()
        pattern_set._expressions = list(expressions)
        pattern_set._owners = [list(o) for o in owners]
        pattern_set._slot = {e: i for i, e in enumerate(expressions)}
        if expressions and (database is None or _hyperscan is None):
            raise _NotLoaded
        if database is not None:
            pattern_set._database = _hyperscan.loadb(database, _hyperscan.HS_MODE_BLOCK)
        return pattern_set

    def match(self, data: bytes) -> list[int]:
        if not data:
            return []
        if self._portable is not None:
            slots = self._portable.match(data)
        elif self._database is not None:
            scratch = getattr(self._local, "scratch", None)
            if scratch is None:
                scratch = self._local.scratch = _hyperscan.Scratch(self._database)
            slots = []
            self._database.scan(data, match_event_handler=_collect, context=slots, scratch=scratch)
        else:
            return []
        return [owner for slot in slots for owner in self._owners[slot]]


# A compiled pattern set as pickled: expressions, owners per expression, serialised Hyperscan database.
_SetState = tuple[tuple[bytes, ...], tuple[tuple[int, ...], ...], bytes | None]
# A compiled FingerprintDB as pickled: refused-pattern problems, then the body, block and header sets.
_Compiled = tuple[tuple[str, ...], _SetState, _SetState, dict[str, _SetState]]


def _collect(slot: int, start: int, end: int, flags: int, slots: object) -> None:
    cast("list[int]", slots).append(slot)


def _as_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    # surrogatepass: JSON may carry lone surrogates (``"\\ud800"``), which strict UTF-8 refuses
    return value.encode("utf-8", "surrogatepass")


def _dns_key(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _dns_pattern(value: str) -> str:
    # probes write IPv6 answers in the canonical compressed form; write the patterns so too
    text = _dns_key(value)
    if ":" in text:
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    return text


@dataclass
class FingerprintDB:
    """Compiled fingerprints.  ``id`` is a content hash: verdicts record it, and a store re-analyses its
    measurements when it changes.  The automata are compiled on first use (about a second), so a set
    that only needs its ``id`` costs nothing; a pickle of a compiled set carries the serialised automata.
    ``problems`` lists source rows that were skipped.  ``matcher`` is ``hyperscan`` or ``portable``
    (the same matches; default: ``default_matcher()``)."""

    fingerprints: tuple[Fingerprint, ...]
    load_problems: tuple[str, ...] = ()
    matcher: Matcher = field(default_factory=default_matcher)
    id: str = field(init=False)
    _refused: tuple[str, ...] | None = field(init=False, repr=False, default=None)
    _dns: dict[str, list[int]] = field(init=False, repr=False)
    _body: _PatternSet = field(init=False, repr=False)
    _block: _PatternSet = field(init=False, repr=False)
    _headers: dict[str, _PatternSet] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.matcher == "hyperscan" and _hyperscan is None:
            self.matcher = "portable"  # asked for where it cannot be imported (e.g. a pickle's setting)
        digest = hashlib.sha256()
        for key in sorted(fp._key() for fp in self.fingerprints):
            digest.update("\x1f".join(key).encode("utf-8", "surrogatepass") + b"\x1e")
        self.id = "fp-" + digest.hexdigest()[:16]
        self._dns = {}
        self._body = _PatternSet()
        self._block = _PatternSet()
        self._headers = {}
        for index, fp in enumerate(self.fingerprints):
            if fp.location == "dns":
                self._dns.setdefault(_dns_pattern(fp.pattern), []).append(index)
                continue
            targets: list[_PatternSet]
            if fp.location == "body":
                targets = [self._body]
            elif fp.location == "page":
                targets = [self._body, self._block]
            else:
                name = fp.location.removeprefix("header.")
                targets = [self._headers.setdefault(name, _PatternSet())]
            for target in targets:
                target.add(_regex(fp), index)

    def _compile(self) -> tuple[str, ...]:
        if self._refused is None:
            refused: dict[int, None] = {}
            for pattern_set in (self._body, self._block, *self._headers.values()):
                refused.update(dict.fromkeys(pattern_set.compile(self.matcher)))
            self._refused = tuple(f"{self.fingerprints[i].name}: pattern not usable" for i in refused)
        return self._refused

    @property
    def problems(self) -> tuple[str, ...]:
        """Source rows that were skipped (bad CSV/JSON rows, patterns the matcher refuses), with reasons."""
        return (*self.load_problems, *self._compile())

    def __reduce__(
        self,
    ) -> tuple[
        Callable[..., FingerprintDB],
        tuple[tuple[Fingerprint, ...], tuple[str, ...], _Compiled | None, Matcher],
    ]:
        # Pickle the compiled automata too, serialised: a Dask worker loads them in milliseconds instead of
        # compiling its own copy (about a second per worker, which a short run cannot amortise).
        compiled: _Compiled | None = None
        if self._refused is not None and self.matcher == "hyperscan":
            headers = {name: s.dump() for name, s in self._headers.items()}
            compiled = (self._refused, self._body.dump(), self._block.dump(), headers)
        return (_unpickle, (self.fingerprints, self.load_problems, compiled, self.matcher))

    def _load(self, compiled: _Compiled) -> None:
        """Take the automata from a pickle; left to compile on first use when this CPU cannot run them
        (or this machine has no Hyperscan: then the portable matcher is built instead)."""
        if self.matcher != "hyperscan":
            return
        refused, body, block, headers = compiled
        try:
            sets = (
                _PatternSet.load(body),
                _PatternSet.load(block),
                {n: _PatternSet.load(h) for n, h in headers.items()},
            )
        except (_NotLoaded, _hyperscan.error):
            return
        self._body, self._block, self._headers = sets
        self._refused = refused

    @classmethod
    def empty(cls) -> FingerprintDB:
        return cls(())

    def __len__(self) -> int:
        return len(self.fingerprints)

    def match_dns(self, answers: Iterable[str]) -> list[Fingerprint]:
        """Fingerprints equal to any DNS answer (IPv4, IPv6 or a CNAME hostname)."""
        out: list[Fingerprint] = []
        if not self._dns:
            return out
        for answer in answers:
            hit = self._dns.get(_dns_key(answer))
            if hit:
                out.extend(self.fingerprints[i] for i in hit)
        return out

    def match_page(self, body: str | bytes | None, headers: Mapping[str, str] | None) -> list[Fingerprint]:
        """Fingerprints matching one HTTP response: its body, each header, and the header block."""
        if self._refused is None:
            self._compile()
        found: list[int] = []
        if body:
            found.extend(self._body.match(_as_bytes(body)))
        if headers:
            lines = []
            for name, value in headers.items():
                text = value if isinstance(value, str) else ""
                lines.append(f"{name}: {text}")
                pattern_set = self._headers.get(name.lower())
                if pattern_set is not None:
                    found.extend(pattern_set.match(_as_bytes(text)))
            found.extend(self._block.match(_as_bytes("\r\n".join(lines))))
        return [self.fingerprints[i] for i in dict.fromkeys(found)]

    def judge(self, matches: Iterable[Fingerprint], probe_cc: str | None) -> Finding:
        """Combine a measurement's matches: a false positive on any page wins over HTTP blockpages (a
        DNS blockpage IP stands); among blockpages the confirmed, most specific one is reported."""
        blockpages: list[Fingerprint] = []
        false_positive: Fingerprint | None = None
        for fp in matches:
            if fp.is_false_positive:
                false_positive = false_positive or fp
            else:
                blockpages.append(fp)
        if false_positive is not None:
            blockpages = [fp for fp in blockpages if fp.location == "dns"]
        if not blockpages:
            return Finding(false_positive=false_positive) if false_positive else NOTHING
        best = min(
            blockpages,
            key=lambda fp: (
                not fp.confirms(probe_cc),
                _SCOPE_RANK.get(fp.scope, len(_SCOPE_RANK)),
                fp.location != "dns",
                fp.name,
            ),
        )
        return Finding(blockpage=best, confirmed=best.confirms(probe_cc), false_positive=false_positive)


def _unpickle(
    fingerprints: tuple[Fingerprint, ...],
    load_problems: tuple[str, ...],
    compiled: _Compiled | None,
    matcher: Matcher = "hyperscan",
) -> FingerprintDB:
    db = FingerprintDB(fingerprints, load_problems, matcher)
    if compiled is not None:
        db._load(compiled)
    return db
