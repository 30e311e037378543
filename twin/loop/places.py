"""Where an alarm is: its asset's position, the distance between two assets, and the
outline of a group of assets on the map.

Positions are the scene's metres (x east, y north); height is left out, as two assets
one above the other are in the same place for the people sent there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

Point = tuple[float, float]


def vertices(geometry: Mapping[str, Any] | None) -> tuple[Point, ...]:
    """The (x, y) vertices of a GeoJSON Point, LineString or Polygon (its outer ring);
    empty for anything else (a pseudo-asset such as ``plugin:gas`` has no place)."""
    if not geometry:
        return ()
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    try:
        if kind == "Point":
            return ((float(coords[0]), float(coords[1])),)
        if kind == "LineString":
            return tuple((float(c[0]), float(c[1])) for c in coords)
        if kind == "Polygon":
            return tuple((float(c[0]), float(c[1])) for c in coords[0])
    except (TypeError, IndexError, ValueError):
        return ()
    return ()


def distance(a: tuple[Point, ...], b: tuple[Point, ...]) -> float:
    """The shortest distance between two assets' vertices (m); infinite when either has
    none. Vertices, not segments: a main's vertices are tens of metres apart, closer
    than any grouping distance worth setting."""
    if not a or not b:
        return math.inf
    return min(math.hypot(ax - bx, ay - by) for ax, ay in a for bx, by in b)


def outline(points: Iterable[Point]) -> list[list[float]]:
    """The convex hull of ``points``, counter-clockwise from the lowest-leftmost, without
    repeating the first point (Andrew's monotone chain). One or two distinct points come
    back as they are: the map draws a marker or a line for them."""
    unique = sorted(set((round(x, 3), round(y, 3)) for x, y in points))
    if len(unique) <= 2:
        return [[x, y] for x, y in unique]

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for p in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return [[x, y] for x, y in hull]
