"""Country names as index publishers write them → ISO 3166 alpha-2 codes (pycountry, plus a few names it
does not know, such as "Turkey" since its renaming, or "Russia")."""

from __future__ import annotations

import functools
import unicodedata

import pycountry

# Names used by index publishers that pycountry's lookup does not resolve (or resolves ambiguously).
EXTRA_NAMES: dict[str, str] = {
    "russia": "RU",
    "turkey": "TR",
    "the gambia": "GM",
    "burma": "MM",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "north korea": "KP",
    "laos": "LA",
    "kosovo": "XK",
    "palestine": "PS",
    "the philippines": "PH",
    "democratic republic of the congo": "CD",
    "drc": "CD",
    "republic of the congo": "CG",
    "eswatini": "SZ",
    "swaziland": "SZ",
    "uae": "AE",
    "uk": "GB",
    "usa": "US",
}


def _fold(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(text.replace("’", "'").lower().split())


@functools.cache
def iso2_of(name: str) -> str | None:
    """The alpha-2 code for a country name (or an alpha-2/alpha-3 code); None when unknown."""
    folded = _fold(name)
    if folded in EXTRA_NAMES:
        return EXTRA_NAMES[folded]
    try:
        country = pycountry.countries.lookup(name.strip())
    except LookupError:
        return None
    return str(country.alpha_2)


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
