"""Free-text fields of event lists → the closed vocabulary of ``models.event``: kind, scope, service and
network lists, source links.  Pure functions over strings; the rules are documented in docs/events.md."""

from __future__ import annotations

import re

from netfreedom.models.event import EventKind, EventScope

_NATIONAL_AREAS = frozenset(
    {
        "national",
        "nationwide",
        "nation wide",
        "entire country",
        "whole country",
        "countrywide",
        "country wide",
        "all country",
        "the whole country",
        "all regions",
    }
)
_YES = frozenset({"yes", "y", "true", "1", "x"})
_URL = re.compile(r"https?://[^\s,;<>\"']+", re.IGNORECASE)
# Platforms named in free-text service descriptions (CenAlert's "Blocking WhatsApp").
_PLATFORMS = (
    "Facebook",
    "Facebook Messenger",
    "Instagram",
    "WhatsApp",
    "Telegram",
    "Twitter",
    "TikTok",
    "YouTube",
    "Signal",
    "Viber",
    "Skype",
    "LinkedIn",
    "Wikipedia",
    "Tor",
    "Clubhouse",
    "Snapchat",
    "WeChat",
    "Zoom",
    "IMO",
    "Line",
    "Google",
    "Gmail",
    "Psiphon",
    "F-Droid",
    "OONI",
    "VPN",
    "VoIP",
    "SMS",
)
_PLATFORM_RE = {p: re.compile(rf"(?<![\w-]){re.escape(p)}(?![\w-])", re.IGNORECASE) for p in _PLATFORMS}
_DOMAIN = re.compile(r"(?<![\w@.-])((?:[a-z0-9-]+\.)+(?:org|com|net|info|tv|uk|ru|az|am|io|me|eu|news))\b")


def is_yes(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value if value is not None else "").strip().lower() in _YES


def clean(value: object) -> str | None:
    """A cell as text: whitespace collapsed; None when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    return text or None


def split_list(text: str | None) -> list[str]:
    """``"Broadband, Mobile"`` / ``"Mobile and broadband"`` / ``"A; B"`` → items (order kept, no repeats)."""
    if not text:
        return []
    parts = re.split(r"\s*(?:[,;/\n]|\band\b|&)\s*", text)
    out: list[str] = []
    for part in parts:
        item = part.strip(" .")
        if item and item.lower() not in ("none", "unknown", "n/a", "other", "others") and item not in out:
            out.append(item)
    return out


def links_of(*texts: str | None) -> list[str]:
    """Every http(s) URL in the texts, in order, without repeats (only http and https: a link shown on a
    page never carries another scheme)."""
    out: list[str] = []
    for text in texts:
        for found in _URL.findall(text or ""):
            url = found.rstrip(".)")
            if url not in out:
                out.append(url)
    return out


def services_of(text: str | None) -> list[str]:
    """Platforms and domains named in a free-text description (``"Blocking of rferl.org"``)."""
    if not text:
        return []
    found = [p for p in _PLATFORMS if _PLATFORM_RE[p].search(text)]
    if "Facebook Messenger" in found:
        found.remove("Facebook")
    found += [d for d in _DOMAIN.findall(text.lower()) if d not in found]
    return found


def kind_of(kind_text: str | None, extent_text: str | None, description: str | None) -> EventKind:
    """The event's kind from the list's type and extent columns (STOP: ``Shutdown`` / ``Throttle`` /
    ``Shutdown, Throttle`` and ``Full network`` / ``Service-based``; older sheets ``Service-based``,
    ``Throttling``, ``Mobile Internet`` ...), else from a free-text description (CenAlert).

    The extent column decides first (service-based and not full network → service blocking); then the type
    column: service-based and nothing network-wide → service blocking; throttling and no shutdown →
    throttling; any other type → shutdown.  No type column at all: the description decides (``throttl`` →
    throttling, a shutdown without "block" → shutdown, else service blocking)."""
    kind = (kind_text or "").lower()
    extent = (extent_text or "").lower()
    if "service" in extent and "full" not in extent:
        return EventKind.SERVICE_BLOCKING
    network_wide = any(w in kind for w in ("full", "shutdown", "internet", "broadband", "mobile"))
    if "service" in kind and not network_wide and "full" not in extent:
        return EventKind.SERVICE_BLOCKING
    if "thrott" in kind and "shutdown" not in kind and "full" not in kind:
        return EventKind.THROTTLING
    if kind or extent:
        return EventKind.SHUTDOWN
    text = (description or "").lower()
    if "thrott" in text:
        return EventKind.THROTTLING
    if ("shutdown" in text or "shut down" in text) and "block" not in text:
        return EventKind.SHUTDOWN
    return EventKind.SERVICE_BLOCKING


def is_national_area(area: str | None) -> bool:
    return fold_area(area) in _NATIONAL_AREAS


def scope_of(scope_text: str | None, area: str | None) -> EventScope | None:
    """National when the area says so (``Nationwide``, ``Entire country``) or the scope column does
    (``National``, STOP 2019's ``Level 3``); network when it names ISPs or networks only; regional when it
    names anything narrower (``Local``, ``Regional``, ``It only affected one city ...``); else unknown."""
    text = (scope_text or "").lower()
    if is_national_area(area) or "national" in text or "level 3" in text or "nationwide" in text:
        return EventScope.NATIONAL
    if re.search(r"\b(isp|isps|network|networks|operator|operators)\b", text):
        return EventScope.NETWORK
    if text and text not in ("unknown", "not sure", "none"):
        return EventScope.REGIONAL
    if area:
        return EventScope.REGIONAL
    return None


def fold_area(area: str | None) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", area or "").encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())
