"""The cohort's area map, drawn offline: one tile per postcode district, grouped by postcode
area, shaded by the number of eligible families (a tile map, as Hampshire's cohort map is read:
where the families are, not exact boundaries, so no map data or tile server is needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

__all__ = ["Tile", "tiles"]

SHADES = ("#e8f0fa", "#b9d1ee", "#7eaadb", "#3f7cc0", "#1c4f8c")  # light to dark; text flips at 3
TILE = 52
GAP = 4
_DISTRICT = re.compile(r"^([A-Z]{1,2})(\d+[A-Z]?)$")


@dataclass(frozen=True)
class Tile:
    """One district's tile: position, fill, count, and whether its label needs light text."""

    district: str
    families: int
    x: int
    y: int
    fill: str
    light_text: bool


def tiles(counts: pd.DataFrame) -> tuple[list[Tile], list[str], int, int]:
    """Tiles for ``counts`` (columns ``district``, ``families``): one row per postcode area,
    districts in number order. Returns (tiles, area labels by row, width, height)."""
    frame = counts.dropna(subset=["district"]).copy()
    parts = frame["district"].str.upper().str.extract(_DISTRICT)
    frame["area"] = parts[0].fillna("?")
    frame["number"] = pd.to_numeric(parts[1].str.extract(r"(\d+)")[0], errors="coerce").fillna(0)
    frame = frame.sort_values(["area", "number", "district"])
    top = max(int(frame["families"].max()), 1) if len(frame) else 1
    areas = list(dict.fromkeys(frame["area"]))
    out: list[Tile] = []
    for row, (_, group) in enumerate(frame.groupby("area", sort=True)):
        for col, r in enumerate(group.itertuples()):
            shade = min(int(len(SHADES) * r.families / (top + 1)), len(SHADES) - 1)
            out.append(Tile(r.district, int(r.families), 48 + col * (TILE + GAP), row * (TILE + GAP),
                            SHADES[shade], shade >= 3))
    width = max((t.x for t in out), default=0) + TILE + 1
    height = max((t.y for t in out), default=0) + TILE + 1
    return out, areas, width, height
