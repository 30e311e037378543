"""EPA SWMM 5 input files (``.inp``): import one as a twin scene, export a scene's
network as one, and run SWMM itself through pyswmm (optional) to compare.

What the importer reads, section by section (Rossman, SWMM 5.2 Reference Manual vol. II,
EPA/600/R-17/111, and the SWMM 5 user's manual, appendix D, for the file format):

- ``[OPTIONS]``: ``FLOW_UNITS`` (CMS, LPS and MLD are metric; CFS, GPM and MGD are US
  units, converted: feet to metres, acres to hectares, inches to millimetres),
  ``LINK_OFFSETS`` (DEPTH or ELEVATION), ``MIN_SURFAREA``, ``START_DATE`` and
  ``START_TIME`` (the time origin of dated rain series).
- ``[JUNCTIONS]`` become manholes: ``invert_elevation`` = Elevation, ``rim_elevation`` =
  Elevation + MaxDepth (MaxDepth 0 is, as in SWMM, the crown of the highest pipe),
  ``ponding_area`` = Aponded (or the field's default where it is 0: the twin always
  ponds), ``shaft_area`` = MIN_SURFAREA (SWMM's default 12.566 ft² = 1.167 m²).
- ``[OUTFALLS]`` become outfalls: FREE and NORMAL are the twin's NORMAL outfall, FIXED
  sets ``tailwater_elevation`` to its stage. TIDAL and TIMESERIES outfalls are refused.
- ``[CONDUITS]`` with a CIRCULAR ``[XSECTIONS]`` become pipes (``diameter`` = Geom1,
  ``length``, ``roughness`` = Manning n, offsets); other shapes are refused.
- ``[COORDINATES]`` (and ``[VERTICES]``) give the geometry, in the map units of the
  file taken as metres, shifted so the scene's south-west corner is near its origin.
- ``[SUBCATCHMENTS]`` draining to a junction give its ``catchment_area`` (ha) and its
  ``runoff_coefficient`` C = %Imperv / 100, area-weighted where several drain to one
  junction: the rational method with the pervious part taken to retain its rain (no
  infiltration excess), which is what the twin's runoff (Q = C·i·A) models.
- ``[RAINGAGES]`` with a ``TIMESERIES`` source and its ``[TIMESERIES]`` become
  ``drainage.rain`` incidents of the scene, one per recording interval (INTENSITY,
  VOLUME and CUMULATIVE formats). As in SWMM, an interval with no value has no rain.
  The twin's rain falls on the whole district; with several gauges the one serving the
  largest area is imported and the result says so.
- Storage units, dividers, pumps, orifices, weirs, outlets and external or dry-weather
  inflows are not imported; the result's warnings name the sections left out.

Every error names the file, the line, the section and the field, and what is valid.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from twin import SceneImporter

#: SWMM's default MIN_SURFAREA, 12.566 ft2, in m2
SWMM_MIN_SURFAREA = 1.167
FOOT = 0.3048
ACRE_HA = 0.40468564224
INCH_MM = 25.4
US_UNITS = ("CFS", "GPM", "MGD")
SI_UNITS = ("CMS", "LPS", "MLD")
OWNER = "imported from SWMM"
#: default level-sensor noise of an imported junction, m (as the generator's radar gauges)
DEPTH_NOISE = 0.005
#: the drainage.rain action accepts up to this intensity, mm/h
MAX_RAIN = 300.0


class InpError(ValueError):
    """A problem in a SWMM input file, naming the file, the line and the field."""


@dataclass
class Row:
    """One data line of a section: its tokens and where it stands in the file."""

    line: int
    tokens: list[str]


@dataclass
class Inp:
    """The sections of a ``.inp`` file, as rows of tokens (comments stripped)."""

    path: Path
    sections: dict[str, list[Row]] = field(default_factory=dict)

    def rows(self, section: str) -> list[Row]:
        return self.sections.get(section, [])

    def option(self, name: str, default: str = "") -> str:
        for row in self.rows("OPTIONS"):
            if row.tokens[0].upper() == name and len(row.tokens) > 1:
                return " ".join(row.tokens[1:])
        return default


def read_inp(path: str | Path) -> Inp:
    """Split a ``.inp`` file into sections of rows; ``;`` starts a comment."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise InpError(f"{path}: cannot read: {exc.strerror}") from None
    inp = Inp(path)
    section = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"\[([A-Za-z_]+)\]", line)
        if match:
            section = match.group(1).upper()
            inp.sections.setdefault(section, [])
            continue
        if section is None:
            raise InpError(f"{path}: line {number}: data before the first [SECTION] header")
        inp.sections[section].append(Row(number, _split(line)))
    if not inp.rows("JUNCTIONS") and not inp.rows("OUTFALLS"):
        raise InpError(f"{path}: no [JUNCTIONS] or [OUTFALLS]: not a SWMM input file with a network")
    return inp


def _split(line: str) -> list[str]:
    # Names may be quoted when they hold spaces (SWMM 5.2).
    return [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', line)]


@dataclass
class _Fields:
    """Reads named fields of one row, with errors that name the line and the field."""

    inp: Inp
    section: str
    row: Row
    names: tuple[str, ...]

    def where(self, name: str | None = None) -> str:
        at = f"{self.inp.path}: line {self.row.line}: [{self.section}]"
        return f"{at} field {name!r}" if name else at

    def text(self, name: str, default: str | None = None) -> str:
        i = self.names.index(name)
        if i < len(self.row.tokens):
            return self.row.tokens[i]
        if default is None:
            raise InpError(f"{self.where(name)} is missing; the section's fields are {', '.join(self.names)}")
        return default

    def number(self, name: str, default: float | None = None, low: float = -math.inf, positive: bool = False) -> float:
        raw = self.text(name, None if default is None else repr(default))
        try:
            value = float(raw)
        except ValueError:
            raise InpError(f"{self.where(name)} = {raw!r} is not a number") from None
        if not math.isfinite(value) or value < low or (positive and value <= 0.0):
            need = "> 0" if positive else f">= {low}"
            raise InpError(f"{self.where(name)} = {raw!r}; expected a number {need}")
        return value


JUNCTION_FIELDS = ("Name", "Elevation", "MaxDepth", "InitDepth", "SurDepth", "Aponded")
OUTFALL_FIELDS = ("Name", "Elevation", "Type", "StageData", "Gated", "RouteTo")
CONDUIT_FIELDS = ("Name", "FromNode", "ToNode", "Length", "Roughness", "InOffset", "OutOffset", "InitFlow", "MaxFlow")
XSECTION_FIELDS = ("Link", "Shape", "Geom1", "Geom2", "Geom3", "Geom4", "Barrels", "Culvert")
COORDINATE_FIELDS = ("Node", "X", "Y")
SUBCATCHMENT_FIELDS = ("Name", "RainGage", "Outlet", "Area", "PctImperv", "Width", "PctSlope", "CurbLen", "SnowPack")
RAINGAGE_FIELDS = ("Name", "Format", "Interval", "SCF", "Source", "SeriesName")


@dataclass
class Network:
    """A drainage network read from a ``.inp``, in metres, hectares and mm/h."""

    manholes: dict[str, dict[str, float]]
    outfalls: dict[str, dict[str, float]]
    pipes: dict[str, dict[str, Any]]
    xy: dict[str, tuple[float, float]]
    vertices: dict[str, list[tuple[float, float]]]
    #: (start s, duration s, intensity mm/h) of the imported rain gauge
    rain: list[tuple[float, float, float]]
    rain_gauge: str | None
    warnings: list[str]


def parse_network(inp: Inp) -> Network:
    """The network of a ``.inp`` in the twin's units (see the module docstring)."""
    units = inp.option("FLOW_UNITS", "CFS").upper()
    if units not in US_UNITS + SI_UNITS:
        raise InpError(f"{inp.path}: [OPTIONS] FLOW_UNITS {units!r}; valid: {', '.join(SI_UNITS + US_UNITS)}")
    us = units in US_UNITS
    length = FOOT if us else 1.0
    offsets = inp.option("LINK_OFFSETS", "DEPTH").upper()
    if offsets not in ("DEPTH", "ELEVATION"):
        raise InpError(f"{inp.path}: [OPTIONS] LINK_OFFSETS {offsets!r}; valid: DEPTH, ELEVATION")
    min_area_raw = inp.option("MIN_SURFAREA", "0")
    try:
        min_area = float(min_area_raw) * (FOOT**2 if us else 1.0)
    except ValueError:
        raise InpError(f"{inp.path}: [OPTIONS] MIN_SURFAREA {min_area_raw!r} is not a number") from None
    shaft = min_area if min_area > 0.0 else SWMM_MIN_SURFAREA
    warnings: list[str] = []

    manholes: dict[str, dict[str, float]] = {}
    outfalls: dict[str, dict[str, float]] = {}
    seen: dict[str, int] = {}

    def fresh(f: _Fields, name: str) -> str:
        if name in seen:
            raise InpError(f"{f.where('Name')} = {name!r} is already used at line {seen[name]}")
        seen[name] = f.row.line
        return name

    for row in inp.rows("JUNCTIONS"):
        f = _Fields(inp, "JUNCTIONS", row, JUNCTION_FIELDS)
        name = fresh(f, f.text("Name"))
        manholes[name] = {
            "line": row.line,
            "invert_elevation": f.number("Elevation") * length,
            "max_depth": f.number("MaxDepth", 0.0, low=0.0) * length,
            "ponding_area": f.number("Aponded", 0.0, low=0.0) * length**2,
            "shaft_area": shaft,
        }
    for row in inp.rows("OUTFALLS"):
        f = _Fields(inp, "OUTFALLS", row, OUTFALL_FIELDS)
        name = fresh(f, f.text("Name"))
        kind = f.text("Type", "FREE").upper()
        out = {"line": row.line, "invert_elevation": f.number("Elevation") * length}
        if kind == "FIXED":
            out["tailwater_elevation"] = f.number("StageData") * length
        elif kind not in ("FREE", "NORMAL"):
            raise InpError(f"{f.where('Type')} = {kind!r}; the twin's outfalls are FREE, NORMAL or FIXED")
        outfalls[name] = out

    sections = {}
    for row in inp.rows("XSECTIONS"):
        f = _Fields(inp, "XSECTIONS", row, XSECTION_FIELDS)
        shape = f.text("Shape").upper()
        if shape != "CIRCULAR":
            raise InpError(f"{f.where('Shape')} = {shape!r}; the twin's pipes are CIRCULAR")
        barrels = f.number("Barrels", 1.0)
        if barrels != 1.0:
            raise InpError(f"{f.where('Barrels')} = {barrels:g}; the twin's pipes have one barrel")
        sections[f.text("Link")] = f.number("Geom1", positive=True) * length

    pipes: dict[str, dict[str, Any]] = {}
    for row in inp.rows("CONDUITS"):
        f = _Fields(inp, "CONDUITS", row, CONDUIT_FIELDS)
        name = fresh(f, f.text("Name"))
        up, down = f.text("FromNode"), f.text("ToNode")
        for end, node in (("FromNode", up), ("ToNode", down)):
            if node not in manholes and node not in outfalls:
                raise InpError(f"{f.where(end)} = {node!r} is not a junction or outfall of the file")
        if up in outfalls:
            raise InpError(f"{f.where('FromNode')} = {up!r} is an outfall; an outfall can only be a pipe's downstream end")
        if name not in sections:
            raise InpError(f"{f.where('Name')} = {name!r} has no CIRCULAR row in [XSECTIONS]")
        offset_in = f.number("InOffset", 0.0) * length
        offset_out = f.number("OutOffset", 0.0) * length
        if offsets == "ELEVATION":
            offset_in -= (manholes.get(up) or outfalls[up])["invert_elevation"]
            offset_out -= (manholes.get(down) or outfalls[down])["invert_elevation"]
        for label, value in (("InOffset", offset_in), ("OutOffset", offset_out)):
            if value < -1e-6:
                raise InpError(f"{f.where(label)} puts the pipe's invert below its node's invert; offsets must be >= 0")
        pipes[name] = {
            "line": row.line, "links": [up, down], "diameter": sections[name],
            "length": f.number("Length", positive=True) * length, "roughness": f.number("Roughness", positive=True),
            "inlet_offset": max(offset_in, 0.0), "outlet_offset": max(offset_out, 0.0),
        }

    # MaxDepth 0: the node is as deep as the crown of its highest pipe (SWMM's rule).
    for name, node in manholes.items():
        if node["max_depth"] <= 0.0:
            crowns = [p["diameter"] + (p["inlet_offset"] if p["links"][0] == name else p["outlet_offset"])
                      for p in pipes.values() if name in p["links"]]
            if not crowns:
                raise InpError(f"{inp.path}: line {node['line']}: [JUNCTIONS] field 'MaxDepth' is 0 and no conduit meets {name!r}; give the depth to the rim")
            node["max_depth"] = max(crowns)

    xy: dict[str, tuple[float, float]] = {}
    for row in inp.rows("COORDINATES"):
        f = _Fields(inp, "COORDINATES", row, COORDINATE_FIELDS)
        xy[f.text("Node")] = (f.number("X"), f.number("Y"))
    missing = [n for n in list(manholes) + list(outfalls) if n not in xy]
    if missing:
        raise InpError(f"{inp.path}: [COORDINATES] has no position for node(s) {', '.join(missing[:5])}; the twin places every node")
    vertices: dict[str, list[tuple[float, float]]] = {}
    for row in inp.rows("VERTICES"):
        f = _Fields(inp, "VERTICES", row, ("Link", "X", "Y"))
        vertices.setdefault(f.text("Link"), []).append((f.number("X"), f.number("Y")))

    area_of: dict[str, float] = {}
    impervious_of: dict[str, float] = {}
    gauge_area: dict[str, float] = {}
    for row in inp.rows("SUBCATCHMENTS"):
        f = _Fields(inp, "SUBCATCHMENTS", row, SUBCATCHMENT_FIELDS)
        outlet = f.text("Outlet")
        if outlet not in manholes:
            raise InpError(f"{f.where('Outlet')} = {outlet!r} is not a junction; the twin's subcatchments drain to a manhole")
        area = f.number("Area", low=0.0) * (ACRE_HA if us else 1.0)
        imperv = f.number("PctImperv", low=0.0)
        if imperv > 100.0:
            raise InpError(f"{f.where('PctImperv')} = {imperv:g}; expected a percentage in [0, 100]")
        area_of[outlet] = area_of.get(outlet, 0.0) + area
        impervious_of[outlet] = impervious_of.get(outlet, 0.0) + area * imperv / 100.0
        gauge_area[f.text("RainGage")] = gauge_area.get(f.text("RainGage"), 0.0) + area
    for name, node in manholes.items():
        node["catchment_area"] = area_of.get(name, 0.0)
        node["runoff_coefficient"] = impervious_of[name] / area_of[name] if area_of.get(name) else 0.0

    skipped = [name for name in ("STORAGE", "DIVIDERS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS", "INFLOWS", "DWF")
               if inp.rows(name)]
    if skipped:
        warnings.append(f"sections not imported (the twin has no such elements): {', '.join(f'[{n}]' for n in skipped)}")
    rain, gauge = _read_rain(inp, gauge_area, us, warnings)
    return Network(manholes, outfalls, pipes, xy, vertices, rain, gauge, warnings)


def _read_rain(inp: Inp, gauge_area: dict[str, float], us: bool, warnings: list[str]) -> tuple[list[tuple[float, float, float]], str | None]:
    gauges = {}
    for row in inp.rows("RAINGAGES"):
        f = _Fields(inp, "RAINGAGES", row, RAINGAGE_FIELDS)
        gauges[f.text("Name")] = f
    used = sorted((g for g in gauge_area if g in gauges), key=lambda g: -gauge_area[g])
    if not used:
        return [], None
    if len(used) > 1:
        warnings.append(f"{len(used)} rain gauges serve subcatchments; the twin rains over the whole district, so only "
                        f"{used[0]!r} (the largest area) is imported")
    f = gauges[used[0]]
    fmt = f.text("Format").upper()
    if fmt not in ("INTENSITY", "VOLUME", "CUMULATIVE"):
        raise InpError(f"{f.where('Format')} = {fmt!r}; valid: INTENSITY, VOLUME, CUMULATIVE")
    interval = _clock(f.text("Interval"), f, "Interval")
    if interval <= 0.0:
        raise InpError(f"{f.where('Interval')} must be a positive time (H:MM or decimal hours)")
    scf = f.number("SCF", 1.0, low=0.0)
    if f.text("Source").upper() != "TIMESERIES":
        warnings.append(f"rain gauge {used[0]!r} reads a FILE: its rain is not imported")
        return [], used[0]
    series = f.text("SeriesName")
    points = _series(inp, series, f)
    start = _start(inp)
    rain: list[tuple[float, float, float]] = []
    previous = 0.0
    for t, value, row in points:
        t = (t - start).total_seconds() if isinstance(t, datetime) else t
        if fmt == "INTENSITY":
            intensity = value
        elif fmt == "VOLUME":
            intensity = value / (interval / 3600.0)
        else:
            intensity, previous = (value - previous) / (interval / 3600.0), value
        intensity *= scf * (INCH_MM if us else 1.0)
        if not 0.0 <= intensity <= MAX_RAIN:
            raise InpError(f"{inp.path}: line {row.line}: [TIMESERIES] {series!r} gives {intensity:g} mm/h; "
                           f"the twin's rain is in [0, {MAX_RAIN:g}] mm/h")
        if t < 0.0:
            continue
        rain.append((t, interval, intensity))
    return rain, used[0]


def _clock(raw: str, f: _Fields, name: str) -> float:
    """Seconds of an ``H:MM[:SS]`` or decimal-hours time."""
    try:
        if ":" in raw:
            parts = [float(p) for p in raw.split(":")]
            return parts[0] * 3600.0 + parts[1] * 60.0 + (parts[2] if len(parts) > 2 else 0.0)
        return float(raw) * 3600.0
    except (ValueError, IndexError):
        raise InpError(f"{f.where(name)} = {raw!r}; expected H:MM[:SS] or decimal hours") from None


def _start(inp: Inp) -> datetime:
    date, time = inp.option("START_DATE", "01/01/2000"), inp.option("START_TIME", "00:00:00")
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(f"{date} {time}", fmt)
        except ValueError:
            pass
    raise InpError(f"{inp.path}: [OPTIONS] START_DATE {date!r} START_TIME {time!r}; expected MM/DD/YYYY and HH:MM:SS")


def _series(inp: Inp, name: str, gauge: _Fields) -> list[tuple[Any, float, Row]]:
    """(time, value, row) of a [TIMESERIES]: times in seconds, or datetimes when dated."""
    out = []
    date = None
    for row in inp.rows("TIMESERIES"):
        if row.tokens[0] != name:
            continue
        f = _Fields(inp, "TIMESERIES", row, ("Name", "Date", "Time", "Value"))
        tokens = row.tokens[1:]
        if tokens and tokens[0].upper() == "FILE":
            raise InpError(f"{f.where()} series {name!r} reads a FILE; give its values in the .inp")
        while tokens:  # a line may hold several (date) time value groups
            if "/" in tokens[0]:
                date, tokens = tokens[0], tokens[1:]
            if len(tokens) < 2:
                raise InpError(f"{f.where('Value')} of series {name!r} is missing; expected [date] time value")
            seconds = _clock(tokens[0], f, "Time")
            try:
                value = float(tokens[1])
            except ValueError:
                raise InpError(f"{f.where('Value')} = {tokens[1]!r} is not a number") from None
            if date is not None:
                try:
                    day = datetime.strptime(date, "%m/%d/%Y")
                except ValueError:
                    raise InpError(f"{f.where('Date')} = {date!r}; expected MM/DD/YYYY") from None
                out.append((datetime.fromtimestamp(day.timestamp() + seconds), value, row))
            else:
                out.append((seconds, value, row))
            tokens = tokens[2:]
    if not out:
        raise InpError(f"{gauge.where('SeriesName')} = {name!r} names no series of [TIMESERIES]")
    return out


# --- writing the scene -------------------------------------------------------------
def write_scene(source: str | Path, scene_dir: str | Path) -> dict[str, Any]:
    """Import the SWMM file ``source`` as a twin scene in ``scene_dir``: scene.toml,
    data/drainage.geojson, data/sensors.csv (a level sensor per junction, a rain gauge
    at the junction nearest the SWMM gauge) and the rain as ``drainage.rain`` incidents.
    Returns counts of what was written (and ``warnings``)."""
    source, root = Path(source), Path(scene_dir)
    net = parse_network(read_inp(source))
    coords = list(net.xy.values())
    # Real files use projected coordinates (hundreds of km); the viewer wants metres near 0.
    x0 = math.floor(min(x for x, _ in coords) / 100.0) * 100.0
    y0 = math.floor(min(y for _, y in coords) / 100.0) * 100.0

    def at(name: str) -> tuple[float, float]:
        x, y = net.xy[name]
        return round(x - x0, 3), round(y - y0, 3)

    features = []
    for name, node in net.manholes.items():
        x, y = at(name)
        rim = node["invert_elevation"] + node["max_depth"]
        props = {"id": name, "kind": "manhole", "owner": OWNER,
                 "invert_elevation": round(node["invert_elevation"], 4), "rim_elevation": round(rim, 4),
                 "shaft_area": round(node["shaft_area"], 4),
                 "catchment_area": round(node["catchment_area"], 6), "runoff_coefficient": round(node["runoff_coefficient"], 6)}
        if node["ponding_area"] > 0.0:
            props["ponding_area"] = round(node["ponding_area"], 3)
        features.append(_feature({"type": "Point", "coordinates": [x, y, round(rim, 3)]}, props))
    for name, node in net.outfalls.items():
        x, y = at(name)
        props = {"id": name, "kind": "outfall", "owner": OWNER, "invert_elevation": round(node["invert_elevation"], 4)}
        if "tailwater_elevation" in node:
            props["tailwater_elevation"] = round(node["tailwater_elevation"], 4)
        features.append(_feature({"type": "Point", "coordinates": [x, y, round(node["invert_elevation"], 3)]}, props))
    nodes = {**net.manholes, **net.outfalls}
    for name, pipe in net.pipes.items():
        up, down = pipe["links"]
        z_up = nodes[up]["invert_elevation"] + pipe["inlet_offset"] + pipe["diameter"] / 2
        z_down = nodes[down]["invert_elevation"] + pipe["outlet_offset"] + pipe["diameter"] / 2
        path = [at(up)] + [(round(x - x0, 3), round(y - y0, 3)) for x, y in net.vertices.get(name, [])] + [at(down)]
        z = [z_up + (z_down - z_up) * k / (len(path) - 1) for k in range(len(path))]
        props = {"id": name, "kind": "pipe", "owner": OWNER, "links": [up, down], "diameter": round(pipe["diameter"], 4),
                 "length": round(pipe["length"], 4), "roughness": pipe["roughness"],
                 "inlet_offset": round(pipe["inlet_offset"], 4), "outlet_offset": round(pipe["outlet_offset"], 4)}
        features.append(_feature({"type": "LineString", "coordinates": [[x, y, round(h, 3)] for (x, y), h in zip(path, z)]},
                                 props))

    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "drainage.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1,
                                                      ensure_ascii=False), encoding="utf-8")
    gauge_at = _gauge_junction(source, net)
    with (data / "sensors.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "asset", "field", "noise", "stale_after"])
        for name in net.manholes:
            writer.writerow([f"LS-{name}", name, "depth", DEPTH_NOISE, 30.0])
        if gauge_at is not None:
            writer.writerow([f"RG-{net.rain_gauge}", gauge_at, "rain_intensity", 0.0, 3600.0])

    title = source.stem
    lines = [
        f"# Imported from {source.name} by `twin import swmm` (SWMM 5 input file).",
        "[scene]", f"name = {json.dumps(_slug(title))}", f"title = {json.dumps(f'{title} (SWMM import)')}",
        'units = "m"', "",
        "[source]", 'format = "swmm"', f"file = {json.dumps(source.name)}", f"offset = [{x0!r}, {y0!r}]", "",
        "[[assets]]", 'domain = "drainage"', 'file = "data/drainage.geojson"', "",
        "[sensors]", 'file = "data/sensors.csv"', "",
    ]
    incidents = 0
    if gauge_at is not None:
        for start, duration, intensity in net.rain:
            if intensity <= 0.0:
                continue  # no rain: the previous interval's rain has already run out
            lines += ["[[incidents]]", f"at = {start!r}", 'action = "drainage.rain"', f"asset = {json.dumps(gauge_at)}",
                      f"params = {{ intensity = {intensity!r}, duration = {duration!r} }}", ""]
            incidents += 1
    (root / "scene.toml").write_text("\n".join(lines), encoding="utf-8")
    return {"manhole": len(net.manholes), "outfall": len(net.outfalls), "pipe": len(net.pipes),
            "sensor": len(net.manholes) + (gauge_at is not None), "rain interval": incidents, "warnings": net.warnings}


def _feature(geometry: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "swmm"


def _gauge_junction(source: Path, net: Network) -> str | None:
    """The junction that carries the rain gauge: nearest the gauge's [SYMBOLS] position,
    or the first junction."""
    if net.rain_gauge is None or not net.manholes:
        return None
    inp = read_inp(source)
    for row in inp.rows("SYMBOLS"):
        if row.tokens[0] == net.rain_gauge and len(row.tokens) >= 3:
            try:
                gx, gy = float(row.tokens[1]), float(row.tokens[2])
            except ValueError:
                break
            return min(net.manholes, key=lambda n: (net.xy[n][0] - gx) ** 2 + (net.xy[n][1] - gy) ** 2)
    return next(iter(net.manholes))


# --- exporting a network -------------------------------------------------------------
def export_inp(assets: Iterable[Any], path: str | Path, *, rain: list[tuple[float, float]] | None = None,
               rain_interval: float = 300.0, duration: float = 3600.0, routing_step: float = 1.0,
               report_step: float = 60.0, width_per_ha: float = 10000.0, slope_percent: float = 50.0, options: dict[str, str] | None = None) -> Path:
    """Write the twin network ``assets`` (scene assets or GeoJSON features of the
    drainage domain) as a SWMM 5 input file in metric units (CMS), dynamic wave.

    Junctions get the manholes' inverts, rims, ponded areas (ALLOW_PONDING YES) and
    MIN_SURFAREA = the first manhole's shaft area; each manhole with a catchment drains
    a subcatchment of its area whose impervious share is C (%Imperv = 100·C) with no
    depression storage, while the pervious share holds its rain (1 m of depression
    storage): SWMM's runoff is then C·i·A at steady state, the twin's rational method.
    ``width_per_ha`` (m) and ``slope_percent`` set the overland flow: wide and steep, so
    that SWMM's nonlinear-reservoir runoff lags the rain by seconds, not minutes.
    ``rain`` is [(start s, intensity mm/h)], each held until the next; it is written
    with a value at every ``rain_interval`` up to ``duration``, because SWMM takes an
    interval with no value as no rain.
    """
    rows = [_props(a) for a in assets]
    manholes = [p for p in rows if p["kind"] == "manhole"]
    outfalls = [p for p in rows if p["kind"] == "outfall"]
    pipes = [p for p in rows if p["kind"] == "pipe"]
    shaft = manholes[0].get("shaft_area", 1.13) if manholes else SWMM_MIN_SURFAREA
    opts = {
        "FLOW_UNITS": "CMS", "INFILTRATION": "HORTON", "FLOW_ROUTING": "DYNWAVE", "LINK_OFFSETS": "DEPTH",
        "START_DATE": "01/01/2024", "START_TIME": "00:00:00", "END_DATE": "01/01/2024",
        "END_TIME": _hms(duration), "REPORT_START_DATE": "01/01/2024", "REPORT_START_TIME": "00:00:00",
        "REPORT_STEP": _hms(report_step), "WET_STEP": "00:00:01", "DRY_STEP": "00:00:01",
        "ROUTING_STEP": f"{routing_step:g}", "ALLOW_PONDING": "YES", "MIN_SURFAREA": f"{shaft:g}",
        "NORMAL_FLOW_LIMITED": "BOTH", "INERTIAL_DAMPING": "PARTIAL", "VARIABLE_STEP": "0",
        "SKIP_STEADY_STATE": "NO", "THREADS": "1",
    }
    if duration >= 86400.0:
        raise ValueError("export_inp: duration must be under a day")
    opts.update(options or {})
    out = ["[TITLE]", "exported by twin_drainage.swmm.export_inp", "", "[OPTIONS]"]
    out += [f"{k:<20} {v}" for k, v in opts.items()]
    out += ["", "[RAINGAGES]", f"RG1 INTENSITY {_hms(rain_interval)[:-3]} 1.0 TIMESERIES rain", ""]
    wet = [p for p in manholes if p.get("catchment_area", 0.0) > 0.0]
    out += ["[SUBCATCHMENTS]"]
    for p in wet:
        area = p["catchment_area"]
        out.append(f"S-{p['id']} RG1 {p['id']} {area:.9g} {100.0 * p.get('runoff_coefficient', 0.7):.9g} "
                   f"{width_per_ha * area:.9g} {slope_percent:g} 0")
    out += ["", "[SUBAREAS]"]
    out += [f"S-{p['id']} 0.011 0.1 0 1000 100 OUTLET" for p in wet]
    out += ["", "[INFILTRATION]"]
    out += [f"S-{p['id']} 0 0 4 7 0" for p in wet]
    out += ["", "[JUNCTIONS]"]
    for p in manholes:
        out.append(f"{p['id']} {p['invert_elevation']:.9g} {p['rim_elevation'] - p['invert_elevation']:.9g} 0 0 "
                   f"{p.get('ponding_area', 100.0):.9g}")
    out += ["", "[OUTFALLS]"]
    for p in outfalls:
        tail = p.get("tailwater_elevation", -1000.0)
        out.append(f"{p['id']} {p['invert_elevation']:.9g} FIXED {tail:.9g} NO" if tail > p["invert_elevation"]
                   else f"{p['id']} {p['invert_elevation']:.9g} NORMAL NO")
    out += ["", "[CONDUITS]"]
    for p in pipes:
        up, down = p["links"]
        out.append(f"{p['id']} {up} {down} {p['length']:.9g} {p.get('roughness', 0.013):.9g} "
                   f"{p.get('inlet_offset', 0.0):.9g} {p.get('outlet_offset', 0.0):.9g} 0 0")
    out += ["", "[XSECTIONS]"]
    out += [f"{p['id']} CIRCULAR {p['diameter']:.9g} 0 0 0 1" for p in pipes]
    out += ["", "[TIMESERIES]"]
    steps = int(math.ceil(duration / rain_interval)) + 1
    schedule = sorted(rain or [(0.0, 0.0)])
    for k in range(steps):
        t = k * rain_interval
        value = 0.0
        for start, intensity in schedule:
            if start <= t + 1e-9:
                value = intensity
        out.append(f"rain {_hms(t)[:-3] if t % 60 == 0 else t / 3600.0:} {value:.9g}")
    out += ["", "[COORDINATES]"]
    for p in manholes + outfalls:
        x, y = p["xy"]
        out.append(f"{p['id']} {x:.3f} {y:.3f}")
    out += ["", "[SYMBOLS]"]
    if manholes:
        x, y = manholes[0]["xy"]
        out.append(f"RG1 {x:.3f} {y:.3f}")
    path = Path(path)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _props(asset: Any) -> dict[str, Any]:
    if isinstance(asset, dict):  # a GeoJSON feature
        props = dict(asset["properties"])
        geometry = asset["geometry"]
    else:  # a twin.types.Asset
        props = {"id": asset.id, "kind": asset.kind, "links": list(asset.links), **asset.attributes}
        geometry = asset.geometry
    coords = geometry["coordinates"]
    props["xy"] = tuple(coords[:2]) if geometry["type"] == "Point" else tuple(coords[0][:2])
    return props


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# --- running SWMM itself (pyswmm, optional) ----------------------------------------
@dataclass
class SwmmRun:
    """What a SWMM run gives the comparisons: peaks, last values, node statistics."""

    peak_depth: dict[str, float]
    peak_flow: dict[str, float]
    final_depth: dict[str, float]
    final_flow: dict[str, float]
    outfall_inflow: dict[str, float]
    #: ``Nodes[id].statistics`` of each junction (flooding_volume m3, surcharge_duration h, ...)
    node_statistics: dict[str, dict[str, float]]
    #: flow routing continuity error reported by SWMM, %
    routing_error: float
    elapsed: float


def run_swmm(inp_path: str | Path, sample_every: float = 1.0) -> SwmmRun:
    """Run SWMM 5 on ``inp_path`` through pyswmm (an optional dependency), sampling every
    node depth and link flow each ``sample_every`` s of simulated time for the peaks."""
    import time

    from pyswmm import Links, Nodes, Simulation, SystemStats

    peak_depth: dict[str, float] = {}
    peak_flow: dict[str, float] = {}
    started = time.perf_counter()
    with Simulation(str(inp_path)) as sim:
        sim.step_advance(max(1, int(round(sample_every))))
        nodes = [(n.nodeid, n) for n in Nodes(sim)]
        links = [(link.linkid, link) for link in Links(sim)]
        for _ in sim:
            for name, node in nodes:
                peak_depth[name] = max(peak_depth.get(name, 0.0), node.depth)
            for name, link in links:
                q = link.flow
                if abs(q) > abs(peak_flow.get(name, 0.0)):
                    peak_flow[name] = q
        final_depth = {name: node.depth for name, node in nodes}
        final_flow = {name: link.flow for name, link in links}
        outfall_inflow = {name: node.total_inflow for name, node in nodes if node.is_outfall()}
        stats = {name: dict(node.statistics) for name, node in nodes if node.is_junction()}
        routing = SystemStats(sim).routing_stats
        error = float(routing.get("routing_error", 0.0)) if isinstance(routing, dict) else 0.0
    return SwmmRun(peak_depth, peak_flow, final_depth, final_flow, outfall_inflow, stats, error,
                   time.perf_counter() - started)
