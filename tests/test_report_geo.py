"""The world map: world-atlas TopoJSON decoded and projected into one SVG path per country."""

from __future__ import annotations

from pathlib import Path

import pytest

from netfreedom.errors import InputError
from netfreedom.report.geo import world_map


def test_every_country_has_a_path_keyed_by_iso2(shared_data: Path) -> None:
    m = world_map((shared_data / "geo" / "countries-50m.json").read_bytes())
    by = {s.iso2: s for s in m.shapes}
    assert len(by) == len(m.shapes) > 200
    for cc in ("CN", "RU", "US", "BR", "EE", "IS", "XK", "BH", "SG"):
        assert by[cc].d.startswith("M") and by[cc].d.endswith("Z")
    assert "AQ" not in by
    assert by["BH"].small and by["SG"].small and not by["RU"].small
    # Equal Earth keeps west left of east and north above south.
    assert by["US"].cx < by["CN"].cx and by["IS"].cy < by["ZA"].cy
    for s in m.shapes:
        assert 0 <= s.cx <= m.width and 0 <= s.cy <= m.height + 5, s


def test_110m_topology_also_works(shared_data: Path) -> None:
    m = world_map((shared_data / "geo" / "countries-110m.json").read_bytes())
    assert {"CN", "DE", "IR"} <= {s.iso2 for s in m.shapes}


def test_bad_topology_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="not a TopoJSON"):
        world_map(b"<html>")
    with pytest.raises(InputError, match="no object 'countries'"):
        world_map(b'{"type": "Topology", "arcs": [], "objects": {}}')
