"""IP → ASN from a local iptoasn.com TSV file, for the control's ``ip_info.*.asn`` (OONI's uses an MMDB).

The file is iptoasn's ``ip2asn-v4.tsv``, ``ip2asn-v6.tsv`` or ``ip2asn-combined.tsv`` (optionally gzipped):
one range a line, ``range_start<TAB>range_end<TAB>AS_number<TAB>country_code<TAB>AS_description``.  AS 0
("Not routed") stays 0, as OONI reports an unknown ASN.  Lines that are not such a range are counted with
their line numbers, never fatal.  Lookups are a binary search over the sorted ranges.
"""

from __future__ import annotations

import bisect
import gzip
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from netfreedom.errors import InputError


@dataclass
class AsnDatabase:
    path: Path
    _starts: dict[int, list[int]] = field(default_factory=lambda: {4: [], 6: []})
    _ranges: dict[int, list[tuple[int, int, int]]] = field(default_factory=lambda: {4: [], 6: []})
    bad_lines: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(r) for r in self._ranges.values())

    def asn(self, ip: str) -> int:
        """The AS number announcing ``ip``; 0 when unknown (or not an IP)."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return 0
        value, ranges = int(address), self._ranges[address.version]
        at = bisect.bisect_right(self._starts[address.version], value) - 1
        if at >= 0 and ranges[at][0] <= value <= ranges[at][1]:
            return ranges[at][2]
        return 0


def load(path: Path) -> AsnDatabase:
    """Read an iptoasn TSV file; InputError when it cannot be read or holds no range at all."""
    db = AsnDatabase(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                parsed = _range(line)
                if parsed is None:
                    if line.strip():
                        db.bad_lines.append(number)
                    continue
                version, start, end, asn = parsed
                db._ranges[version].append((start, end, asn))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read the ASN database: {exc}") from exc
    if not db.size:
        raise InputError(f"{path}: no IP range in it (expected iptoasn's TSV: start, end, AS number, ...)")
    for version, ranges in db._ranges.items():
        ranges.sort()
        db._starts[version] = [r[0] for r in ranges]
    return db


def _range(line: str) -> tuple[int, int, int, int] | None:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 3 or not fields[2].isdigit():
        return None
    try:
        start, end = ipaddress.ip_address(fields[0]), ipaddress.ip_address(fields[1])
    except ValueError:
        return None
    if start.version != end.version or int(start) > int(end):
        return None
    return start.version, int(start), int(end), int(fields[2])
