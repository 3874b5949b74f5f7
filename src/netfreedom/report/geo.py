"""The world map: decode world-atlas TopoJSON, project it, and emit one SVG path per country.

Rendering the map in Python means the published page needs no JavaScript and no network to show it: each
country is a ``<path>`` keyed by its ISO 3166 alpha-2 code, coloured by a CSS class.  The TopoJSON itself is
fetched from its public home (npm, via unpkg) through ``netfreedom.fetch.Fetcher``, never committed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from netfreedom.errors import InputError

WORLD_ATLAS_URL = "https://unpkg.com/world-atlas@2.0.2/countries-50m.json"

# world-atlas keys countries by ISO 3166 numeric code; a few disputed territories have no code.
_NO_CODE = {"Kosovo": "XK"}
_DROP = {"AQ"}  # Antarctica: a third of the map's height, never ranked

WIDTH = 960.0


class _Geometry(msgspec.Struct):
    type: str
    arcs: list[object] | None = None  # Polygon: rings of arc indexes; MultiPolygon: polygons of rings
    id: str | int | None = None
    properties: dict[str, object] = {}


class _Object(msgspec.Struct):
    geometries: list[_Geometry]


class _Transform(msgspec.Struct):
    scale: tuple[float, float]
    translate: tuple[float, float]


class _Topology(msgspec.Struct):
    type: str
    arcs: list[list[tuple[float, float]]]
    objects: dict[str, _Object]
    transform: _Transform | None = None


@dataclass(frozen=True)
class Shape:
    iso2: str
    name: str
    d: str  # SVG path data
    cx: float  # centre of the bounding box, for a marker on countries too small to see
    cy: float
    small: bool  # smaller than a few pixels: the page adds a marker so it can be seen and clicked


@dataclass(frozen=True)
class WorldMap:
    width: float
    height: float
    shapes: tuple[Shape, ...]


def _equal_earth(lon: float, lat: float) -> tuple[float, float]:
    """Equal Earth projection (Šavrič, Patterson, Jenny 2018): equal-area, so big countries don't dominate."""
    a1, a2, a3, a4 = 1.340264, -0.081106, 0.000893, 0.003796
    m = math.sqrt(3) / 2
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(m * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (m * (a1 + 3 * a2 * t2 + t6 * (7 * a3 + 9 * a4 * t2)))
    y = theta * (a1 + a2 * t2 + t6 * (a3 + a4 * t2))
    return x, y


def _decode_arcs(topo: _Topology) -> list[list[tuple[float, float]]]:
    """Absolute lon/lat for every arc (quantized topologies store deltas)."""
    out: list[list[tuple[float, float]]] = []
    if topo.transform is None:
        return [[(float(p[0]), float(p[1])) for p in arc] for arc in topo.arcs]
    (sx, sy), (tx, ty) = topo.transform.scale, topo.transform.translate
    for arc in topo.arcs:
        x = y = 0.0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def _ring(indexes: Iterable[int], arcs: Sequence[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        # Consecutive arcs share their joining point.
        pts.extend(arc[1:] if pts else arc)
    return pts


def _to_px(lon: float, lat: float, scale: float, y_top: float) -> tuple[float, float]:
    px, py = _equal_earth(lon, lat)
    return px * scale + WIDTH / 2, y_top - py * scale


def _thin(points: list[tuple[float, float]], tolerance: float = 0.9) -> list[tuple[float, float]]:
    """Drop points closer than ``tolerance`` pixels to the last kept one: the 50 m shapes carry detail
    no screen shows, and the page should stay light.  Tiny islands keep at least their first three points."""
    if len(points) <= 3:
        return points
    kept = [points[0]]
    for x, y in points[1:]:
        lx, ly = kept[-1]
        if abs(x - lx) + abs(y - ly) >= tolerance:
            kept.append((x, y))
    return kept if len(kept) >= 3 else points[:3]


def _unwrap(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Make longitudes continuous along a ring that crosses the antimeridian (Russia, Fiji), so it does not
    draw a band across the whole map; the bit beyond ±180° then falls outside the map and is clipped."""
    out: list[tuple[float, float]] = []
    shift = 0.0
    prev: float | None = None
    for lon, lat in ring:
        if prev is not None and abs(lon + shift - prev) > 180:
            shift += 360.0 if prev > lon + shift else -360.0
        out.append((lon + shift, lat))
        prev = lon + shift
    if shift == 0.0 and all(abs(a[0] - b[0]) <= 180 for a, b in itertools.pairwise(out)):
        return out
    # Keep the bulk of the ring on the map: shift it back so its median longitude is within ±180°.
    median = sorted(p[0] for p in out)[len(out) // 2]
    back = -360.0 * round(median / 360.0)
    return [(lon + back, lat) for lon, lat in out]


def _iso2(geom: _Geometry) -> str | None:
    import pycountry

    name = str(geom.properties.get("name", ""))
    if geom.id is None:
        return _NO_CODE.get(name)
    country = pycountry.countries.get(numeric=str(geom.id).zfill(3))
    return str(country.alpha_2) if country is not None else _NO_CODE.get(name)


def world_map(topojson: bytes, *, object_name: str = "countries") -> WorldMap:
    """Project every country of a world-atlas topology into SVG path data, keyed by ISO alpha-2."""
    try:
        topo = msgspec.json.decode(topojson, type=_Topology)
    except msgspec.DecodeError as exc:
        raise InputError(f"not a TopoJSON topology: {exc}") from exc
    if object_name not in topo.objects:
        raise InputError(f"TopoJSON has no object {object_name!r} (has {', '.join(topo.objects)})")
    arcs = _decode_arcs(topo)
    x_max, _ = _equal_earth(180.0, 0.0)
    _, y_max = _equal_earth(0.0, 90.0)
    scale = WIDTH / (2 * x_max)
    y_top = y_max * scale  # shift so the north pole is at 0; Antarctica is dropped, so crop below -60°
    _, y_south = _equal_earth(0.0, -60.0)
    height = round(y_top - y_south * scale, 1)
    # Some codes own several geometries (Australia and its Ashmore and Cartier Islands): merge them.
    acc: dict[str, tuple[str, list[str], list[float], list[float]]] = {}
    for geom in topo.objects[object_name].geometries:
        iso2 = _iso2(geom)
        if iso2 is None or iso2 in _DROP or not geom.arcs:
            continue
        polygons = [geom.arcs] if geom.type == "Polygon" else geom.arcs
        name, parts, xs, ys = acc.setdefault(iso2, (str(geom.properties.get("name", iso2)), [], [], []))
        for polygon in polygons:
            for ring_arcs in polygon:  # type: ignore[attr-defined]
                ring = _unwrap(_ring(ring_arcs, arcs))
                points = [_to_px(lon, lat, scale, y_top) for lon, lat in ring]
                points = _thin(points)
                if len(points) < 3:
                    continue
                xs.extend(p[0] for p in points)
                ys.extend(p[1] for p in points)
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z")
    shapes: list[Shape] = []
    for iso2, (name, parts, xs, ys) in acc.items():
        if not parts:
            continue
        small = max(xs) - min(xs) < 4 and max(ys) - min(ys) < 4
        cx, cy = round((max(xs) + min(xs)) / 2, 1), round((max(ys) + min(ys)) / 2, 1)
        shapes.append(Shape(iso2, name, "".join(parts), cx, cy, small))
    shapes.sort(key=lambda s: s.iso2)
    return WorldMap(WIDTH, height, tuple(shapes))
