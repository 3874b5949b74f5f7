"""The methodology: what is scored, out of how many points, on which scale, and how evidence is read.

A methodology is data (a TOML file, see docs/methodology.md), validated here with errors that name the file
and the problem.  Two scale directions exist: ``0-best`` (Freedom on the Net editions up to 2018: 0 is the
freest) and ``100-best`` (editions from 2019).  Converting a score between them is exact: the value on one
scale is the maximum minus the value on the other, per indicator, per category and for the total.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from netfreedom.errors import ConfigError
from netfreedom.models.event import EventKind

TOTAL_MAX = 100
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Scale(StrEnum):
    ZERO_BEST = "0-best"  # legacy: 0 = most free
    HUNDRED_BEST = "100-best"  # current: 100 = most free

    def other(self) -> Scale:
        return Scale.HUNDRED_BEST if self is Scale.ZERO_BEST else Scale.ZERO_BEST


class Measure(StrEnum):
    """What kind of evidence an indicator is checked against (computed by the ``evidence`` package)."""

    URL_BLOCKING = "url_blocking"  # share of tested URLs in given Citizen Lab categories found blocked
    TEST_BLOCKING = "test_blocking"  # share of given tests (messaging apps, circumvention tools) blocked
    EVENTS = "events"  # curated shutdown / throttling / service-blocking events in the coverage period


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    max: int


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    category: str
    max: int
    question: str
    guidance: str = ""


@dataclass(frozen=True, slots=True)
class StatusBand:
    """A status (Free, Partly Free, Not Free) and the inclusive range of rounded totals that earn it."""

    name: str
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class EvidenceRule:
    """How an indicator (or, when only category scores exist, its category) is checked against evidence.

    ``little_restriction`` and ``heavy_restriction`` are fractions of the indicator's points read as
    restriction (0 = none, 1 = the most), whatever the scale.  A score claiming little restriction while
    at least ``contradicts_at`` of the tested items show confirmed blocking raises a flag; so does a score
    claiming heavy restriction when at least ``min_tested`` items were tested and none was blocked.
    """

    indicator: str
    measure: Measure
    categories: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    little_restriction: float = 0.2
    heavy_restriction: float = 0.5
    contradicts_at: float = 0.05
    min_tested: int = 5
    basis: str = "confirmed"  # which share contradicts a low score: "confirmed" or any "blocked"
    kinds: tuple[str, ...] = ()  # events rules: the event kinds that count
    min_events: int = 1  # events rules: curated events on record that contradict a low score


@dataclass(frozen=True, slots=True)
class Review:
    """Change from last year above these many points, with no justification, raises a flag."""

    indicator_change: float = 2
    category_change: float = 3


@dataclass(frozen=True, slots=True)
class Uncertainty:
    draws: int = 2000
    seed: int = 20180601
    level: float = 0.9  # central share of simulated outcomes reported as the interval


@dataclass(frozen=True)
class Methodology:
    id: str
    version: str
    name: str
    scale: Scale
    categories: tuple[Category, ...]
    indicators: tuple[Indicator, ...]
    status: tuple[StatusBand, ...]
    decimals: int = 0
    evidence: tuple[EvidenceRule, ...] = ()
    review: Review = field(default_factory=Review)
    uncertainty: Uncertainty = field(default_factory=Uncertainty)
    coverage_start_month: int = 1  # edition Y covers this month of Y-1 .. the month before in Y (1 = year Y)
    source: str = ""  # file or shipped id it came from

    @property
    def total_max(self) -> int:
        return sum(c.max for c in self.categories)

    def category(self, code: str) -> Category:
        for cat in self.categories:
            if cat.code == code:
                return cat
        raise KeyError(code)

    def indicator(self, code: str) -> Indicator:
        for ind in self.indicators:
            if ind.code == code:
                return ind
        raise KeyError(code)

    def indicators_of(self, category: str) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.category == category)

    def category_of(self, code: str) -> str:
        """The category an indicator belongs to; a category code is its own category."""
        if any(c.code == code for c in self.categories):
            return code
        return self.indicator(code).category

    def coverage(self, year: int) -> tuple[dt.date, dt.date]:
        """The period whose measurements are evidence for edition ``year``: [start, end)."""
        if self.coverage_start_month == 1:
            return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
        return dt.date(year - 1, self.coverage_start_month, 1), dt.date(year, self.coverage_start_month, 1)

    def max_of(self, code: str) -> int:
        """Maximum points of an indicator or a category code."""
        for ind in self.indicators:
            if ind.code == code:
                return ind.max
        return self.category(code).max

    def round(self, value: float) -> float:
        """Round to ``decimals``, a tie going toward less freedom: up on ``0-best``, down on ``100-best``.

        Python's half-to-even would round 0.5 and 1.5 differently; and a tie rule tied to the number (half
        up) would round 0.5 on one scale and 99.5 on the other to values that no longer sum to 100.  Ties
        toward restriction on both scales keep the conversion exact after rounding.
        """
        factor = 10.0**self.decimals
        if self.scale is Scale.ZERO_BEST:
            return math.floor(value * factor + 0.5) / factor
        return math.ceil(value * factor - 0.5) / factor

    def status_for(self, total: float) -> str:
        rounded = self.round(total)
        for band in self.status:
            if band.min <= rounded <= band.max:
                return band.name
        raise ValueError(f"total {total} outside every status band of {self.id}")

    def better(self, a: float, b: float) -> bool:
        """Is total ``a`` freer than ``b`` on this methodology's scale?"""
        return a < b if self.scale is Scale.ZERO_BEST else a > b

    def restriction(self, value: float, maximum: float) -> float:
        """``value`` (on this scale) as a fraction of restriction: 0 = none, 1 = the most."""
        frac = value / maximum if maximum else 0.0
        return frac if self.scale is Scale.ZERO_BEST else 1.0 - frac


def convert(value: float, maximum: float, src: Scale, dst: Scale) -> float:
    """Exact conversion of a score between scale directions: the value on one is max − the other."""
    return value if src is dst else maximum - value


def _require(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, file: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: missing required key {key!r}", file=file)
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: {key!r} must be a {names}, not {value!r}", file=file)
    return value


def _check_code(code: str, where: str, file: str) -> None:
    if not _CODE.match(code):
        raise ConfigError(f"{where}: code {code!r} must be upper-case letters and digits", file=file)


def _parse_rule(raw: Any, where: str, file: str) -> EvidenceRule:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table", file=file)
    indicator = _require(raw, "indicator", str, where, file)
    measure_name = _require(raw, "measure", str, where, file)
    try:
        measure = Measure(measure_name)
    except ValueError as exc:
        known = ", ".join(m.value for m in Measure)
        raise ConfigError(f"{where}: unknown measure {measure_name!r} (known: {known})", file=file) from exc
    kwargs: dict[str, Any] = {}
    for key in ("little_restriction", "heavy_restriction", "contradicts_at"):
        if key in raw:
            value = float(_require(raw, key, (int, float), where, file))
            if value < 0 or value > 1:
                raise ConfigError(f"{where}: {key} must be between 0 and 1", file=file)
            kwargs[key] = value
    if "min_tested" in raw:
        kwargs["min_tested"] = int(_require(raw, "min_tested", int, where, file))
    if "min_events" in raw:
        kwargs["min_events"] = int(_require(raw, "min_events", int, where, file))
        if kwargs["min_events"] < 1:
            raise ConfigError(f"{where}: min_events must be at least 1", file=file)
    if "basis" in raw:
        basis = _require(raw, "basis", str, where, file)
        if basis not in ("confirmed", "blocked"):
            raise ConfigError(f"{where}: basis must be 'confirmed' or 'blocked', not {basis!r}", file=file)
        kwargs["basis"] = basis
    lists = {k: tuple(str(x) for x in raw.get(k, ())) for k in ("categories", "tests")}
    if measure is Measure.URL_BLOCKING and not lists["categories"]:
        raise ConfigError(f"{where}: measure url_blocking needs a list of categories", file=file)
    if measure is Measure.TEST_BLOCKING and not lists["tests"]:
        raise ConfigError(f"{where}: measure test_blocking needs a list of tests", file=file)
    kinds = tuple(str(x) for x in raw.get("kinds", ()))
    if measure is Measure.EVENTS:
        kind_names = [k.value for k in EventKind]
        if not kinds or any(k not in kind_names for k in kinds):
            raise ConfigError(f"{where}: measure events needs kinds among {', '.join(kind_names)}", file=file)
        kwargs["kinds"] = kinds
    return EvidenceRule(indicator, measure, lists["categories"], lists["tests"], **kwargs)


def parse_methodology(data: Mapping[str, Any], file: str) -> Methodology:
    """Build and validate a methodology from its decoded TOML table."""
    mid = _require(data, "id", str, "methodology", file)
    version = str(_require(data, "version", (str, int), "methodology", file))
    try:
        scale = Scale(_require(data, "scale", str, "methodology", file))
    except ValueError as exc:
        raise ConfigError(f"scale must be '0-best' or '100-best', not {data['scale']!r}", file=file) from exc
    decimals = int(data.get("rounding", {}).get("decimals", 0))
    if not 0 <= decimals <= 3:
        raise ConfigError("rounding.decimals must be between 0 and 3", file=file)

    categories: list[Category] = []
    for n, raw in enumerate(_require(data, "categories", list, "methodology", file), 1):
        where = f"categories #{n}"
        cat = Category(
            _require(raw, "code", str, where, file),
            _require(raw, "name", str, where, file),
            _require(raw, "max", int, where, file),
        )
        _check_code(cat.code, where, file)
        if cat.max <= 0:
            raise ConfigError(f"{where}: max must be positive", file=file)
        if any(c.code == cat.code for c in categories):
            raise ConfigError(f"{where}: duplicate category {cat.code}", file=file)
        categories.append(cat)
    total = sum(c.max for c in categories)
    if total != TOTAL_MAX:
        raise ConfigError(f"category maxima sum to {total}, not {TOTAL_MAX}", file=file)

    indicators: list[Indicator] = []
    for n, raw in enumerate(_require(data, "indicators", list, "methodology", file), 1):
        where = f"indicators #{n}"
        ind = Indicator(
            _require(raw, "code", str, where, file),
            _require(raw, "category", str, where, file),
            _require(raw, "max", int, where, file),
            _require(raw, "question", str, where, file).strip(),
            str(raw.get("guidance", "")).strip(),
        )
        _check_code(ind.code, where, file)
        if ind.max <= 0:
            raise ConfigError(f"{where} ({ind.code}): max must be positive", file=file)
        if not any(c.code == ind.category for c in categories):
            raise ConfigError(f"{where} ({ind.code}): unknown category {ind.category!r}", file=file)
        if any(i.code == ind.code for i in indicators) or any(c.code == ind.code for c in categories):
            raise ConfigError(f"{where}: duplicate code {ind.code}", file=file)
        indicators.append(ind)
    for cat in categories:
        points = sum(i.max for i in indicators if i.category == cat.code)
        if points != cat.max:
            raise ConfigError(
                f"indicators of category {cat.code} sum to {points} points, not its max {cat.max}", file=file
            )

    bands = []
    for n, raw in enumerate(_require(data, "status", list, "methodology", file), 1):
        where = f"status #{n}"
        band = StatusBand(
            _require(raw, "name", str, where, file),
            float(_require(raw, "min", (int, float), where, file)),
            float(_require(raw, "max", (int, float), where, file)),
        )
        if band.min > band.max:
            raise ConfigError(f"{where} ({band.name}): min {band.min} is above max {band.max}", file=file)
        bands.append(band)
    _check_bands(sorted(bands, key=lambda b: b.min), decimals, file)

    codes = {i.code for i in indicators} | {c.code for c in categories}
    rules = []
    for n, raw in enumerate(data.get("evidence", []), 1):
        rule = _parse_rule(raw, f"evidence #{n}", file)
        if rule.indicator not in codes:
            raise ConfigError(f"evidence #{n}: unknown indicator {rule.indicator!r}", file=file)
        rules.append(rule)

    review_raw = data.get("review", {})
    review = Review(
        float(review_raw.get("indicator_change", 2)),
        float(review_raw.get("category_change", 3)),
    )
    unc_raw = data.get("uncertainty", {})
    unc = Uncertainty(
        int(unc_raw.get("draws", 2000)),
        int(unc_raw.get("seed", 20180601)),
        float(unc_raw.get("level", 0.9)),
    )
    if unc.draws < 1 or not 0 < unc.level < 1:
        raise ConfigError("uncertainty: draws must be ≥ 1 and level between 0 and 1", file=file)
    start_month = data.get("coverage", {}).get("start_month", 1)
    if not isinstance(start_month, int) or not 1 <= start_month <= 12:
        raise ConfigError("coverage.start_month must be a month number 1–12", file=file)
    return Methodology(
        id=mid,
        version=version,
        name=str(data.get("name", mid)),
        scale=scale,
        categories=tuple(categories),
        indicators=tuple(indicators),
        status=tuple(bands),
        decimals=decimals,
        evidence=tuple(rules),
        review=review,
        uncertainty=unc,
        coverage_start_month=start_month,
        source=file,
    )


def _check_bands(bands: list[StatusBand], decimals: int, file: str) -> None:
    """The bands must cover 0..100 at the rounding step, with no gap and no overlap."""
    step = 10**-decimals
    if not bands:
        raise ConfigError("no status bands", file=file)
    if bands[0].min != 0 or bands[-1].max != TOTAL_MAX:
        raise ConfigError(f"status bands must cover 0 to {TOTAL_MAX}", file=file)
    for a, b in itertools.pairwise(bands):
        gap = round(b.min - a.max, 6)
        if gap <= 0:
            raise ConfigError(f"status bands {a.name} and {b.name} overlap", file=file)
        if gap > step:
            raise ConfigError(f"status bands {a.name} and {b.name} leave a gap", file=file)


# --- loading -------------------------------------------------------------------------------------------


def shipped() -> list[str]:
    """Ids of the methodologies shipped with netfreedom."""
    folder = resources.files("netfreedom.index") / "methodologies"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc


def _load_table(ref: str | Path, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    path = Path(ref)
    if path.suffix == ".toml" or path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read methodology: {exc.strerror}", file=str(path)) from exc
        file = str(path)
    else:
        name = str(ref)
        if name not in shipped():
            raise ConfigError(
                f"no methodology file or shipped id {name!r} (shipped: {', '.join(shipped())})", file=name
            )
        resource = resources.files("netfreedom.index") / "methodologies" / f"{name}.toml"
        text = resource.read_text(encoding="utf-8")
        file = f"{name} (shipped)"
    data = _read_toml(text, file)
    base = data.pop("extends", None)
    if base is None:
        return data, file
    if not isinstance(base, str):
        raise ConfigError("'extends' must name a shipped methodology or a file", file=file)
    if base in seen:
        raise ConfigError(f"'extends' loops back to {base!r}", file=file)
    if not base.endswith(".toml") or Path(base).is_absolute():
        target: str | Path = base
    else:
        target = path.parent / base
    parent, _ = _load_table(target, (*seen, base))
    # A derived methodology replaces whole top-level keys (status bands, scale, ...), never merges lists.
    parent.update(data)
    return parent, file


def load_methodology(ref: str | Path) -> Methodology:
    """Load a methodology from a TOML file or a shipped id (``fotn``, ``fotn-legacy``)."""
    data, file = _load_table(ref)
    return parse_methodology(data, file)
