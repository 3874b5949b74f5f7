"""Country names as index publishers and event lists write them → ISO 3166 alpha-2 codes (pycountry, plus
the names it does not know: "Turkey" since its renaming, "Russia", "Iran (Islamic Republic of)",
"DemocraticRepublicCongo", "Somaliland", ...)."""

from __future__ import annotations

import functools
import re
import unicodedata

import pycountry

# Names used by index publishers and event lists that pycountry's lookup does not resolve (or resolves
# ambiguously).  Keys are folded (see ``_fold``); a second table below matches them with spaces removed.
EXTRA_NAMES: dict[str, str] = {
    "russia": "RU",
    "turkey": "TR",
    "turkiye": "TR",
    "the gambia": "GM",
    "gambia, the": "GM",
    "the netherlands": "NL",
    "kyrgyz republic": "KG",
    "republic of korea": "KR",
    "korea, south": "KR",
    "korea, north": "KP",
    "the bahamas": "BS",
    "burma": "MM",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "north korea": "KP",
    "south korea": "KR",
    "laos": "LA",
    "kosovo": "XK",
    "palestine": "PS",
    "the philippines": "PH",
    "democratic republic of the congo": "CD",
    "democratic republic of congo": "CD",
    "democratic republic congo": "CD",
    "dr congo": "CD",
    "drc": "CD",
    "congo-kinshasa": "CD",
    "republic of the congo": "CG",
    "congo-brazzaville": "CG",
    "eswatini": "SZ",
    "swaziland": "SZ",
    "uae": "AE",
    "uk": "GB",
    "usa": "US",
    "united states of america": "US",
    "macedonia": "MK",
    "cape verde": "CV",
    "brunei": "BN",
    "east timor": "TL",
    "vatican": "VA",
    # Self-declared states that ISO 3166 counts as part of another country.
    "somaliland": "SO",
    "transnistria": "MD",
    "abkhazia": "GE",
    "northern cyprus": "CY",
}
_SQUEEZED = {re.sub(r"[^a-z]", "", k): v for k, v in EXTRA_NAMES.items()}


def _fold(name: str) -> str:
    # the typographic apostrophe first: NFKD keeps it, and the ASCII pass would drop it
    text = unicodedata.normalize("NFKD", name.replace("’", "'")).encode("ascii", "ignore").decode()
    return " ".join(text.lower().split())


def _lookup(name: str) -> str | None:
    try:
        return str(pycountry.countries.lookup(name).alpha_2)
    except LookupError:
        return None


@functools.cache
def iso2_of(name: str) -> str | None:
    """The alpha-2 code for a country name (or an alpha-2/alpha-3 code); None when unknown.

    Tried in order: the alias table; pycountry's lookup; ``X (Y)`` read as pycountry's ``X, Y``; the
    alias table with spaces and punctuation removed ("SriLanka", "DemocraticRepublicCongo")."""
    folded = _fold(name)
    if not folded:
        return None
    if folded in EXTRA_NAMES:
        return EXTRA_NAMES[folded]
    found = _lookup(name.strip())
    if found is None:
        m = re.fullmatch(r"(.+?)\s*\((.+)\)", name.strip())
        if m:
            found = _lookup(f"{m.group(1)}, {m.group(2)}") or iso2_of(m.group(1))
    if found is None:
        squeezed = re.sub(r"[^a-z]", "", folded)
        found = _SQUEEZED.get(squeezed) or _squeezed_names().get(squeezed)
    return found


@functools.cache
def _squeezed_names() -> dict[str, str]:
    out: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value:
                out.setdefault(re.sub(r"[^a-z]", "", _fold(value)), str(c.alpha_2))
    return out


def is_iso2(code: str) -> bool:
    return code.upper() == "XK" or pycountry.countries.get(alpha_2=code.upper()) is not None


def name_of(iso2: str) -> str:
    """A short English name for display (pycountry's common name when it has one)."""
    if iso2.upper() == "XK":
        return "Kosovo"
    country = pycountry.countries.get(alpha_2=iso2.upper())
    if country is None:
        return iso2.upper()
    return str(getattr(country, "common_name", None) or country.name)
