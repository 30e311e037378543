"""Reading an EPA SWMM 5 input file (``.inp``) whole: its network in the twin's terms,
its hydrology and forcing for :mod:`twin_drainage.hydrology` and
:mod:`twin_drainage.forcing`, and a warning for everything the twin does not model.

The format is the SWMM 5 user's manual's (EPA/600/R-17/040, appendix D). Names live in
three name spaces as in SWMM (nodes, links, subcatchments), so a link may be named like
a node. Every element the twin leaves out or approximates is named once, with its
section and line and what follows from it ("pump P1 (line 80) ignored: the wet well J1
will fill"); ``strict`` turns those warnings into one error that lists them.

Units: the file's (US: ft, acres, in, in/h, CFS/GPM/MGD; SI: m, ha, mm, mm/h,
CMS/LPS/MLD) in, SI out (m, m², s, m³/s; rain in mm/h where the scene keeps it).
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from twin_drainage import hydrology
from twin_drainage.forcing import outfall_stage
from twin_drainage.sections import DYNAMIC_SHAPES, KINDS, swmm_section
from twin_drainage.sections import geometry as section_geometry

#: SWMM's default MIN_SURFAREA, 12.566 ft², in m²
SWMM_MIN_SURFAREA = 1.167
FOOT = 0.3048
ACRE_M2 = 4046.8564224
US_UNITS = ("CFS", "GPM", "MGD")
SI_UNITS = ("CMS", "LPS", "MLD")
#: m³/s per unit of each FLOW_UNITS
FLOW_FACTOR = {"CFS": 0.028316846592, "GPM": 6.30901964e-5, "MGD": 0.0438126364, "CMS": 1.0, "LPS": 0.001,
               "MLD": 0.0115740741}
#: spacing of an automatic layout, m
LAYOUT_SPACING = 40.0
#: sections of water quality, snow, groundwater and the like that the twin does not model
NOT_MODELLED = {
    "POLLUTANTS": "water quality", "LANDUSES": "water quality", "COVERAGES": "water quality",
    "LOADINGS": "water quality", "BUILDUP": "water quality", "WASHOFF": "water quality", "TREATMENT": "water quality",
    "SNOWPACKS": "snow melt", "TEMPERATURE": "snow melt", "AQUIFERS": "groundwater", "GROUNDWATER": "groundwater",
    "GWF": "groundwater", "RDII": "rainfall-dependent infiltration/inflow", "HYDROGRAPHS": "RDII unit hydrographs",
    "ADJUSTMENTS": "monthly adjustments",
}
#: [XSECTIONS] shapes: full area / Geom1² and full hydraulic radius / Geom1 of SWMM's
#: standard shapes of one size parameter (xsect.c tables)
STANDARD_SHAPES = {"EGG": (0.5105, 0.1931), "HORSESHOE": (0.8293, 0.2538), "GOTHIC": (0.6554, 0.2269),
                   "CATENARY": (0.70277, 0.23172), "SEMIELLIPTICAL": (0.785, 0.242),
                   "BASKETHANDLE": (0.7862, 0.2464), "SEMICIRCULAR": (1.2697, 0.2946)}


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
    if not inp.rows("JUNCTIONS") and not inp.rows("OUTFALLS") and not inp.rows("STORAGE"):
        raise InpError(f"{path}: no [JUNCTIONS], [OUTFALLS] or [STORAGE]: not a SWMM input file with a network")
    return inp


def _split(line: str) -> list[str]:
    # Names may be quoted when they hold spaces (SWMM 5.2).
    return [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', line)]


@dataclass
class Fields:
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
        if raw == "*" and default is not None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InpError(f"{self.where(name)} = {raw!r} is not a number") from None
        if not math.isfinite(value) or value < low or (positive and value <= 0.0):
            need = "> 0" if positive else f">= {low}"
            raise InpError(f"{self.where(name)} = {raw!r}; expected a number {need}")
        return value


def clock(raw: str, f: Fields, name: str) -> float:
    """Seconds of an ``H:MM[:SS]`` or decimal-hours time."""
    try:
        if ":" in raw:
            parts = [float(p) for p in raw.split(":")]
            return parts[0] * 3600.0 + parts[1] * 60.0 + (parts[2] if len(parts) > 2 else 0.0)
        return float(raw) * 3600.0
    except (ValueError, IndexError):
        raise InpError(f"{f.where(name)} = {raw!r}; expected H:MM[:SS] or decimal hours") from None


def _date(inp: Inp, date_key: str, time_key: str, default_date: str) -> datetime:
    date, time = inp.option(date_key, default_date), inp.option(time_key, "00:00:00")
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(f"{date} {time}", fmt)
        except ValueError:
            pass
    raise InpError(f"{inp.path}: [OPTIONS] {date_key} {date!r} {time_key} {time!r}; expected MM/DD/YYYY and HH:MM[:SS]")


def _option_seconds(inp: Inp, name: str, default: float) -> float:
    raw = inp.option(name, "")
    if not raw:
        return default
    try:
        if ":" in raw:
            parts = [float(p) for p in raw.split(":")]
            return parts[0] * 3600.0 + parts[1] * 60.0 + (parts[2] if len(parts) > 2 else 0.0)
        return float(raw)
    except (ValueError, IndexError):
        raise InpError(f"{inp.path}: [OPTIONS] {name} {raw!r}; expected seconds or HH:MM:SS") from None


@dataclass
class Network:
    """A drainage network read from a ``.inp``, in SI units (see the module docstring)."""

    #: junctions, storage units and dividers: invert_elevation, max_depth (to where it
    #: floods), shaft_area, ponding_area (0: flooding is lost), kind, line
    manholes: dict[str, dict[str, Any]]
    #: invert_elevation, optional tailwater_elevation, line
    outfalls: dict[str, dict[str, Any]]
    #: conduits as circular pipes: links, diameter, length, roughness, offsets, reversed, line
    pipes: dict[str, dict[str, Any]]
    #: pumps, weirs, orifices and outlets: kind, links, and their parameters in SI
    #: (see _regulator)
    regulators: dict[str, dict[str, Any]]
    #: links of the file that the twin does not route: name -> kind
    ignored_links: dict[str, str]
    xy: dict[str, tuple[float, float]]
    vertices: dict[str, list[tuple[float, float]]]
    #: :mod:`twin_drainage.hydrology` and :mod:`twin_drainage.forcing` input, JSON-able
    hydrology: dict[str, Any]
    #: the run: start (datetime), duration (s), routing step (s), flow routing, ...
    options: dict[str, Any]
    warnings: list[str]


class _Warnings(list):
    """The import's warnings, each once."""

    def add(self, text: str) -> None:
        if text not in self:
            self.append(text)


def parse_network(inp: Inp) -> Network:
    """The network, hydrology and forcing of a ``.inp`` in the twin's units, with a
    warning for each element or option the twin leaves out or approximates."""
    units = inp.option("FLOW_UNITS", "CFS").upper()
    if units not in US_UNITS + SI_UNITS:
        raise InpError(f"{inp.path}: [OPTIONS] FLOW_UNITS {units!r}; valid: {', '.join(SI_UNITS + US_UNITS)}")
    us = units in US_UNITS
    length = FOOT if us else 1.0
    flow = FLOW_FACTOR[units]
    warnings = _Warnings()
    offsets = inp.option("LINK_OFFSETS", "DEPTH").upper()
    if offsets not in ("DEPTH", "ELEVATION"):
        raise InpError(f"{inp.path}: [OPTIONS] LINK_OFFSETS {offsets!r}; valid: DEPTH, ELEVATION")
    min_area_raw = inp.option("MIN_SURFAREA", "0")
    try:
        min_area = float(min_area_raw) * length**2
    except ValueError:
        raise InpError(f"{inp.path}: [OPTIONS] MIN_SURFAREA {min_area_raw!r} is not a number") from None
    shaft = min_area if min_area > 0.0 else SWMM_MIN_SURFAREA
    ponding = inp.option("ALLOW_PONDING", "NO").upper() == "YES"
    routing = inp.option("FLOW_ROUTING", "KINWAVE").upper()
    if routing not in ("DYNWAVE", "KINWAVE", "STEADY"):
        raise InpError(f"{inp.path}: [OPTIONS] FLOW_ROUTING {routing!r}; valid: DYNWAVE, KINWAVE, STEADY")
    if routing == "STEADY":
        warnings.add("[OPTIONS] FLOW_ROUTING STEADY: the twin routes this network by the kinematic wave (steady flow "
                     "passes each inflow through at once; the kinematic wave delays and attenuates it)")
        routing = "KINWAVE"
    start = _date(inp, "START_DATE", "START_TIME", "01/01/2000")
    end = _date(inp, "END_DATE", "END_TIME", inp.option("START_DATE", "01/01/2000"))
    # SWMM's statistics (peaks, flooding, surcharge) start at the report start
    # (stats.c stats_updateFlowStats: none before ReportStart), which is the start unless
    # both its date and time are given (project.c: NO_DATE + either, then the later of it
    # and the start)
    report_start = start
    if inp.option("REPORT_START_DATE", "") and inp.option("REPORT_START_TIME", ""):
        report_start = max(_date(inp, "REPORT_START_DATE", "REPORT_START_TIME", "01/01/2000"), start)
    duration = (end - start).total_seconds()
    if duration <= 0.0:
        raise InpError(f"{inp.path}: [OPTIONS] END_DATE/END_TIME {end} is not after START_DATE/START_TIME {start}")

    manholes: dict[str, dict[str, Any]] = {}
    outfalls: dict[str, dict[str, Any]] = {}
    node_line: dict[str, int] = {}
    #: SWMM's names are case-insensitive: each node's name by its upper case
    node_key: dict[str, str] = {}

    def fresh_node(f: Fields, name: str) -> str:
        if name.upper() in node_key:
            raise InpError(f"{f.where('Name')} = {name!r} is already a node at line {node_line[node_key[name.upper()]]}")
        node_line[name] = f.row.line
        node_key[name.upper()] = name
        return name

    def junction(f: Fields, name: str, kind: str, depth: float, surcharge: float, aponded: float) -> dict[str, Any]:
        return {"line": f.row.line, "kind": kind, "invert_elevation": f.number("Elevation") * length,
                "max_depth": depth * length, "surcharge_depth": surcharge * length,
                # SWMM floods a node only with ALLOW_PONDING YES and a ponded area; else the water is lost
                "ponding_area": aponded * length**2 if ponding else 0.0, "shaft_area": shaft}

    for row in inp.rows("JUNCTIONS"):
        f = Fields(inp, "JUNCTIONS", row, ("Name", "Elevation", "MaxDepth", "InitDepth", "SurDepth", "Aponded"))
        name = fresh_node(f, f.text("Name"))
        manholes[name] = junction(f, name, "junction", f.number("MaxDepth", 0.0, low=0.0),
                                  f.number("SurDepth", 0.0, low=0.0), f.number("Aponded", 0.0, low=0.0))
        if f.number("InitDepth", 0.0, low=0.0) > 0.0:
            warnings.add(f"junction {name!r} (line {row.line}) starts dry in the twin, not at its InitDepth")
    for row in inp.rows("DIVIDERS"):
        f = Fields(inp, "DIVIDERS", row, ("Name", "Elevation", "DivLink", "Type"))
        name = fresh_node(f, f.text("Name"))
        tokens = row.tokens
        # the depths follow the type's own parameters: CUTOFF/OVERFLOW 1, TABULAR 1, WEIR 3
        kind = f.text("Type").upper()
        extra = {"OVERFLOW": 0, "CUTOFF": 1, "TABULAR": 1, "WEIR": 3}.get(kind, 0)
        rest = tokens[4 + extra:]
        vals = [float(t) for t in rest[:4]] + [0.0] * 4
        manholes[name] = junction(f, name, "divider", vals[0], vals[2], vals[3])
        warnings.add(f"divider {name!r} (line {row.line}) is a junction in the twin: its flow splits by the "
                     f"hydraulics of its links, not by its {kind} rule into {f.text('DivLink')!r}")
    for row in inp.rows("STORAGE"):
        f = Fields(inp, "STORAGE", row, ("Name", "Elevation", "MaxDepth", "InitDepth", "Shape", "P1", "P2", "P3",
                                         "P4"))
        name = fresh_node(f, f.text("Name"))
        depth = f.number("MaxDepth", low=0.0)
        shape = f.text("Shape").upper()
        area, varies, surcharge, rest = _storage_area(inp, f, shape, depth, us)
        node = junction(f, name, "storage", depth, surcharge, 0.0)
        node["shaft_area"] = area
        node["ponding_area"] = 0.0  # a storage unit's overflow is lost (SWMM)
        manholes[name] = node
        if surcharge > 0.0 and inp.option("SURCHARGE_METHOD", "EXTRAN").upper() == "EXTRAN":
            warnings.add(f"storage {name!r} (line {row.line}): its surcharge depth is held as storage of its area; "
                         "SWMM's EXTRAN keeps none above its full depth, so its head rises more slowly there")
        if shape == "TABULAR" and routing == "DYNWAVE":
            # the dynamic wave holds the curve itself (model.storage_curve_points); its
            # mean area stays the shaft area (the router's step and regulators' gains)
            node["storage_curve"] = [[d * length, a * length**2] for d, a in sorted(_curve(inp, f.text("P1"), f))]
        elif varies:
            warnings.add(f"storage {name!r} (line {row.line}): its {shape.lower()} area curve is held at the mean "
                         f"area {area:.4g} m² (the same volume when full); depths differ while it fills")
        # rest: Fevap, then Ksat alone or suction, Ksat, IMDmax (SWMM's exfil.c)
        if rest and _is_number(rest[0]) and float(rest[0]) > 0.0 and _evaporates(inp):
            warnings.add(f"storage {name!r} (line {row.line}): evaporation from it is not modelled")
        seep = [float(t) for t in rest[1:4] if _is_number(t)]
        seep = seep if len(seep) == 3 else [0.0, seep[0], 0.0] if seep else []
        if seep and seep[1] > 0.0:
            if routing != "KINWAVE":
                warnings.add(f"storage {name!r} (line {row.line}): its seepage into the soil is not modelled under "
                             "the dynamic wave; it holds that water")
            else:
                node["seepage"] = {"area": area, "params": hydrology.infiltration_params("MODIFIED_GREEN_AMPT", seep,
                                                                                          us)}
                if varies:
                    warnings.add(f"storage {name!r} (line {row.line}): it seeps through its mean area {area:.4g} m², "
                                 "not through its bottom and banks")
    for row in inp.rows("OUTFALLS"):
        f = Fields(inp, "OUTFALLS", row, ("Name", "Elevation", "Type", "StageData", "Gated", "RouteTo"))
        name = fresh_node(f, f.text("Name"))
        kind = f.text("Type", "FREE").upper()
        out: dict[str, Any] = {"line": row.line, "invert_elevation": f.number("Elevation") * length}
        gated_at = 4  # Name Elevation Type StageData Gated
        if kind == "FIXED":
            out["tailwater_elevation"] = f.number("StageData") * length
        elif kind == "TIMESERIES":
            # the stage (an elevation) over the run, s from the start; SWMM holds the ends
            series = f.text("StageData")
            times, values = _series(inp, series, [r for r in inp.rows("TIMESERIES")
                                                  if r.tokens[0].upper() == series.upper()], start, f)
            out["stage"] = {"kind": kind, "t": times, "z": [v * length for v in values]}
        elif kind == "TIDAL":
            # a TIDAL curve: stage against the hour (node.c: the curve's first hour plus the
            # hours since the run's start, modulo a day)
            points = _curve(inp, f.text("StageData"), f)
            out["stage"] = {"kind": kind, "x": [x for x, _ in points], "z": [z * length for _, z in points]}
        elif kind in ("FREE", "NORMAL"):
            gated_at = 3  # no StageData
        else:
            raise InpError(f"{f.where('Type')} = {kind!r}; valid: FREE, NORMAL, FIXED, TIDAL, TIMESERIES")
        if "stage" in out:
            out["tailwater_elevation"] = outfall_stage(out["stage"], 0.0)
        tokens = row.tokens
        if len(tokens) > gated_at and tokens[gated_at].upper() == "YES":
            out["flap"] = True  # no water back in from the receiving water
        outfalls[name] = out

    # --- links -----------------------------------------------------------------------
    link_line: dict[str, int] = {}
    link_ends: dict[str, tuple[str, str]] = {}

    def fresh_link(f: Fields, name: str) -> str:
        if name.upper() in link_line:
            raise InpError(f"{f.where('Name')} = {name!r} is already a link at line {link_line[name.upper()]}")
        link_line[name.upper()] = f.row.line
        return name

    def ends(f: Fields) -> tuple[str, str]:
        found = []
        for label in ("FromNode", "ToNode"):
            node = f.text(label)
            if node.upper() not in node_key:
                raise InpError(f"{f.where(label)} = {node!r} is not a node of the file")
            found.append(node_key[node.upper()])
        return found[0], found[1]

    sections: dict[str, Row] = {}
    for row in inp.rows("XSECTIONS"):
        sections[row.tokens[0].upper()] = row
    ignored: dict[str, str] = {}
    regulators: dict[str, dict[str, Any]] = {}
    curves = _curves(inp)
    for section in ("PUMPS", "WEIRS", "ORIFICES", "OUTLETS"):
        for row in inp.rows(section):
            f = Fields(inp, section, row, ("Name", "FromNode", "ToNode"))
            name = fresh_link(f, f.text("Name"))
            up, down = ends(f)
            link_ends[name] = (up, down)
            node = {**manholes, **outfalls}
            regulators[name] = _regulator(inp, section, row, up, down, sections.get(name.upper()), curves, us, flow,
                                          offsets == "ELEVATION", node, warnings)

    pipes: dict[str, dict[str, Any]] = {}
    for row in inp.rows("CONDUITS"):
        f = Fields(inp, "CONDUITS", row, ("Name", "FromNode", "ToNode", "Length", "Roughness", "InOffset", "OutOffset",
                                          "InitFlow", "MaxFlow"))
        name = fresh_link(f, f.text("Name"))
        up, down = ends(f)
        link_ends[name] = (up, down)
        if name.upper() not in sections:
            raise InpError(f"{f.where('Name')} = {name!r} has no row in [XSECTIONS]")
        node = {**manholes, **outfalls}

        def offset(label: str, at: str) -> float:
            raw = f.text(label, "0")
            if raw == "*":
                return 0.0
            value = f.number(label, 0.0) * length
            if offsets == "ELEVATION":
                value -= node[at]["invert_elevation"]
            if value < -1e-6:
                warnings.add(f"conduit {name!r} (line {row.line}): {label} lies below node {at!r}'s invert; "
                             "taken as 0, as SWMM does")
            return max(value, 0.0)

        pipe = {"line": row.line, "links": [up, down], "length": f.number("Length", positive=True) * length,
                "inlet_offset": offset("InOffset", up), "outlet_offset": offset("OutOffset", down), "reversed": False}
        n = f.number("Roughness", positive=True)
        diameter, roughness, section = _circular_equivalent(inp, sections[name.upper()], n, us, name, warnings,
                                                            exact="KINWAVE" if routing == "KINWAVE" else "DYNWAVE")
        pipe["diameter"], pipe["roughness"] = diameter, roughness
        if section is not None:
            pipe["section"] = section
        culvert = _culvert(inp, sections[name.upper()], us, name, routing, warnings)
        if culvert is not None:
            pipe["culvert"] = culvert
        if f.number("MaxFlow", 0.0) > 0.0:
            warnings.add(f"conduit {name!r} (line {row.line}): its MaxFlow limit is not applied")
        if up in outfalls:
            if down in outfalls:
                raise InpError(f"{f.where('ToNode')}: conduit {name!r} joins two outfalls; one end must be a junction")
            # SWMM lets an outfall sit at either end of its one link; the twin's pipes end
            # at an outfall, so the pipe is turned round (its flow's sign with it)
            pipe["links"] = [down, up]
            pipe["inlet_offset"], pipe["outlet_offset"] = pipe["outlet_offset"], pipe["inlet_offset"]
            pipe["reversed"] = True
            if pipe.pop("culvert", None) is not None:
                warnings.add(f"conduit {name!r} (line {row.line}): the inlet control of a culvert drawn from an "
                             "outfall is not modelled; its flow is not limited by its inlet")
        pipes[name] = pipe
    # [LOSSES]: entry, exit and average loss coefficients and a flap gate (SWMM's dynamic
    # wave uses them; its kinematic wave has no losses and no reverse flow)
    pipe_key = {n.upper(): n for n in pipes}
    for r in inp.rows("LOSSES"):
        f = Fields(inp, "LOSSES", r, ("Link", "Kentry", "Kexit", "Kavg", "FlapGate", "Seepage"))
        name = pipe_key.get(f.text("Link").upper())
        if name is None:
            warnings.add(f"{f.where('Link')} = {f.text('Link')!r}: no conduit of that name; the row is left out")
            continue
        pipe = pipes[name]
        k_in, k_out, k_avg = (f.number(n, 0.0, low=0.0) for n in ("Kentry", "Kexit", "Kavg"))
        if pipe["reversed"]:
            k_in, k_out = k_out, k_in
        if k_in or k_out or k_avg:
            pipe["losses"] = [k_in, k_out, k_avg]
        if len(r.tokens) > 4 and r.tokens[4].upper() == "YES":
            if pipe["reversed"]:
                warnings.add(f"conduit {name!r} ([LOSSES] line {r.line}): a flap gate on a conduit drawn from an "
                             "outfall is not modelled; water may flow back through it")
            else:
                pipe["flap"] = True
        if f.number("Seepage", 0.0) != 0.0:
            warnings.add(f"conduit {name!r} ([LOSSES] line {r.line}): its seepage loss is not modelled")

    # MaxDepth 0: the node is as deep as the crown of its highest link (SWMM's rule).
    for name, node in manholes.items():
        if node["max_depth"] <= 0.0:
            crowns = [p["diameter"] + (p["inlet_offset"] if p["links"][0] == name else p["outlet_offset"])
                      for p in pipes.values() if name in p["links"]]
            node["max_depth"] = max(crowns) if crowns else 1.0
            if not crowns:
                warnings.add(f"node {name!r} (line {node['line']}): MaxDepth 0 and no conduit; taken as 1 m deep")
        # SWMM floods a node above its full depth plus the surcharge depth
        node["max_depth"] += node.pop("surcharge_depth")

    xy, vertices = _positions(inp, node_line, node_key, link_ends, warnings)
    hydro = _hydrology(inp, us, flow, start, duration, manholes, outfalls, node_key, warnings)
    for section, what in NOT_MODELLED.items():
        if inp.rows(section):
            warnings.add(f"[{section}] line {inp.rows(section)[0].line}: {what} is not modelled")
    inlets = _inlets(inp, pipes, manholes, regulators, us, flow, routing, warnings)
    # the dynamic wave's momentum options: model.route follows the damping and the
    # surcharge method (EXTRAN: a surcharged junction takes its head from its flows;
    # SLOT: it keeps a storage, the router's own scheme)
    damping = inp.option("INERTIAL_DAMPING", "PARTIAL").upper()
    if damping not in ("NONE", "PARTIAL", "FULL"):
        raise InpError(f"{inp.path}: [OPTIONS] INERTIAL_DAMPING {damping!r}; valid: NONE, PARTIAL, FULL")
    surcharge = inp.option("SURCHARGE_METHOD", "EXTRAN").upper()
    if surcharge not in ("EXTRAN", "SLOT"):
        raise InpError(f"{inp.path}: [OPTIONS] SURCHARGE_METHOD {surcharge!r}; valid: EXTRAN, SLOT")
    options = {"start": start, "duration": duration, "flow_routing": routing, "allow_ponding": ponding,
               "inertial_damping": damping, "surcharge_method": surcharge,
               "routing_step": _option_seconds(inp, "ROUTING_STEP", 20.0), "units": units,
               "min_slope": _min_slope(inp),
               "report_step": _option_seconds(inp, "REPORT_STEP", 900.0), "inlets": inlets,
               "report_start": max((report_start - start).total_seconds(), 0.0)}
    for name, reg in regulators.items():
        if reg["links"][0] in outfalls:
            raise InpError(f"{inp.path}: line {reg['line']}: {reg['kind']} {name!r} draws from outfall "
                           f"{reg['links'][0]!r}; a regulator's inlet must be a junction or storage unit")
    _simple_controls(inp, regulators, manholes, length, warnings)
    return Network(manholes, outfalls, pipes, regulators, ignored, xy, vertices, hydro, options, list(warnings))


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _curve(inp: Inp, name: str, f: Fields) -> list[tuple[float, float]]:
    points = []
    for row in inp.rows("CURVES"):
        if row.tokens[0].upper() != name.upper():
            continue
        numbers = [t for t in row.tokens[1:] if _is_number(t)]
        for k in range(0, len(numbers) - 1, 2):
            points.append((float(numbers[k]), float(numbers[k + 1])))
    if not points:
        raise InpError(f"{f.where()} names curve {name!r}, which [CURVES] does not hold")
    return points


def _storage_area(inp: Inp, f: Fields, shape: str, depth: float, us: bool) -> tuple[float, bool, float, list[str]]:
    """(mean plan area m², whether it varies, surcharge depth (file units), the remaining
    tokens) of a storage unit, SWMM 5.1 and 5.2 layouts."""
    length = FOOT if us else 1.0
    tokens = f.row.tokens
    if shape == "TABULAR":
        points = sorted(_curve(inp, f.text("P1"), f))
        rest = tokens[6:]
        volume = 0.0
        for (d0, a0), (d1, a1) in zip(points, points[1:]):
            lo, hi = min(d0, depth), min(d1, depth)
            if hi > lo:
                a_hi = a0 + (a1 - a0) * (hi - d0) / (d1 - d0)
                volume += 0.5 * (a0 + a_hi) * (hi - lo)
        if depth > points[-1][0]:
            volume += points[-1][1] * (depth - points[-1][0])
        mean = volume / depth if depth > 0 else points[0][1]
        varies = len({a for _, a in points}) > 1
    elif shape == "FUNCTIONAL":
        a, b, c = (float(t) for t in (tokens[5:8] + ["0", "0", "0"])[:3])
        rest = tokens[8:]
        # SWMM 5.2: area = a·d^b + c (Vol. II §2.3); the mean over the depth
        mean = a * depth**b / (b + 1.0) + c if depth > 0 else a + c
        varies = a != 0.0 and b != 0.0
    elif shape in ("CYLINDRICAL", "CONICAL", "PARABOLOID", "PYRAMIDAL"):
        length_major, width, slope = (float(t) for t in (tokens[5:8] + ["0", "0", "0"])[:3])
        rest = tokens[8:]
        base = {"CYLINDRICAL": math.pi / 4.0 * length_major * width, "PYRAMIDAL": length_major * width}.get(
            shape, math.pi / 4.0 * length_major * width)
        mean = base
        varies = shape != "CYLINDRICAL" and slope != 0.0
    else:
        raise InpError(f"{f.where('Shape')} = {shape!r}; valid: FUNCTIONAL, TABULAR, CYLINDRICAL, CONICAL, "
                       "PARABOLOID, PYRAMIDAL")
    surcharge = float(rest[0]) if rest and _is_number(rest[0]) else 0.0
    return max(mean * length**2, 0.01), varies, surcharge, rest[1:]


def _evaporates(inp: Inp) -> bool:
    """Whether [EVAPORATION] gives any evaporation (a CONSTANT above 0, or another form)."""
    for row in inp.rows("EVAPORATION"):
        kind = row.tokens[0].upper()
        if kind == "CONSTANT":
            return len(row.tokens) > 1 and _is_number(row.tokens[1]) and float(row.tokens[1]) > 0.0
        if kind in ("MONTHLY", "TIMESERIES", "TEMPERATURE", "FILE"):
            return True
    return False


def _min_slope(inp: Inp) -> float:
    """[OPTIONS] MIN_SLOPE (given in %) as a slope (m/m); 0 when absent."""
    raw = inp.option("MIN_SLOPE", "0")
    if not _is_number(raw) or float(raw) < 0.0:
        raise InpError(f"{inp.path}: [OPTIONS] MIN_SLOPE {raw!r}; expected a slope in % >= 0")
    return float(raw) / 100.0


def _circular_equivalent(inp: Inp, row: Row, n: float, us: bool, name: str, warnings: _Warnings,
                         exact: str = "") -> tuple[float, float, dict[str, Any] | None]:
    """(diameter m, roughness, section) of the circular pipe that stands for a conduit's
    section: as tall as the section, with a roughness that gives the same full-flow
    conveyance A·R^(2/3)/n (barrels included). With ``exact`` "KINWAVE", a shape of
    twin_drainage.sections.KINDS also comes back as its true section (shape, geom in
    metres, barrels, roughness), which the kinematic wave routes instead; with "DYNWAVE",
    a shape of DYNAMIC_SHAPES (a CIRCULAR one with several barrels) comes back so, as
    (its height, its own roughness, section), which the dynamic wave routes; else None."""
    length = FOOT if us else 1.0
    f = Fields(inp, "XSECTIONS", row, ("Link", "Shape", "Geom1", "Geom2", "Geom3", "Geom4", "Barrels", "Culvert"))
    shape = f.text("Shape").upper()
    barrels = f.number("Barrels", 1.0, low=1.0) if len(row.tokens) > 6 and _is_number(row.tokens[6]) else 1.0
    if shape == "CUSTOM" and exact == "DYNWAVE":
        # Geom1 the full height, Geom2 a SHAPE curve of width against height over it (link.c)
        h = f.number("Geom1", positive=True) * length
        curve = _curves(inp).get(f.text("Geom2").upper())
        if curve is None:
            raise InpError(f"{f.where('Geom2')} = {f.text('Geom2')!r} is not a curve of [CURVES]")
        try:
            swmm_section("CUSTOM", [h], np.array([h]), curve["points"])
        except ValueError as exc:
            raise InpError(f"{f.where('Geom2')}: {exc}") from None
        return h, n, {"shape": "CUSTOM", "geom": [h, 0.0, 0.0, 0.0], "curve": curve["points"], "barrels": barrels,
                      "roughness": n}
    if shape == "STREET" and exact == "DYNWAVE":
        # Geom1 names a [STREETS] section (street.c street_readParams); the conduit takes
        # the street's roadway n (link.c conduit_validate)
        street = _streets(inp).get(f.text("Geom1").upper())
        if street is None:
            raise InpError(f"{f.where('Geom1')} = {f.text('Geom1')!r} is not a street of [STREETS]")
        geom = [v * length if k in (0, 1, 4, 5, 7) else v for k, v in enumerate(street)]
        try:
            h = swmm_section("STREET", geom, None)[0]
        except ValueError as exc:
            raise InpError(f"{f.where('Geom1')}: {exc}") from None
        # the scene keeps a pipe's height to 0.1 mm: the street's heights and slopes scaled
        # by at most 5e-5 m over its full depth so that its section is that height exactly
        scale = round(h, 4) / h
        geom = [v * scale if k in (1, 2, 4, 8) else v for k, v in enumerate(geom)]
        h = swmm_section("STREET", geom, None)[0]
        return h, street[3], {"shape": "STREET", "geom": geom, "barrels": barrels, "roughness": street[3]}
    if shape in ("IRREGULAR", "STREET", "CUSTOM"):
        depth = 1.0
        if shape == "CUSTOM" and _is_number(f.text("Geom1")):
            depth = float(f.text("Geom1")) * length
        warnings.add(f"conduit {name!r} ([XSECTIONS] line {row.line}): its {shape} section is not read; it is a "
                     f"{depth:g} m circular pipe of the same roughness, so its capacity differs")
        return depth, n, None
    g = [f.number("Geom1", positive=True) * length] + [
        (float(t) if _is_number(t) else 0.0) for t in (row.tokens[3:6] + ["0", "0", "0"])[:3]]
    h = g[0]
    w, s3, s4 = g[1] * length, g[2], g[3]
    if shape in ("CIRCULAR", "FORCE_MAIN"):
        area, radius = math.pi / 4.0 * h * h, h / 4.0
    elif shape == "FILLED_CIRCULAR":
        fill = min(g[1] * length, 0.99 * h)
        theta = 2.0 * math.acos(1.0 - 2.0 * fill / h)
        lost = h * h / 8.0 * (theta - math.sin(theta))
        area = math.pi / 4.0 * h * h - lost
        perimeter = math.pi * h - h * theta / 2.0 + h * math.sin(theta / 2.0)
        radius = area / perimeter
    elif shape in ("RECT_CLOSED", "RECT_ROUND"):
        area, radius = w * h, w * h / (2.0 * (w + h))
    elif shape == "RECT_OPEN":
        area, radius = w * h, w * h / (w + 2.0 * h)
    elif shape == "RECT_TRIANGULAR":
        tri = min(g[2] * length, h)
        area = w * h - 0.5 * w * tri
        perimeter = 2.0 * (h - tri) + 2.0 * math.hypot(tri, w / 2.0) + w
        radius = area / perimeter
    elif shape == "TRAPEZOIDAL":
        area = h * (w + 0.5 * h * (s3 + s4))
        radius = area / (w + h * (math.sqrt(1 + s3 * s3) + math.sqrt(1 + s4 * s4)))
    elif shape == "TRIANGULAR":
        area = 0.5 * h * w
        radius = area / (2.0 * math.hypot(h, w / 2.0))
    elif shape in ("HORIZ_ELLIPSE", "VERT_ELLIPSE", "ARCH", "PARABOLIC", "POWER", "MODBASKETHANDLE"):
        wide = w if w > 0.0 else h
        area = math.pi / 4.0 * h * wide
        a, b = h / 2.0, wide / 2.0
        perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
        radius = area / perimeter
    elif shape in STANDARD_SHAPES:
        fa, fr = STANDARD_SHAPES[shape]
        area, radius = fa * h * h, fr * h
    elif shape == "DUMMY":
        warnings.add(f"conduit {name!r} ([XSECTIONS] line {row.line}): a DUMMY link is a 1 m circular pipe in the twin")
        return 1.0, n, None
    else:
        raise InpError(f"{f.where('Shape')} = {shape!r} is not a SWMM cross-section shape")
    circle_area, circle_radius = math.pi / 4.0 * h * h, h / 4.0
    section = None
    if exact == "DYNWAVE" and shape in DYNAMIC_SHAPES and (shape != "CIRCULAR" or barrels != 1.0):
        # lengths in metres (RECT_TRIANGULAR's Geom3, FILLED_CIRCULAR's Geom2 too); slopes,
        # side counts and size codes as given; an ARCH or ELLIPSE of Geom2 0 has its size
        # code in Geom1 (xsect.c xsect_setParams)
        geom = [h, w, s3 * length if shape == "RECT_TRIANGULAR" else s3, s4]
        if shape in ("ARCH", "HORIZ_ELLIPSE", "VERT_ELLIPSE") and g[1] == 0.0:
            geom[2] = g[0] / length
        try:
            height = swmm_section(shape, geom, None)[0]
            swmm_section(shape, geom, np.array([height]))  # its widths and slopes checked
        except ValueError as exc:
            raise InpError(f"{f.where('Shape')}: {exc}") from None
        return height, n, {"shape": shape, "geom": geom, "barrels": barrels, "roughness": n}
    if exact == "KINWAVE" and shape in KINDS:
        # SWMM's lengths in metres: RECT_TRIANGULAR's Geom3 is its bottom's height; the
        # other Geom3/Geom4 are slopes or a count of sides
        geom = [h, w, s3 * length if shape == "RECT_TRIANGULAR" else s3, s4]
        section = {"shape": shape, "geom": geom, "barrels": barrels, "roughness": n}
        try:
            section_geometry(shape, *geom)
        except ValueError as exc:
            raise InpError(f"{f.where('Shape')}: {exc}") from None
    elif shape != "CIRCULAR" or barrels != 1.0:
        what = f"{int(barrels)} barrels of {shape}" if barrels != 1.0 else shape
        warnings.add(f"conduit {name!r} ([XSECTIONS] line {row.line}): {what} is a {h:.4g} m circular pipe of the "
                     "same full-flow capacity; its storage and partly-full flows differ")
    conveyance = barrels * area * radius ** (2.0 / 3.0)
    return h, n * circle_area * circle_radius ** (2.0 / 3.0) / conveyance, section


def _culvert(inp: Inp, row: Row, us: bool, name: str, routing: str, warnings: _Warnings) -> dict[str, Any] | None:
    """A conduit's culvert code ([XSECTIONS] Culvert, 1-57) with what its inlet control
    needs (twin_drainage.culvert; model.build_network): code, barrels, one barrel's full
    depth and area (m, m²), its shape and geom in metres. None without a code."""
    tokens = row.tokens
    if len(tokens) < 8 or tokens[7] in ("*", "0") or not _is_number(tokens[7]):
        return None
    code = int(float(tokens[7]))
    if not 1 <= code <= 57:
        raise InpError(f"{inp.path}: line {row.line}: [XSECTIONS] {name!r} culvert code {tokens[7]!r}; valid: 1 to 57 "
                       "(FHWA HDS-5's inlet types, SWMM's culvert.c)")
    if routing != "DYNWAVE":
        return None  # SWMM applies inlet control in its dynamic wave only (dwflow.c)
    length = FOOT if us else 1.0
    shape = tokens[1].upper()
    geom = [float(t) if _is_number(t) else 0.0 for t in (tokens[2:6] + ["0"] * 4)[:4]]
    h, w = geom[0] * length, geom[1] * length
    barrels = float(tokens[6]) if _is_number(tokens[6]) and float(tokens[6]) >= 1.0 else 1.0
    if shape in KINDS:
        g = [h, w, geom[2] * length if shape == "RECT_TRIANGULAR" else geom[2], geom[3]]
        a_full = float(section_geometry(shape, *g)[1])
    else:
        g = [h, 0.0, 0.0, 0.0]
        a_full = math.pi / 4.0 * h * h
        if shape not in ("CIRCULAR", "FORCE_MAIN"):
            warnings.add(f"conduit {name!r} ([XSECTIONS] line {row.line}): its culvert inlet control is taken on a "
                         f"{h:.4g} m circle, not its {shape} section")
    return {"code": code, "barrels": barrels, "y_full": h, "a_full": a_full, "shape": shape, "geom": g}


def _positions(inp: Inp, node_line: dict[str, int], node_key: dict[str, str], link_ends: dict[str, tuple[str, str]],
               warnings: _Warnings) -> tuple[dict[str, tuple[float, float]], dict[str, list[tuple[float, float]]]]:
    """Node positions in metres: [COORDINATES] in the [MAP]'s units, and a layout for the
    nodes without one."""
    units = "NONE"
    for row in inp.rows("MAP"):
        if row.tokens[0].upper() == "UNITS" and len(row.tokens) > 1:
            units = row.tokens[1].upper()
    scale = {"FEET": FOOT, "METERS": 1.0, "NONE": 1.0, "DEGREES": 1.0}.get(units)
    if scale is None:
        raise InpError(f"{inp.path}: [MAP] UNITS {units!r}; valid: FEET, METERS, DEGREES, NONE")
    raw: dict[str, tuple[float, float]] = {}
    for row in inp.rows("COORDINATES"):
        f = Fields(inp, "COORDINATES", row, ("Node", "X", "Y"))
        if f.text("Node").upper() in node_key:
            raw[node_key[f.text("Node").upper()]] = (f.number("X"), f.number("Y"))
    raw_vertices: dict[str, list[tuple[float, float]]] = {}
    for row in inp.rows("VERTICES"):
        f = Fields(inp, "VERTICES", row, ("Link", "X", "Y"))
        raw_vertices.setdefault(f.text("Link"), []).append((f.number("X"), f.number("Y")))
    if units == "DEGREES" and raw:
        lat0 = sum(y for _, y in raw.values()) / len(raw)
        kx, ky = 111320.0 * math.cos(math.radians(lat0)), 110540.0

        def project(p: tuple[float, float]) -> tuple[float, float]:
            return p[0] * kx, p[1] * ky
    else:
        def project(p: tuple[float, float]) -> tuple[float, float]:
            return p[0] * scale, p[1] * scale
    xy = {n: project(p) for n, p in raw.items()}
    vertices = {link: [project(p) for p in pts] for link, pts in raw_vertices.items()}
    missing = [n for n in node_line if n not in xy]
    if missing:
        laid = _layout(list(node_line), link_ends, xy)
        xy.update({n: laid[n] for n in missing})
        if len(missing) == len(node_line):
            warnings.add(f"{inp.path.name} has no [COORDINATES]: the {len(missing)} nodes are laid out automatically "
                         f"({LAYOUT_SPACING:g} m apart, by their distance in links from an outfall)")
        else:
            warnings.add(f"[COORDINATES] has no position for {len(missing)} node(s) ({', '.join(missing[:5])}): "
                         "they are placed automatically beside their neighbours")
    return xy, vertices


def _layout(nodes: list[str], link_ends: dict[str, tuple[str, str]],
            fixed: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """A layered layout: breadth first from the placed nodes (or, with none, from the
    last node of each connected part, usually its outfall), one row per link away."""
    neighbours: dict[str, list[str]] = {n: [] for n in nodes}
    for up, down in link_ends.values():
        neighbours[up].append(down)
        neighbours[down].append(up)
    placed = dict(fixed)
    if not placed:
        column = 0.0
        for root in reversed(nodes):
            if root in placed:
                continue
            level: dict[str, int] = {root: 0}
            queue = deque([root])
            while queue:
                n = queue.popleft()
                for m in neighbours[n]:
                    if m not in level:
                        level[m] = level[n] + 1
                        queue.append(m)
            rows: dict[int, int] = {}
            for n, k in level.items():
                placed[n] = (column + rows.get(k, 0) * LAYOUT_SPACING, k * LAYOUT_SPACING)
                rows[k] = rows.get(k, 0) + 1
            column += (max(rows.values()) + 1) * LAYOUT_SPACING
        return placed
    queue = deque(placed)
    offset = 0
    while True:
        while queue:
            n = queue.popleft()
            for m in neighbours[n]:
                if m not in placed:
                    offset += 1
                    x, y = placed[n]
                    placed[m] = (x + LAYOUT_SPACING * math.cos(offset), y + LAYOUT_SPACING * math.sin(offset))
                    queue.append(m)
        rest = [n for n in nodes if n not in placed]
        if not rest:
            return placed
        x0 = min(x for x, _ in placed.values())
        y0 = min(y for _, y in placed.values()) - LAYOUT_SPACING
        placed[rest[0]] = (x0, y0)
        queue.append(rest[0])


def _hydrology(inp: Inp, us: bool, flow: float, start: datetime, duration: float, manholes: dict[str, Any],
               outfalls: dict[str, Any], node_key: dict[str, str], warnings: _Warnings) -> dict[str, Any]:
    """``hydrology.json``: subcatchments, rain gauges, series, patterns and inflows."""
    length = FOOT if us else 1.0
    depth_unit = 0.0254 if us else 0.001  # in or mm -> m
    default_model = inp.option("INFILTRATION", "HORTON").upper()
    if default_model not in hydrology.INFILTRATION_MODELS:
        raise InpError(f"{inp.path}: [OPTIONS] INFILTRATION {default_model!r}; valid: "
                       f"{', '.join(hydrology.INFILTRATION_MODELS)}")
    subareas = {row.tokens[0].upper(): row for row in inp.rows("SUBAREAS")}
    infil_rows = {row.tokens[0].upper(): row for row in inp.rows("INFILTRATION")}
    names = {row.tokens[0].upper(): row.tokens[0] for row in inp.rows("SUBCATCHMENTS")}
    gauge_key = {row.tokens[0].upper(): row.tokens[0] for row in inp.rows("RAINGAGES")}
    subcatchments = []
    used_gauges: set[str] = set()
    for row in inp.rows("SUBCATCHMENTS"):
        f = Fields(inp, "SUBCATCHMENTS", row, ("Name", "RainGage", "Outlet", "Area", "PctImperv", "Width", "PctSlope",
                                               "CurbLen", "SnowPack"))
        name, outlet = f.text("Name"), f.text("Outlet")
        outlet = node_key.get(outlet.upper(), names.get(outlet.upper(), outlet))
        if outlet in manholes:
            outlet_kind = "node"
        elif outlet in outfalls:
            outlet_kind = "outfall"
        elif outlet.upper() in names:
            outlet_kind = "subcatchment"
        else:
            raise InpError(f"{f.where('Outlet')} = {outlet!r} is not a node or subcatchment of the file")
        imperv = f.number("PctImperv", low=0.0)
        if imperv > 100.0:
            raise InpError(f"{f.where('PctImperv')} = {imperv:g}; expected a percentage in [0, 100]")
        record: dict[str, Any] = {
            "name": name, "line": row.line, "gauge": gauge_key.get(f.text("RainGage").upper(), f.text("RainGage")), "outlet": outlet, "outlet_kind": outlet_kind,
            "area": f.number("Area", low=0.0) * (ACRE_M2 if us else 1.0e4), "frac_imperv": imperv / 100.0,
            "width": f.number("Width", low=0.0) * length, "slope": f.number("PctSlope", low=0.0) / 100.0,
        }
        used_gauges.add(record["gauge"])
        if len(row.tokens) > 8:
            warnings.add(f"subcatchment {name!r} (line {row.line}): its snow pack {row.tokens[8]!r} is not modelled")
        sa = subareas.get(name.upper())
        if sa is None:
            # SWMM gives such a subcatchment no subareas, so it makes no runoff
            warnings.add(f"subcatchment {name!r} (line {row.line}) has no [SUBAREAS] row: as in SWMM, it makes no runoff")
            continue
        g = Fields(inp, "SUBAREAS", sa, ("Subcatch", "N-Imperv", "N-Perv", "S-Imperv", "S-Perv", "PctZero", "RouteTo",
                                         "PctRouted"))
        route = g.text("RouteTo", "OUTLET").upper()
        if route not in ("OUTLET", "IMPERVIOUS", "PERVIOUS"):
            raise InpError(f"{g.where('RouteTo')} = {route!r}; valid: OUTLET, IMPERVIOUS, PERVIOUS")
        frac = record["frac_imperv"]
        if frac in (0.0, 1.0):
            route = "OUTLET"
        record.update({
            "n_imperv": g.number("N-Imperv", low=0.0), "n_perv": g.number("N-Perv", low=0.0),
            "ds_imperv": g.number("S-Imperv", low=0.0) * depth_unit, "ds_perv": g.number("S-Perv", low=0.0) * depth_unit,
            "frac_zero": g.number("PctZero", low=0.0) / 100.0, "route_to": route,
            "frac_routed": g.number("PctRouted", 100.0, low=0.0) / 100.0,
        })
        ir = infil_rows.get(name.upper())
        if ir is not None:
            tokens = ir.tokens[1:]
            model = default_model
            if tokens and tokens[-1].upper() in hydrology.INFILTRATION_MODELS:
                model = tokens[-1].upper()
                tokens = tokens[:-1]
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                raise InpError(f"{inp.path}: line {ir.line}: [INFILTRATION] of {name!r}: {' '.join(tokens)!r} are "
                               "not all numbers") from None
            record["infiltration"] = model
            record["infiltration_params"] = hydrology.infiltration_params(model, values, us)
        elif frac < 1.0:
            warnings.add(f"subcatchment {name!r} (line {row.line}) has no [INFILTRATION] row: its pervious area "
                         "infiltrates nothing")
        subcatchments.append(record)

    series_rows: dict[str, list[Row]] = {}
    for row in inp.rows("TIMESERIES"):
        series_rows.setdefault(row.tokens[0].upper(), []).append(row)
    series_cache: dict[str, tuple[list[float], list[float]]] = {}

    def series(name: str, f: Fields) -> tuple[list[float], list[float]]:
        if name not in series_cache:
            series_cache[name] = _series(inp, name, series_rows.get(name.upper(), []), start, f)
        return series_cache[name]

    gauges = []
    for row in inp.rows("RAINGAGES"):
        f = Fields(inp, "RAINGAGES", row, ("Name", "Format", "Interval", "SCF", "Source", "SeriesName"))
        name = f.text("Name")
        if name not in used_gauges:
            continue
        fmt = f.text("Format").upper()
        if fmt not in ("INTENSITY", "VOLUME", "CUMULATIVE"):
            raise InpError(f"{f.where('Format')} = {fmt!r}; valid: INTENSITY, VOLUME, CUMULATIVE")
        interval = clock(f.text("Interval"), f, "Interval")
        if interval <= 0.0:
            raise InpError(f"{f.where('Interval')} must be a positive time (H:MM or decimal hours)")
        source = f.text("Source").upper()
        if source == "TIMESERIES":
            times, values = series(f.text("SeriesName"), f)
        elif source == "FILE":
            times, values = _rain_file(inp, f, row, start)
            if not times:
                warnings.add(f"rain gauge {name!r} (line {row.line}) reads file {f.text('SeriesName')!r}, which is not "
                             "beside the .inp or holds no rain for it: no rain falls there")
        else:
            raise InpError(f"{f.where('Source')} = {source!r}; valid: TIMESERIES, FILE")
        starts, ends, rains = [], [], []
        accumulated = 0.0
        for t, v in zip(times, values):
            if fmt == "INTENSITY":
                r = v
            elif fmt == "VOLUME":
                r = v / interval * 3600.0
            else:  # CUMULATIVE (SWMM's convertRainfall: a drop restarts the total)
                r = (v if v < accumulated else v - accumulated) / interval * 3600.0
                accumulated = v
            if r != 0.0 and t + interval > 0.0 and t < duration:
                starts.append(t)
                ends.append(t + interval)
                rains.append(r * (INCH_PER_HOUR_MM if us else 1.0))
        gauges.append({"name": name, "start": starts, "end": ends, "rain": rains})

    patterns: dict[str, dict[str, Any]] = {}
    kind_of: dict[str, str] = {}
    for row in inp.rows("PATTERNS"):
        name, tokens = row.tokens[0].upper(), row.tokens[1:]
        if tokens and not _is_number(tokens[0]):
            kind_of[name] = tokens[0].upper()
            tokens = tokens[1:]
        patterns.setdefault(name, {"kind": kind_of.get(name, "HOURLY"), "factors": []})["factors"] += [
            float(t) for t in tokens]
    inflows: list[dict[str, Any]] = []
    spec_series: dict[str, dict[str, list[float]]] = {}
    for row in inp.rows("INFLOWS"):
        f = Fields(inp, "INFLOWS", row, ("Node", "Constituent", "TimeSeries", "Type", "Mfactor", "Sfactor", "Baseline",
                                         "Pattern"))
        node = node_key.get(f.text("Node").upper(), f.text("Node"))
        if f.text("Constituent").upper() != "FLOW":
            continue  # a pollutant: the water quality warning covers it
        if node not in manholes and node not in outfalls:
            raise InpError(f"{f.where('Node')} = {node!r} is not a node of the file")
        name = f.text("TimeSeries", "")
        record = {"node": node, "scale": f.number("Sfactor", 1.0) * flow, "baseline": f.number("Baseline", 0.0) * flow,
                  "patterns": [f.text("Pattern").upper()] if len(row.tokens) > 7 else []}
        if name and name != '""':
            times, values = series(name, f)
            spec_series[name] = {"t": times, "v": values}
            record["series"] = name
        inflows.append(record)
    for row in inp.rows("DWF"):
        f = Fields(inp, "DWF", row, ("Node", "Constituent", "Average", "P1", "P2", "P3", "P4"))
        if f.text("Constituent").upper() != "FLOW":
            continue
        node = node_key.get(f.text("Node").upper(), f.text("Node"))
        if node not in manholes and node not in outfalls:
            raise InpError(f"{f.where('Node')} = {node!r} is not a node of the file")
        names_ = [t.upper() for t in row.tokens[3:] if t.upper() in patterns]
        inflows.append({"node": node, "baseline": f.number("Average", low=0.0) * flow, "patterns": names_,
                        "dry_weather": True})
    return {
        "start": start.isoformat(), "duration": duration,
        "wet_step": _option_seconds(inp, "WET_STEP", 300.0), "dry_step": _option_seconds(inp, "DRY_STEP", 3600.0),
        "subcatchments": subcatchments, "gauges": gauges, "series": spec_series, "patterns": patterns,
        "inflows": inflows, "lids": _lids(inp, us, subcatchments, names, manholes, outfalls, node_key),
        "dry_days": _dry_days(inp),
    }


def _dry_days(inp: Inp) -> float:
    """[OPTIONS] DRY_DAYS: days without rain before the run (a rain barrel's drain delay
    counts from them)."""
    raw = inp.option("DRY_DAYS", "0")
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if not days >= 0.0:
        raise InpError(f"{inp.path}: [OPTIONS] DRY_DAYS {raw!r}; expected a number of days >= 0")
    return days


#: [LID_CONTROLS] layer lines: their fields after the LID's name and the keyword (SWMM
#: 5.2's lid.c read*Data), and how many of them are required
LID_LAYERS = {
    "SURFACE": (("StorageHt", "VegVolFrac", "Roughness", "SurfSlope", "SideSlope"), 5),
    "PAVEMENT": (("Thickness", "VoidRatio", "FracImperv", "Permeability", "ClogFactor", "RegenDays",
                  "RegenDegree"), 5),
    "SOIL": (("Thickness", "Porosity", "FieldCap", "WiltPt", "Ksat", "Kslope", "Suction"), 7),
    "STORAGE": (("Thickness", "VoidRatio", "Ksat", "ClogFactor", "Covered"), 4),
    "DRAIN": (("Coeff", "Expon", "Offset", "Delay", "OpenLevel", "ClosedLevel", "Curve"), 4),
    "DRAINMAT": (("Thickness", "VoidFrac", "Roughness"), 3),
    "REMOVALS": ((), 0),
}
#: the layers each LID type needs (lid.c's validateLidProc)
LID_REQUIRED = {"BC": ("SOIL",), "RG": ("SOIL",), "GR": ("SOIL", "DRAINMAT"), "PP": ("PAVEMENT",),
                "IT": ("STORAGE",)}


def _lid_controls(inp: Inp, us: bool) -> dict[str, dict[str, Any]]:
    """[LID_CONTROLS]: each LID's type, line and layers (SI), with SWMM's derived values
    (validateLidProc: void ratios to fractions, Manning's coefficients, clogging factors
    as volumes, a green roof's drainage mat as its storage layer, ...)."""
    from twin_drainage import lid as lid_module

    depth = 0.0254 if us else 0.001  # in or mm -> m
    rate = depth / 3600.0  # in/h or mm/h -> m/s
    controls: dict[str, dict[str, Any]] = {}
    for row in inp.rows("LID_CONTROLS"):
        if len(row.tokens) < 2:
            raise InpError(f"{inp.path}: line {row.line}: [LID_CONTROLS] needs a name and a type or layer")
        key, word = row.tokens[0].upper(), row.tokens[1].upper()
        if word in lid_module.TYPES:
            controls[key] = {"name": row.tokens[0], "type": word, "line": row.line, "layers": {}, "curve": None}
            continue
        if key not in controls:
            raise InpError(f"{inp.path}: line {row.line}: [LID_CONTROLS] layer of {row.tokens[0]!r} before its type "
                           f"line ({', '.join(lid_module.TYPES)})")
        if word not in LID_LAYERS:
            raise InpError(f"{inp.path}: line {row.line}: [LID_CONTROLS] {word!r}; valid: {', '.join(LID_LAYERS)}")
        names, required = LID_LAYERS[word]
        if word == "REMOVALS":
            continue  # pollutant removals: the water quality warning covers them
        f = Fields(inp, "LID_CONTROLS", row, ("Name", "Layer") + names)
        values = []
        for k, name in enumerate(names):
            if name in ("Covered", "Curve"):
                continue
            values.append(f.number(name, None if k < required else 0.0, low=0.0))
        if word == "DRAIN" and len(row.tokens) > 8:
            controls[key]["curve"] = row.tokens[8]
        if word == "STORAGE":
            values.append(1.0 if len(row.tokens) > 6 and row.tokens[6].upper() == "YES" else 0.0)
        controls[key]["layers"][word] = (values, row.line)
    out = {}
    for key, c in controls.items():
        layers = c["layers"]
        for need in LID_REQUIRED.get(c["type"], ()):
            if need not in layers or layers[need][0][0] <= 0.0:
                raise InpError(f"{inp.path}: line {c['line']}: [LID_CONTROLS] {c['name']!r} ({c['type']}) has no "
                               f"{need} layer of positive thickness (SWMM's ERROR 184)")
        p: dict[str, float] = {}
        surface = layers.get("SURFACE", ([0.0] * 5, 0))[0] if "SURFACE" in layers else None
        if surface is not None:
            if surface[1] >= 1.0:
                raise InpError(f"{inp.path}: line {layers['SURFACE'][1]}: [LID_CONTROLS] VegVolFrac "
                               f"{surface[1]:g}; expected a fraction below 1")
            veg = 0.0 if surface[0] == 0.0 else surface[1]
            p.update(surf_thick=surface[0] * depth, surf_void=1.0 - veg, side_slope=surface[4])
            slope = surface[3] / 100.0
            # SWMM's alpha = 1.49/n·S^1/2 in ft; 1/n·S^1/2 in m, as the subareas' overland flow
            p["surf_alpha"] = math.sqrt(slope) / surface[2] if surface[2] > 0.0 else 0.0
        else:
            p.update(surf_void=1.0, surf_alpha=0.0)
            slope = 0.0
        if "PAVEMENT" in layers:
            v = layers["PAVEMENT"][0]
            void = v[1] / (v[1] + 1.0)
            if v[3] <= 0.0 or void <= 0.0 or v[2] > 1.0:
                raise InpError(f"{inp.path}: line {layers['PAVEMENT'][1]}: [LID_CONTROLS] {c['name']!r}: invalid "
                               "pavement layer (Permeability and VoidRatio > 0, FracImperv <= 1)")
            p.update(pave_thick=v[0] * depth, pave_void=void, pave_imperv=v[2], pave_ksat=v[3] * rate,
                     pave_clog=v[4] * v[0] * depth * void * (1.0 - v[2]), pave_regen_days=v[5],
                     pave_regen_degree=min(v[6], 1.0))
        if "SOIL" in layers:
            v = layers["SOIL"][0]
            if v[0] > 0.0 and (v[1] <= 0.0 or v[2] >= v[1] or v[3] >= v[2] or v[4] <= 0.0):
                raise InpError(f"{inp.path}: line {layers['SOIL'][1]}: [LID_CONTROLS] {c['name']!r}: invalid soil "
                               "layer (WiltPt < FieldCap < Porosity, Ksat > 0)")
            p.update(soil_thick=v[0] * depth, soil_porosity=v[1], soil_fieldcap=v[2], soil_wilt=v[3],
                     soil_ksat=v[4] * rate, soil_kslope=v[5])
            c["soil_file_units"] = (v[6], v[4], v[1], v[3])  # suction, Ksat, porosity, wilting point
        if "STORAGE" in layers and c["type"] != "GR":
            v = layers["STORAGE"][0]
            void = v[1] / (v[1] + 1.0)
            p.update(stor_thick=v[0] * depth, stor_void=void, stor_ksat=v[2] * rate,
                     stor_clog=v[3] * v[0] * depth * void if v[0] > 0.0 else 0.0, stor_covered=v[4])
        if "DRAIN" in layers:
            v = layers["DRAIN"][0]
            p.update(drain_coeff=v[0], drain_expon=v[1], drain_offset=v[2] * depth, drain_delay=v[3] * 3600.0,
                     drain_open=v[4] * depth, drain_close=v[5] * depth)
            if v[4] > 0.0 and v[4] <= v[5]:
                raise InpError(f"{inp.path}: line {layers['DRAIN'][1]}: [LID_CONTROLS] {c['name']!r}: the drain's open "
                               "level must exceed its closed level")
        p.update(depth_unit=depth, rate_unit=rate)
        if c["type"] == "VS" and (surface is None or surface[0] <= 0.0 or p["surf_alpha"] <= 0.0):
            raise InpError(f"{inp.path}: line {c['line']}: [LID_CONTROLS] {c['name']!r} (VS) needs a SURFACE layer with "
                           "a positive StorageHt, Roughness and SurfSlope")
        if c["type"] == "GR":
            v = layers["DRAINMAT"][0]
            p.update(stor_thick=v[0] * depth, stor_void=v[1], stor_ksat=0.0, stor_clog=0.0)
            p["mat_alpha"] = math.sqrt(slope) / v[2] if v[2] > 0.0 else 0.0
        if p.get("stor_thick", 0.0) <= 0.0:  # no storage layer: no voids to fill, no offset
            p.update(stor_void=1.0, drain_offset=0.0)
        if c["type"] == "RB":
            p.update(stor_void=1.0, stor_ksat=0.0)
        overflow = c["type"] != "RD"
        if c["type"] in ("IT", "PP", "BC", "RG", "GR") and p["surf_alpha"] > 0.0:
            overflow = False
        p["surf_overflow"] = 1.0 if overflow else 0.0
        c["params"] = p
        out[key] = c
    return out


def _lids(inp: Inp, us: bool, subcatchments: list[dict[str, Any]], names: dict[str, str], manholes: dict[str, Any],
          outfalls: dict[str, Any], node_key: dict[str, str]) -> list[dict[str, Any]]:
    """[LID_USAGE]: the LID units placed in each subcatchment, for :mod:`twin_drainage.lid`
    (lid.c's lid_readGroupParams and validateLidGroup)."""
    if not inp.rows("LID_USAGE"):
        return []
    controls = _lid_controls(inp, us)
    length = FOOT if us else 1.0
    by_name = {s["name"].upper(): s for s in subcatchments}
    units: list[dict[str, Any]] = []
    totals: dict[str, list[float]] = {}
    for row in inp.rows("LID_USAGE"):
        f = Fields(inp, "LID_USAGE", row, ("Subcatchment", "LID", "Number", "Area", "Width", "InitSat", "FromImp",
                                           "ToPerv", "RptFile", "DrainTo", "FromPerv"))
        sub_name, lid_name = f.text("Subcatchment"), f.text("LID")
        if sub_name.upper() not in names:
            raise InpError(f"{f.where('Subcatchment')} = {sub_name!r} is not a subcatchment of the file")
        control = controls.get(lid_name.upper())
        if control is None:
            raise InpError(f"{f.where('LID')} = {lid_name!r} is not an LID of [LID_CONTROLS]")
        number = int(f.number("Number", low=0.0))
        values = [f.number(k, low=0.0) for k in ("Area", "Width", "InitSat", "FromImp", "ToPerv")]
        from_perv = f.number("FromPerv", 0.0, low=0.0)
        for k, label in ((2, "InitSat"), (3, "FromImp")):
            if values[k] > 100.0:
                raise InpError(f"{f.where(label)} = {values[k]:g}; expected a percentage in [0, 100]")
        if from_perv > 100.0:
            raise InpError(f"{f.where('FromPerv')} = {from_perv:g}; expected a percentage in [0, 100]")
        sub = by_name.get(sub_name.upper())
        if number == 0 or sub is None:
            continue  # SWMM skips an empty placement; a subcatchment without subareas makes no runoff
        if control["type"] == "VS" and values[1] <= 0.0:
            raise InpError(f"{f.where('Width')}: the vegetative swale {control['name']!r} needs a positive width")
        drain = f.text("DrainTo", "*")
        if drain == "*":
            drain, drain_kind = sub["outlet"], sub["outlet_kind"]
        else:
            node = node_key.get(drain.upper(), drain)
            if node in manholes:
                drain, drain_kind = node, "node"
            elif node in outfalls:
                drain, drain_kind = node, "outfall"
            elif drain.upper() in names:
                drain, drain_kind = names[drain.upper()], "subcatchment"
            else:
                raise InpError(f"{f.where('DrainTo')} = {drain!r} is not a node or subcatchment of the file")
        area = values[0] * length**2
        init_sat = values[2] / 100.0
        record = {"subcatchment": sub["name"], "lid": control["name"], "type": control["type"], "line": row.line,
                  "drain_to": drain, "drain_kind": drain_kind,
                  "params": {**control["params"], "area": area, "width": values[1] * length, "number": number,
                             "init_sat": init_sat, "from_imperv": values[3] / 100.0, "from_perv": from_perv / 100.0,
                             # no pervious area to return to (validateLidGroup)
                             "to_perv": 1.0 if values[4] > 0.0 and sub["frac_imperv"] < 0.999 else 0.0}}
        if control["curve"] is not None:  # heads in the file's in or mm, as SWMM looks them up
            record["drain_curve"] = _curve(inp, control["curve"], Fields(inp, "LID_CONTROLS", Row(
                control["layers"]["DRAIN"][1], []), ("Name",)))
        if "soil_file_units" in control and control["params"].get("soil_thick", 0.0) > 0.0:
            suction, ksat, porosity, wilt = control["soil_file_units"]
            record["green_ampt"] = hydrology.infiltration_params(
                "GREEN_AMPT", [suction, ksat, (porosity - wilt) * (1.0 - init_sat)], us)[:4]
        elif control["type"] == "VS" and sub.get("infiltration") in ("GREEN_AMPT", "MODIFIED_GREEN_AMPT"):
            record["green_ampt"] = sub["infiltration_params"][:4]  # the subcatchment's soil (validateLidGroup)
        units.append(record)
        total = totals.setdefault(sub["name"], [0.0, 0.0, 0.0, row.line])
        total[0] += area * number
        total[1] += values[3] / 100.0
        total[2] += from_perv / 100.0
    for name, (area, imperv, perv, line) in totals.items():
        sub = by_name[name.upper()]
        if area > 1.001 * sub["area"]:
            raise InpError(f"{inp.path}: line {line}: [LID_USAGE] the LIDs of subcatchment {name!r} cover "
                           f"{area:.1f} m², more than its {sub['area']:.1f} m² (SWMM's ERROR 187)")
        if imperv > 1.001 or perv > 1.001:
            raise InpError(f"{inp.path}: line {line}: [LID_USAGE] the LIDs of subcatchment {name!r} take more than "
                           "100 % of its impervious or pervious runoff (SWMM's ERROR 188)")
    return units


#: mm/h per in/h
INCH_PER_HOUR_MM = 25.4


def _series(inp: Inp, name: str, rows: list[Row], start: datetime, f: Fields) -> tuple[list[float], list[float]]:
    """(seconds since the start, value) of a [TIMESERIES], dated or relative."""
    if not rows:
        raise InpError(f"{f.where()} names time series {name!r}, which [TIMESERIES] does not hold")
    times: list[float] = []
    values: list[float] = []
    date = None
    for row in rows:
        g = Fields(inp, "TIMESERIES", row, ("Name", "Date", "Time", "Value"))
        tokens = row.tokens[1:]
        if tokens and tokens[0].upper() == "FILE":
            path = inp.path.parent / (tokens[1] if len(tokens) > 1 else "")
            if not path.is_file():
                raise InpError(f"{g.where()} series {name!r} reads the file {str(path)!r}, which does not exist")
            for k, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                parts = line.split(";", 1)[0].split()
                if parts:
                    t, v, date = _series_point(parts, date, start, g)
                    times.append(t)
                    values.append(v)
            continue
        while tokens:  # a line may hold several [date] time value groups
            t, v, date, tokens = _series_group(tokens, date, start, g)
            times.append(t)
            values.append(v)
    return times, values


def _series_point(parts: list[str], date: str | None, start: datetime, g: Fields) -> tuple[float, float, str | None]:
    t, v, date, _ = _series_group(parts, date, start, g)
    return t, v, date


def _series_group(tokens: list[str], date: str | None, start: datetime, g: Fields):
    if "/" in tokens[0]:
        date, tokens = tokens[0], tokens[1:]
    if len(tokens) < 2:
        raise InpError(f"{g.where('Value')} is missing; expected [date] time value")
    seconds = clock(tokens[0], g, "Time")
    try:
        value = float(tokens[1])
    except ValueError:
        raise InpError(f"{g.where('Value')} = {tokens[1]!r} is not a number") from None
    if date is not None:
        try:
            day = datetime.strptime(date, "%m/%d/%Y")
        except ValueError:
            raise InpError(f"{g.where('Date')} = {date!r}; expected MM/DD/YYYY") from None
        seconds = (day + timedelta(seconds=seconds) - start).total_seconds()
    return seconds, value, date, tokens[2:]


def _rain_file(inp: Inp, f: Fields, row: Row, start: datetime) -> tuple[list[float], list[float]]:
    """A gauge's rain from a file beside the .inp in SWMM's standard format (station
    year month day hour minute value), for the gauge's station id."""
    tokens = row.tokens
    path = inp.path.parent / (tokens[5] if len(tokens) > 5 else "")
    station = tokens[6] if len(tokens) > 6 else None
    if not path.is_file():
        return [], []
    times, values = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(";", 1)[0].split()
        if len(parts) < 7 or (station is not None and parts[0] != station):
            continue
        try:
            when = datetime(int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]), int(parts[5]))
            values.append(float(parts[6]))
        except ValueError:
            continue
        times.append((when - start).total_seconds())
    return times, values


#: regulator kinds and their sub-types (the router's codes, model.REG_*)
PUMP_TYPES = {"PUMP1": 1, "PUMP2": 2, "PUMP3": 3, "PUMP4": 4}
WEIR_TYPES = {"TRANSVERSE": 0, "SIDEFLOW": 1, "V-NOTCH": 2, "TRAPEZOIDAL": 3, "ROADWAY": 4}
#: the exponent of the head in each weir's equation (SWMM link.c)
WEIR_POWER = {0: 1.5, 1: 5.0 / 3.0, 2: 2.5, 3: 1.5, 4: 1.5}
#: a ROADWAY weir's RoadSurf (link.c weir_readParams; regulators.ROAD_*)
ROAD_SURFACES = {"PAVED": 1, "GRAVEL": 2}


def _streets(inp: Inp) -> dict[str, list[float]]:
    """[STREETS] by upper-case name: [Tcrown, Hcurb, Sx, nRoad, a, W, Sides, Tback, Sback,
    nBack] as the file gives them (street.c street_readParams' defaults: a = W = 0, two
    sides, no backing)."""
    out = {}
    for row in inp.rows("STREETS"):
        t = row.tokens
        if len(t) < 5:
            raise InpError(f"{inp.path}: line {row.line}: [STREETS] needs Name Tcrown Hcurb Sx nRoad")
        values = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]
        for k, tok in enumerate(t[1:11]):
            if not _is_number(tok):
                raise InpError(f"{inp.path}: line {row.line}: [STREETS] {t[0]} field {k + 2} = {tok!r} is not a number")
            values[k] = float(tok)
        out[t[0].upper()] = values
    return out


def _inlet_designs(inp: Inp, us: bool) -> dict[str, dict[str, Any]]:
    """[INLETS] by upper-case name (inlet.c inlet_readDesignParams), lengths in ft: a
    GRATE and a CURB row of one name make a combination inlet."""
    from twin_drainage import inlets as il

    to_ft = 1.0 if us else 1.0 / FOOT
    out: dict[str, dict[str, Any]] = {}
    for row in inp.rows("INLETS"):
        t = row.tokens
        where = f"{inp.path}: line {row.line}: [INLETS]"
        kind = t[1].upper() if len(t) > 1 else ""
        if kind not in il.TYPE_WORDS:
            raise InpError(f"{where} type {kind!r}; valid: {', '.join(il.TYPE_WORDS)}")
        design = out.setdefault(t[0].upper(), {"type": il.TYPE_WORDS[kind], "line": row.line})

        def number(k: int, what: str, low: float = 0.0) -> float:
            if len(t) <= k or not _is_number(t[k]) or float(t[k]) <= low:
                raise InpError(f"{where} {t[0]} {kind}: {what} (field {k + 1}) must be a number > {low:g}")
            return float(t[k])

        if kind in ("GRATE", "DROP_GRATE"):
            design["grate_length"], design["grate_width"] = number(2, "Length") * to_ft, number(3, "Width") * to_ft
            grate = t[4].upper() if len(t) > 4 else ""
            if grate not in il.GRATE_WORDS:
                raise InpError(f"{where} {t[0]}: grate type {grate!r}; valid: {', '.join(il.GRATE_WORDS)}")
            design["grate"] = il.GRATE_WORDS.index(grate)
            design["grate_open"], design["splash"] = il.OPENING[design["grate"]], 0.0
            if design["grate"] == il.GENERIC:
                design["grate_open"] = number(5, "OpenArea")
                design["splash"] = float(t[6]) * to_ft if len(t) > 6 and _is_number(t[6]) else 0.0
        elif kind in ("CURB", "DROP_CURB"):
            design["curb_length"], design["curb_height"] = number(2, "Length") * to_ft, number(3, "Height") * to_ft
            design["throat"] = il.VERTICAL
            if kind == "CURB" and len(t) > 4:
                if t[4].upper() not in il.THROAT_WORDS:
                    raise InpError(f"{where} {t[0]}: throat {t[4]!r}; valid: {', '.join(il.THROAT_WORDS)}")
                design["throat"] = il.THROAT_WORDS.index(t[4].upper())
        elif kind == "SLOTTED":
            design["slot_length"], design["slot_width"] = number(2, "Length") * to_ft, number(3, "Width") * to_ft
        else:
            if len(t) < 3:
                raise InpError(f"{where} {t[0]} CUSTOM: a curve name")
            design["curve"] = t[2]
        if design.get("grate_length", 0.0) > 0.0 and design.get("curb_length", 0.0) > 0.0 \
                and design["type"] in (il.GRATE, il.CURB):
            design["type"] = il.COMBO
    return out


def _inlets(inp: Inp, pipes: dict[str, Any], manholes: dict[str, Any], regulators: dict[str, Any], us: bool,
            flow: float, routing: str, warnings: _Warnings) -> list[dict[str, Any]]:
    """[INLET_USAGE] as twin_drainage.inlets takes it (inlet.c inlet_readUsageParams,
    inlet_validate, getConduitGeometry): per usage its conduit, bypass and capture nodes
    and its rows of integers and floats (ft, cfs); a usage SWMM would drop (an inlet in a
    conduit of the wrong shape) or the twin cannot take is left out with a warning."""
    from twin_drainage import inlets as il

    rows = inp.rows("INLET_USAGE")
    if not rows:
        return []
    designs = _inlet_designs(inp, us)
    streets = _streets(inp)
    curves = _curves(inp)
    sections = {r.tokens[0].upper(): r for r in inp.rows("XSECTIONS") if r.tokens}
    conduits = {name.upper(): name for name in pipes}
    to_ft = 1.0 if us else 1.0 / FOOT
    if routing != "DYNWAVE":
        warnings.add(f"[INLET_USAGE] line {rows[0].line}: street inlets are modelled under DYNWAVE only; "
                     "street flow stays in the street")
        return []
    leaving = {pipe["links"][0] for pipe in pipes.values()} | {reg["links"][0] for reg in regulators.values()}
    usages = []
    for row in rows:
        t = row.tokens
        where = f"{inp.path}: line {row.line}: [INLET_USAGE]"
        if len(t) < 3:
            raise InpError(f"{where} needs Conduit Inlet Node")
        name = conduits.get(t[0].upper())
        if name is None:
            raise InpError(f"{where} conduit {t[0]!r} is not a conduit of [CONDUITS]")
        design = designs.get(t[1].upper())
        if design is None:
            raise InpError(f"{where} inlet {t[1]!r} is not an inlet of [INLETS]")
        node = next((n for n in manholes if n.upper() == t[2].upper()), None)
        bypass = pipes[name]["links"][1]
        if node is None or bypass not in manholes:
            warnings.add(f"inlet usage of conduit {name!r} ([INLET_USAGE] line {row.line}): its capture node "
                         f"{t[2]!r} or its bypass node {bypass!r} is not a junction or storage unit; the inlet is "
                         "left out and the street keeps its flow")
            continue
        values = [1.0, 0.0, 0.0, 0.0, 0.0]
        for k, tok in enumerate(t[3:8]):
            if not _is_number(tok) or float(tok) < 0.0:
                raise InpError(f"{where} field {k + 4} = {tok!r} must be a number >= 0")
            values[k] = float(tok)
        number, clogged, qmax, a_local, w_local = values
        if number < 1 or clogged > 99.0:
            raise InpError(f"{where} Number must be >= 1 and %Clogged <= 99")
        placement = il.AUTOMATIC
        if len(t) > 8:
            if t[8].upper() not in il.PLACEMENT_WORDS:
                raise InpError(f"{where} placement {t[8]!r}; valid: {', '.join(il.PLACEMENT_WORDS)}")
            placement = il.PLACEMENT_WORDS.index(t[8].upper())
        if placement == il.AUTOMATIC:  # getInletPlacement: on grade where a link leaves the bypass node
            placement = il.ON_GRADE if bypass in leaving else il.ON_SAG
        xs = sections[name.upper()]
        shape = xs.tokens[1].upper() if len(xs.tokens) > 1 else ""
        kind = design["type"]
        pipe = pipes[name]
        up, down = manholes.get(pipe["links"][0]), manholes[bypass]
        z_up = (up["invert_elevation"] if up else 0.0) + pipe["inlet_offset"]
        # link.c conduit_getSlope: the drop over the horizontal distance
        drop = z_up - down["invert_elevation"] - pipe["outlet_offset"] if up else 0.0
        slope = drop / math.sqrt(pipe["length"] ** 2 - drop * drop) if abs(drop) < pipe["length"] else 0.0
        curve_kind, curve = 0, None
        if kind == il.CUSTOM:
            c = curves.get(design["curve"].upper())
            if c is None or c["type"] not in ("DIVERSION", "RATING"):
                warnings.add(f"inlet usage of conduit {name!r} ([INLET_USAGE] line {row.line}): custom inlet "
                             f"{t[1]!r} needs a DIVERSION or RATING curve; left out, as SWMM drops it")
                continue
            curve_kind = il.DIVERSION if c["type"] == "DIVERSION" else il.RATING
            x_unit = flow if curve_kind == il.DIVERSION else (FOOT if us else 1.0)
            curve = [(x * x_unit, y * flow) for x, y in c["points"]]
        elif shape == "STREET" and kind not in (il.DROP_GRATE, il.DROP_CURB):
            street = streets.get(xs.tokens[2].upper()) if len(xs.tokens) > 2 else None
            if street is None:
                continue  # the section's own error names it
            sx, n, sides, t_crown = street[2] / 100.0, street[3], int(street[6]), street[0] * to_ft
            a, w = street[4] * to_ft, street[5] * to_ft
        elif shape in ("TRAPEZOIDAL", "RECT_OPEN") and kind in (il.DROP_GRATE, il.DROP_CURB):
            sx, n, sides, t_crown, a, w = 0.01, pipe["roughness"], 1, 0.0, 0.0, 0.0
            if kind == il.DROP_GRATE and placement == il.ON_GRADE:
                warnings.add(f"inlet usage of conduit {name!r} ([INLET_USAGE] line {row.line}): a DROP_GRATE on "
                             "grade is not modelled; left out, the channel keeps its flow")
                continue
        else:
            warnings.add(f"inlet usage of conduit {name!r} ([INLET_USAGE] line {row.line}): a {t[1]} inlet cannot "
                         f"sit in a {shape} conduit; left out, as SWMM drops it (WARN12)")
            continue
        if kind != il.CUSTOM:
            qfactor = 0.56 / n * math.sqrt(max(slope, 0.0)) * sx ** 1.67 if kind != il.CUSTOM else 0.0
            if a_local * w_local > 0.0:  # getConduitGeometry: the inlet's local depression
                a, w = a + a_local * to_ft, w_local * to_ft
        else:
            sx = n = t_crown = a = w = qfactor = 0.0
            sides = int(streets[xs.tokens[2].upper()][6]) if shape == "STREET" and len(xs.tokens) > 2 \
                and xs.tokens[2].upper() in streets else 1
        ints = [0] * il.INT_FIELDS
        ints[il.I_TYPE], ints[il.I_GRATE] = kind, design.get("grate", -1)
        ints[il.I_THROAT], ints[il.I_PLACEMENT] = design.get("throat", il.VERTICAL), placement
        ints[il.I_SIDES], ints[il.I_NUMBER], ints[il.I_CURVE_KIND] = sides, int(number), curve_kind
        floats = [0.0] * il.FLOAT_FIELDS
        floats[il.F_SX], floats[il.F_A], floats[il.F_W], floats[il.F_N] = sx, a, w, n
        floats[il.F_TCROWN], floats[il.F_SL], floats[il.F_QFACTOR] = t_crown, max(slope, 0.0), qfactor
        floats[il.F_CLOG], floats[il.F_QMAX] = 1.0 - clogged / 100.0, qmax * flow / il.CFS
        floats[il.F_GL], floats[il.F_GW] = design.get("grate_length", 0.0), design.get("grate_width", 0.0)
        floats[il.F_GOPEN], floats[il.F_GSPLASH] = design.get("grate_open", 1.0), design.get("splash", 0.0)
        floats[il.F_CL], floats[il.F_CH] = design.get("curb_length", 0.0), design.get("curb_height", 0.0)
        floats[il.F_SLL], floats[il.F_SLW] = design.get("slot_length", 0.0), design.get("slot_width", 0.0)
        usages.append({"pipe": name, "bypass": bypass, "capture": node, "inlet": t[1].upper(), "node": node,
                       "number": int(number), "clog": 1.0 - clogged / 100.0, "int": ints, "float": floats,
                       "curve": curve})
    for usage, ratio in zip(usages, il.backflow_ratios(usages, designs)):
        usage["float"][il.F_BACKFLOW] = ratio
    return usages


def _curves(inp: Inp) -> dict[str, dict[str, Any]]:
    """[CURVES] by upper-case name: type (the first row's) and points."""
    out: dict[str, dict[str, Any]] = {}
    for row in inp.rows("CURVES"):
        name = row.tokens[0].upper()
        tokens = row.tokens[1:]
        curve = out.setdefault(name, {"type": "", "points": [], "line": row.line})
        if tokens and not _is_number(tokens[0]):
            curve["type"] = tokens[0].upper()
            tokens = tokens[1:]
        numbers = [float(t) for t in tokens if _is_number(t)]
        curve["points"] += [(numbers[k], numbers[k + 1]) for k in range(0, len(numbers) - 1, 2)]
    return out


def _regulator(inp: Inp, section: str, row: Row, up: str, down: str, xsection: Row | None,
               curves: dict[str, dict[str, Any]], us: bool, flow: float, elevation_offsets: bool,
               node: dict[str, Any], warnings: _Warnings) -> dict[str, Any]:
    """A pump, weir, orifice or outlet in SI (SWMM Reference Manual vol. II, ch. 7, and
    link.c for the equations the router evaluates):

    - pump: sub-type 0 IDEAL (it pumps what arrives) or its curve's type 1-4 (flow
      against wet-well volume, stepwise; depth, stepwise; head rise; depth, continuous),
      on/off at its startup/shutoff depths; no reverse flow.
    - weir: crest above the inlet invert, opening height and length (RECT_OPEN,
      TRIANGULAR, TRAPEZOIDAL [XSECTIONS]), discharge coefficient(s) converted so that
      Q[m³/s] = C·L[m]·h[m]^p; submerged by Villemonte's factor; above its opening, an
      orifice if it may surcharge.
    - orifice: SIDE or BOTTOM, CIRCULAR or RECT_CLOSED, Q = Cd·A·sqrt(2g·h), as a weir
      while partly full.
    - outlet: Q = C·h^n (FUNCTIONAL) or a rating curve (TABULAR), h the depth above
      its offset (/DEPTH) or the head difference (/HEAD).
    """
    length = FOOT if us else 1.0
    tokens = row.tokens
    name = tokens[0]
    out: dict[str, Any] = {"line": row.line, "links": [up, down], "crest": 0.0, "height": 0.0, "width": 0.0,
                           "c1": 0.0, "c2": 0.0, "slope": 0.0, "end_contractions": 0.0, "startup": 0.0,
                           "shutoff": 0.0, "surcharge": True, "gated": False, "curve": [], "subtype": 0,
                           "initially_on": True}

    def crest_at(raw: str) -> float:
        if raw == "*":
            return 0.0
        value = float(raw) * length
        if elevation_offsets:
            value -= node[up]["invert_elevation"]
        return max(value, 0.0)

    def geometry() -> tuple[str, list[float]]:
        if xsection is None:
            raise InpError(f"{inp.path}: line {row.line}: [{section}] {name!r} has no row in [XSECTIONS]")
        shape = xsection.tokens[1].upper()
        geom = [float(t) if _is_number(t) else 0.0 for t in (xsection.tokens[2:6] + ["0"] * 4)[:4]]
        return shape, geom

    try:
        if section == "PUMPS":
            out["kind"] = "pump"
            curve_name = tokens[3].upper() if len(tokens) > 3 else "*"
            out["initially_on"] = not (len(tokens) > 4 and tokens[4].upper() == "OFF")
            out["startup"] = float(tokens[5]) * length if len(tokens) > 5 else 0.0
            out["shutoff"] = float(tokens[6]) * length if len(tokens) > 6 else 0.0
            if curve_name != "*":
                curve = curves.get(curve_name)
                if curve is None:
                    raise InpError(f"{inp.path}: line {row.line}: [PUMPS] {name!r} names curve {tokens[3]!r}, which "
                                   "[CURVES] does not hold")
                kind = curve["type"]
                if kind not in PUMP_TYPES:
                    raise InpError(f"{inp.path}: line {curve['line']}: [CURVES] {tokens[3]!r} is a {kind or 'untyped'} "
                                   f"curve; pump {name!r} needs PUMP1, PUMP2, PUMP3 or PUMP4")
                out["subtype"] = PUMP_TYPES[kind]
                x_unit = length**3 if kind == "PUMP1" else length
                out["curve"] = [(x * x_unit, y * flow) for x, y in curve["points"]]
        elif section == "WEIRS":
            out["kind"] = "weir"
            kind = tokens[3].upper()
            if kind not in WEIR_TYPES:
                raise InpError(f"{inp.path}: line {row.line}: [WEIRS] {name!r} type {tokens[3]!r}; valid: "
                               f"{', '.join(WEIR_TYPES)}")
            sub = WEIR_TYPES[kind]
            if kind == "ROADWAY":
                # RoadWidth and RoadSurf (regulators.roadway_flow: with both, FHWA's
                # coefficients replace Qcoeff; link.c weir_readParams)
                out["road_width"] = float(tokens[10]) * length if len(tokens) > 10 and _is_number(tokens[10]) else 0.0
                if out["road_width"] < 0.0:
                    raise InpError(f"{inp.path}: line {row.line}: [WEIRS] {name!r} RoadWidth {tokens[10]!r}; "
                                   "expected a width >= 0")
                out["road_surface"] = ROAD_SURFACES.get(tokens[11].upper(), 0) if len(tokens) > 11 else 0
            out["subtype"] = sub
            out["crest"] = crest_at(tokens[4])
            shape, geom = geometry()
            out["height"], out["width"] = geom[0] * length, geom[1] * length
            # Q = Cw·L·h^p in the file's units (length^(1+p) -> flow units): to SI
            # (SWMM's side-flow weir goes as L^0.83·h^1.67: length^2.5 too)
            factor = flow / length ** {0: 2.5, 1: 2.5, 2: 2.5, 3: 2.5, 4: 2.5}[sub]
            out["c1"] = float(tokens[5]) * factor
            out["gated"] = len(tokens) > 6 and tokens[6].upper() == "YES"
            out["end_contractions"] = float(tokens[7]) if len(tokens) > 7 and _is_number(tokens[7]) else 0.0
            end_coeff = float(tokens[8]) if len(tokens) > 8 and _is_number(tokens[8]) else 0.0
            out["surcharge"] = not (len(tokens) > 9 and tokens[9].upper() == "NO")
            if sub == 2:  # V-notch: side slope of the triangle (run per rise)
                out["slope"] = (geom[1] / 2.0) / geom[0] if geom[0] > 0 else 0.0
            elif sub == 3:  # trapezoidal: the ends' V-notch coefficient
                out["slope"] = geom[2]
                out["c2"] = end_coeff * flow / length**2.5
                out["width"] = geom[1] * length
        elif section == "ORIFICES":
            out["kind"] = "orifice"
            kind = tokens[3].upper()
            if kind not in ("SIDE", "BOTTOM"):
                raise InpError(f"{inp.path}: line {row.line}: [ORIFICES] {name!r} type {tokens[3]!r}; valid: SIDE, BOTTOM")
            out["subtype"] = 0 if kind == "SIDE" else 1
            out["crest"] = crest_at(tokens[4])
            cd = float(tokens[5])
            out["gated"] = len(tokens) > 6 and tokens[6].upper() == "YES"
            shape, geom = geometry()
            if shape not in ("CIRCULAR", "RECT_CLOSED"):
                raise InpError(f"{inp.path}: line {xsection.line}: [XSECTIONS] orifice {name!r} is {shape}; valid: "
                               "CIRCULAR, RECT_CLOSED")
            h = geom[0] * length
            w = geom[1] * length if shape == "RECT_CLOSED" else h
            area = math.pi / 4.0 * h * h if shape == "CIRCULAR" else h * w
            root2g = math.sqrt(2.0 * 9.80665)
            if out["subtype"] == 1:  # bottom: critical height from A/L (link.c orifice_getWeirCoeff)
                a_over_l = h / 4.0 if shape == "CIRCULAR" else h * w / (2.0 * (h + w))
                hcrit = cd / 0.414 * a_over_l
                cweir = cd * math.sqrt(hcrit)
            else:
                hcrit = h
                cweir = cd * math.sqrt(h / 2.0)
            out["height"], out["width"] = h, w
            out["c1"] = cd * area * root2g  # Q = c1·sqrt(head) when full
            out["c2"] = cweir * area * root2g  # Q = c2·f^1.5 while partly full
            out["slope"] = hcrit
        else:
            out["kind"] = "outlet"
            out["crest"] = crest_at(tokens[3])
            kind = tokens[4].upper()
            kinds = {"FUNCTIONAL/DEPTH": 0, "FUNCTIONAL/HEAD": 1, "TABULAR/DEPTH": 2, "TABULAR/HEAD": 3}
            if kind not in kinds:
                raise InpError(f"{inp.path}: line {row.line}: [OUTLETS] {name!r} type {tokens[4]!r}; valid: "
                               f"{', '.join(kinds)}")
            out["subtype"] = kinds[kind]
            if out["subtype"] < 2:
                c, n = float(tokens[5]), float(tokens[6])
                out["c1"], out["c2"] = c * flow / length**n, n
                gate_at = 7
            else:
                curve = curves.get(tokens[5].upper())
                if curve is None:
                    raise InpError(f"{inp.path}: line {row.line}: [OUTLETS] {name!r} names curve {tokens[5]!r}, "
                                   "which [CURVES] does not hold")
                out["curve"] = [(x * length, y * flow) for x, y in curve["points"]]
                gate_at = 6
            out["gated"] = len(tokens) > gate_at and tokens[gate_at].upper() == "YES"
    except (ValueError, IndexError) as exc:
        if isinstance(exc, InpError):
            raise
        raise InpError(f"{inp.path}: line {row.line}: [{section}] {name!r}: {' '.join(tokens)!r} is not a valid "
                       f"{section[:-1].lower()} row ({exc})") from None
    return out


def _simple_controls(inp: Inp, regulators: dict[str, dict[str, Any]], manholes: dict[str, Any], length: float,
                     warnings: _Warnings) -> None:
    """[CONTROLS]: a rule of one condition on a node's depth that turns a pump ON or OFF
    is the pump's startup or shutoff depth (what SWMM does with it, if the pump's inlet
    is that node); every other rule is named as not applied."""
    rules: list[tuple[str, list[Row]]] = []
    for row in inp.rows("CONTROLS"):
        if row.tokens[0].upper() == "RULE":
            rules.append((row.tokens[1] if len(row.tokens) > 1 else "?", [row]))
        elif rules:
            rules[-1][1].append(row)
    key = {n.upper(): n for n in regulators}
    for name, rows in rules:
        body = [" ".join(r.tokens).upper() for r in rows[1:]]
        ifs = [b for b in body if b.startswith(("IF ", "AND ", "OR "))]
        thens = [b for b in body if b.startswith(("THEN ", "ELSE "))]
        used = False
        if len(ifs) == 1 and len(thens) == 1 and not any(b.startswith("ELSE") for b in body):
            cond = ifs[0].split()
            action = thens[0].split()
            if (len(cond) == 6 and cond[1] == "NODE" and cond[3] == "DEPTH" and _is_number(cond[5])
                    and len(action) >= 6 and action[1] == "PUMP" and action[3] == "STATUS"):
                pump = regulators.get(key.get(action[2], ""))
                depth = float(cond[5]) * length
                if pump is not None and pump["links"][0].upper() == cond[2]:
                    if action[5] == "ON" and cond[4] in (">", ">="):
                        pump["startup"], used = depth, True
                    elif action[5] == "OFF" and cond[4] in ("<", "<="):
                        pump["shutoff"], used = depth, True
        if not used:
            warnings.add(f"[CONTROLS] rule {name!r} (line {rows[0].line}) not applied: the twin follows only rules "
                         "that switch a pump on or off at its wet well's depth")


def require_clean(net: Network, path: Path) -> None:
    """``strict``: refuse a file with anything the twin leaves out or approximates."""
    if net.warnings:
        listed = "\n  ".join(net.warnings)
        raise InpError(f"{path}: {len(net.warnings)} element(s) or option(s) the twin does not model (strict):\n  {listed}")
