"""Where a scene's coordinates are: its local metric frame, and sources brought into it.

A scene works in metres: x east and y north of its origin, z up. Its sources may be
written in another coordinate reference system (CRS) when the scene or the file names
it; they are then converted with PROJ (through pyproj) into a transverse Mercator
centred on the scene's origin, whose (0, 0) is the origin, whose x axis is grid east
there and whose scale is exact along the origin's meridian (see docs/scenes.md).
Without a named CRS, positions that can only be degrees are refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: how a scene may spell metres in ``[scene] units`` (compared case-insensitively)
METRE_UNITS = ("m", "metre", "metres", "meter", "meters")

#: a file in a named CRS whose positions land farther than this from the origin is
#: refused: at 200 km a transverse Mercator is 0.05 % off scale, and a position that
#: far is far more often a wrong CRS (another zone, swapped axes) than a district
MAX_DISTANCE = 200_000.0

#: the span under which positions within +-180, +-90 are taken as degrees (see
#: :func:`looks_like_degrees`)
DEGREE_SPAN = 3.0

Transform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def parse_crs(value: Any) -> tuple[Any, str | None]:
    """``(pyproj.CRS, None)`` for a usable CRS name, or ``(None, what is wrong with it)``
(to follow the value in a message).

    Usable means geographic (longitude, latitude) or projected: a geocentric or
    vertical CRS cannot place a feature on the map.
    """
    import pyproj

    examples = "such as \"EPSG:4326\" (longitude, latitude) or \"EPSG:4548\" (CGCS2000 / 3-degree Gauss-Kruger CM 117E)"
    if not isinstance(value, str) or not value.strip():
        return None, f"not a name; expected a CRS name {examples}"
    try:
        crs = pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        return None, f"not a CRS PROJ knows; expected a name {examples}"
    if not (crs.is_geographic or crs.is_projected):
        return None, f"{crs.name} is neither geographic nor projected; expected one that places x, y on the map, {examples}"
    return crs, None


def geojson_crs(doc: dict[str, Any]) -> tuple[str | None, str | None]:
    """The CRS name a GeoJSON's legacy (2008) ``crs`` member gives, as ``(name, None)``;
    ``(None, None)`` without the member; ``(None, what is wrong)`` when it is unusable."""
    member = doc.get("crs")
    if member is None:
        return None, None
    props = member.get("properties") if isinstance(member, dict) else None
    if not (isinstance(member, dict) and member.get("type") == "name" and isinstance(props, dict) and isinstance(props.get("name"), str)):
        return None, f"'crs' member {member!r}; expected {{\"type\": \"name\", \"properties\": {{\"name\": \"EPSG:4326\"}}}} (linked CRSs are not read)"
    return props["name"], None


def local_crs(origin: tuple[float, float]) -> Any:
    """The scene's frame: a transverse Mercator on WGS 84 centred on ``origin``
    (longitude, latitude), scale 1 and no false easting or northing, so the origin is
    (0, 0) and x is grid east there."""
    import pyproj
    from pyproj.crs.coordinate_operation import TransverseMercatorConversion

    conversion = TransverseMercatorConversion(
        latitude_natural_origin=origin[1], longitude_natural_origin=origin[0],
        false_easting=0.0, false_northing=0.0, scale_factor_natural_origin=1.0,
    )
    return pyproj.crs.ProjectedCRS(conversion, name="scene local frame", geodetic_crs=pyproj.CRS("EPSG:4326"))


def transforms(source: Any, origin: tuple[float, float]) -> tuple[Transform, Transform]:
    """``(to_local, from_local)`` between ``source`` and the frame centred on ``origin``.

    x is longitude or easting and y latitude or northing, whatever axis order the CRS
    declares (EPSG:4326 and the CGCS2000 Gauss-Kruger zones say latitude or northing
    first), because that is how GeoJSON and GIS exports write positions.
    """
    import pyproj

    target = local_crs(origin)
    forward = pyproj.Transformer.from_crs(source, target, always_xy=True)
    backward = pyproj.Transformer.from_crs(target, source, always_xy=True)
    return forward.transform, backward.transform


def positions(features: list[Any]) -> list[list[Any]]:
    """Every well-formed position ([x, y] or [x, y, z] of finite numbers) of the
    features' geometries, as the lists themselves so that they can be changed in place.
    Malformed ones are left to the geometry check, which names them."""
    out: list[list[Any]] = []
    for feature in features:
        if isinstance(feature, dict):
            _geometry_positions(feature.get("geometry"), out)
    return out


def _geometry_positions(geometry: Any, out: list[list[Any]]) -> None:
    if not isinstance(geometry, dict):
        return
    if geometry.get("type") == "GeometryCollection":
        for part in geometry.get("geometries") or []:
            _geometry_positions(part, out)
        return
    stack = [geometry.get("coordinates")]
    while stack:
        node = stack.pop()
        if not isinstance(node, list):
            continue
        if 2 <= len(node) <= 3 and all(is_finite_number(v) for v in node):
            out.append(node)
        else:
            stack.extend(node)


def is_finite_number(v: Any) -> bool:
    """A JSON or TOML number (not a bool) that is neither NaN nor infinite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def looks_like_degrees(xs: np.ndarray, ys: np.ndarray, origin: tuple[float, float] | None) -> bool:
    """Whether positions a scene calls metres can only be longitude and latitude.

    All of them must lie within +-180 by +-90, and then either
    - they lie within one unit of the scene's origin (given in degrees, and not at
      0, 0): a metric district squeezed into 2 m x 2 m that happens to sit where its own
      origin's longitude and latitude are read as metres does not exist, while a file of
      degrees around its scene's origin is the common mistake; or
    - they span more than nothing but under DEGREE_SPAN on both axes: as degrees that is
      up to 300 km, any district; as metres a whole layer inside 3 m is no district.
    A single position far from the origin is not judged: it may be either.
    """
    if len(xs) == 0 or np.abs(xs).max() > 180.0 or np.abs(ys).max() > 90.0:
        return False
    if origin is not None and origin != (0.0, 0.0):
        if np.abs(xs - origin[0]).max() <= 1.0 and np.abs(ys - origin[1]).max() <= 1.0:
            return True
    span_x, span_y = float(np.ptp(xs)), float(np.ptp(ys))
    return 0.0 < max(span_x, span_y) and span_x < DEGREE_SPAN and span_y < DEGREE_SPAN


def convert_positions(points: list[list[Any]], to_local: Transform) -> str | None:
    """Convert ``points`` in place into the local frame; z is kept (metres). Returns
    what is wrong instead, changing nothing, when a position cannot be converted or
    lands implausibly far from the origin."""
    if not points:
        return None
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    east, north = (np.asarray(a, dtype=np.float64) for a in to_local(xs, ys))
    bad = ~(np.isfinite(east) & np.isfinite(north))
    if bad.any():
        i = int(np.argmax(bad))
        return f"position {points[i]!r} lies outside the area where the CRS is defined"
    distance = np.hypot(east, north)
    i = int(np.argmax(distance))
    if distance[i] > MAX_DISTANCE:
        return (f"position {points[i]!r} lands {distance[i] / 1000:.0f} km from the scene origin (at most "
                f"{MAX_DISTANCE / 1000:.0f} km); check the CRS (x longitude or easting, y latitude or northing) and [scene] origin")
    for p, x, y in zip(points, east.tolist(), north.tolist()):
        p[0], p[1] = x, y
    return None


def resample_grid(
    x0: float, y0: float, cell: float, heights: np.ndarray, to_local: Transform, from_local: Transform
) -> tuple[float, float, float, np.ndarray] | str:
    """An elevation grid in another CRS, resampled (nearest node) onto a square grid of
    the local frame that covers it: ``(x0, y0, cell, heights)``, row 0 north, node
    (r, c) at (x0 + c cell, y0 + (rows - 1 - r) cell) as in the source. Returns what is
    wrong instead when the grid cannot be placed."""
    rows, cols = heights.shape
    # the border, densely: a projected edge is curved, its corners alone may miss the box
    t = np.linspace(0.0, 1.0, 65)
    width, height = (cols - 1) * cell, (rows - 1) * cell
    bx = np.concatenate([x0 + t * width, x0 + t * width, np.full_like(t, x0), np.full_like(t, x0 + width)])
    by = np.concatenate([np.full_like(t, y0), np.full_like(t, y0 + height), y0 + t * height, y0 + t * height])
    ex, ny = (np.asarray(a, dtype=np.float64) for a in to_local(bx, by))
    if not (np.isfinite(ex).all() and np.isfinite(ny).all()):
        return "the grid lies outside the area where the CRS is defined"
    if max(np.abs(ex).max(), np.abs(ny).max()) > MAX_DISTANCE:
        return f"the grid lands more than {MAX_DISTANCE / 1000:.0f} km from the scene origin; check the CRS and [scene] origin"
    # one source cell at the grid's centre, measured in metres: the finer of its sides
    cx, cy = x0 + width / 2, y0 + height / 2
    sx, sy = (np.asarray(a, dtype=np.float64) for a in to_local(np.array([cx, cx + cell, cx]), np.array([cy, cy, cy + cell])))
    local_cell = float(min(math.hypot(sx[1] - sx[0], sy[1] - sy[0]), math.hypot(sx[2] - sx[0], sy[2] - sy[0])))
    new_cols = int(math.floor((ex.max() - ex.min()) / local_cell)) + 1
    new_rows = int(math.floor((ny.max() - ny.min()) / local_cell)) + 1
    if new_rows * new_cols > 4 * rows * cols + 1024:
        return f"the grid would grow from {rows}x{cols} to {new_rows}x{new_cols} nodes in metres; resample it first"
    lx0, ly0 = float(ex.min()), float(ny.min())
    cc, rr = np.meshgrid(np.arange(new_cols), np.arange(new_rows))
    qx, qy = (np.asarray(a, dtype=np.float64) for a in from_local(lx0 + cc * local_cell, ly0 + (new_rows - 1 - rr) * local_cell))
    # nodes of the covering box outside the source take its nearest edge, as height_at does
    qx, qy = np.nan_to_num(qx, nan=x0, posinf=x0, neginf=x0), np.nan_to_num(qy, nan=y0, posinf=y0, neginf=y0)
    src_c = np.clip(np.rint((qx - x0) / cell), 0, cols - 1).astype(np.intp)
    src_r = np.clip(np.rint((rows - 1) - (qy - y0) / cell), 0, rows - 1).astype(np.intp)
    return lx0, ly0, local_cell, heights[src_r, src_c]
