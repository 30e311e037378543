"""EPA SWMM 5 input files (``.inp``): import one as a twin scene, export a scene's
network as one, and run SWMM itself through pyswmm (optional) to compare.

The file is read whole by :mod:`twin_drainage.inp` (what each section becomes, and the
warning for each element the twin leaves out or approximates). The scene it writes:

- ``data/drainage.geojson``: junctions, storage units and dividers as manholes (rim at
  MaxDepth + SurDepth, where SWMM floods; ``ponding_area`` the junction's Aponded with
  ALLOW_PONDING YES, else 0: flooding leaves the network, as in SWMM), outfalls, and
  conduits as pipes as high as their section (its shape and barrels, for the router, in
  ``data/hydrology.json``'s ``sections``; a shape the router does not take by an
  equivalent circular pipe, named in the warnings); positions in metres from
  [COORDINATES] and the [MAP] units, or laid out.
- ``data/hydrology.json``: the subcatchments and their LID units, rain gauges, time
  series, patterns, external and dry-weather inflows, the run's start, duration and
  runoff steps, for the ``drainage.hydrology`` updater (SWMM's runoff,
  :mod:`twin_drainage.hydrology`, and its LIDs, :mod:`twin_drainage.lid`).
- ``data/sensors.csv``: a level sensor per manhole and a rain gauge sensor at the
  manhole nearest each SWMM gauge's symbol; the rain of the gauge serving the largest
  area also becomes ``drainage.rain`` incidents (the rainstorm warnings read it).
- ``scene.toml`` with ``[source]``: the file, the offset of the coordinates, the start
  and duration of the file's run, its routing step.

Every error names the file, the line, the section and the field, and what is valid;
``strict`` refuses a file with anything the twin does not model, listing it.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin_drainage.inp import (  # noqa: F401 - the importer's names, as before
    SWMM_MIN_SURFAREA,
    InpError,
    Network,
    parse_network,
    read_inp,
    require_clean,
)

OWNER = "imported from SWMM"
#: default level-sensor noise of an imported junction, m (as the generator's radar gauges)
DEPTH_NOISE = 0.005
#: the drainage.rain action accepts up to this intensity, mm/h
MAX_RAIN = 300.0


# --- writing the scene -------------------------------------------------------------
def write_scene(source: str | Path, scene_dir: str | Path, strict: bool = False) -> dict[str, Any]:
    """Import the SWMM file ``source`` as a twin scene in ``scene_dir`` (see the module
    docstring). Returns counts of what was written and ``warnings``; with ``strict``, any
    warning is an :class:`InpError` instead and nothing is written."""
    source, root = Path(source), Path(scene_dir)
    net = parse_network(read_inp(source))
    if strict:
        require_clean(net, source)
    coords = list(net.xy.values()) or [(0.0, 0.0)]
    # Real files use projected coordinates (hundreds of km); the viewer wants metres near 0.
    x0 = math.floor(min(x for x, _ in coords) / 100.0) * 100.0
    y0 = math.floor(min(y for _, y in coords) / 100.0) * 100.0

    def at(name: str) -> tuple[float, float]:
        x, y = net.xy[name]
        return round(x - x0, 3), round(y - y0, 3)

    # SWMM names nodes and links apart; the twin's ids are one name space per domain, so a
    # link named like a node gets " (link)" after its name (the SWMM name stays in swmm_name).
    node_names = set(net.manholes) | set(net.outfalls)
    link_ids = {name: (f"{name} (link)" if name in node_names else name) for name in [*net.pipes, *net.regulators]}
    options = net.options
    features = []
    for name, node in net.manholes.items():
        x, y = at(name)
        rim = node["invert_elevation"] + node["max_depth"]
        props = {"id": name, "kind": "manhole", "owner": OWNER,
                 "invert_elevation": round(node["invert_elevation"], 4), "rim_elevation": round(rim, 4),
                 "shaft_area": round(node["shaft_area"], 4), "ponding_area": round(node["ponding_area"], 3),
                 "catchment_area": 0.0}
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
        bends = net.vertices.get(name, [])
        if pipe["reversed"]:
            bends = bends[::-1]
        path = [at(up)] + [(round(x - x0, 3), round(y - y0, 3)) for x, y in bends] + [at(down)]
        z = [z_up + (z_down - z_up) * k / (len(path) - 1) for k in range(len(path))]
        props = {"id": link_ids[name], "kind": "pipe", "owner": OWNER, "links": [up, down], "diameter": round(pipe["diameter"], 4),
                 "length": round(pipe["length"], 4), "roughness": round(pipe["roughness"], 6),
                 "inlet_offset": round(pipe["inlet_offset"], 4), "outlet_offset": round(pipe["outlet_offset"], 4)}
        if link_ids[name] != name:
            props["swmm_name"] = name
        features.append(_feature({"type": "LineString", "coordinates": [[x, y, round(h, 3)] for (x, y), h in zip(path, z)]},
                                 props))

    regulators = {}
    for name, reg in net.regulators.items():
        up, down = reg["links"]
        z_up = nodes[up]["invert_elevation"] + reg["crest"]
        z_down = nodes[down]["invert_elevation"]
        bends = net.vertices.get(name, [])
        path = [at(up)] + [(round(x - x0, 3), round(y - y0, 3)) for x, y in bends] + [at(down)]
        z = [z_up + (z_down - z_up) * k / (len(path) - 1) for k in range(len(path))]
        props = {"id": link_ids[name], "kind": "regulator", "owner": OWNER, "links": [up, down]}
        if link_ids[name] != name:
            props["swmm_name"] = name
        features.append(_feature({"type": "LineString", "coordinates": [[x, y, round(h, 3)] for (x, y), h in zip(path, z)]},
                                 props))
        regulators[link_ids[name]] = {k: v for k, v in reg.items() if k not in ("line", "links")}
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "regulators.json").write_text(json.dumps(regulators, indent=1, ensure_ascii=False), encoding="utf-8")
    (data / "drainage.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1,
                                                      ensure_ascii=False), encoding="utf-8")
    source_info = {"format": "swmm", "file": source.name, "offset": [x0, y0], "routing_step": options["routing_step"],
                   "flow_routing": options["flow_routing"], "min_slope": options["min_slope"], "link_ids": link_ids,
                   # the link momentum's options (model.inertial_damping reads the first)
                   "inertial_damping": options["inertial_damping"], "surcharge_method": options["surcharge_method"],
                   "storage_nodes": [n for n, node in net.manholes.items() if node["kind"] == "storage"],
                   # TABULAR storage curves, [depth m, area m2] (model.build_network), and culverts'
                   # inlet control (twin_drainage.culvert), by node and pipe id
                   "storage_curves": {n: node["storage_curve"] for n, node in net.manholes.items()
                                      if "storage_curve" in node},
                   "culverts": {link_ids[n]: pipe["culvert"] for n, pipe in net.pipes.items() if "culvert" in pipe},
                   # outfalls whose stage follows a TIMESERIES or a TIDAL curve (forcing.outfall_stage)
                   "outfall_stages": {n: node["stage"] for n, node in net.outfalls.items() if "stage" in node},
                   # entry, exit and average loss coefficients, and flap gates (no reverse flow) of
                   # conduits and of the conduits into an outfall with one, by pipe id (model.LinkLosses)
                   "losses": {link_ids[n]: pipe["losses"] for n, pipe in net.pipes.items() if "losses" in pipe},
                   "flap_gates": [link_ids[n] for n, pipe in net.pipes.items()
                                  if pipe.get("flap") or net.outfalls.get(pipe["links"][1], {}).get("flap")],
                   # storage units seeping into the soil (the kinematic wave: twin_drainage.kinwave)
                   "seepage": {n: node["seepage"] for n, node in net.manholes.items() if "seepage" in node},
                   # true sections (twin_drainage.sections) by pipe id: the kinematic wave's, or the
                   # dynamic wave's (model.dynamic_sections)
                   "sections": {link_ids[n]: pipe["section"] for n, pipe in net.pipes.items() if "section" in pipe},
                   # street inlets ([INLET_USAGE]: twin_drainage.inlets), their conduit by pipe id
                   "inlets": [{**u, "pipe": link_ids[u["pipe"]]} for u in options.get("inlets", [])]}
    (data / "hydrology.json").write_text(json.dumps({**net.hydrology, "source": source_info}, indent=1,
                                                    ensure_ascii=False), encoding="utf-8")
    gauge_at = _gauge_junctions(source, net)
    with (data / "sensors.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "asset", "field", "noise", "stale_after"])
        for name in net.manholes:
            writer.writerow([f"LS-{name}", name, "depth", DEPTH_NOISE, 30.0])
        for gauge, junction in gauge_at.items():
            writer.writerow([f"RG-{gauge}", junction, "rain_intensity", 0.0, 3600.0])

    title = source.stem
    lines = [
        f"# Imported from {source.name} by `twin import swmm` (SWMM 5 input file).",
        "[scene]", f"name = {json.dumps(_slug(title))}", f"title = {json.dumps(f'{title} (SWMM import)')}",
        'units = "m"', "",
        f"# The file's coordinates less ({x0!r}, {y0!r}); its run: from {options['start'].isoformat()}, "
        f"{options['duration']:g} s, routing step {options['routing_step']:g} s (data/hydrology.json keeps them).", "",
        "[[assets]]", 'domain = "drainage"', 'file = "data/drainage.geojson"', "",
        "[sensors]", 'file = "data/sensors.csv"', "",
    ]
    incidents = 0
    main = _main_gauge(net)
    if main is not None and main["name"] in gauge_at:
        junction = gauge_at[main["name"]]
        for start, end, intensity in zip(main["start"], main["end"], main["rain"]):
            if not 0.0 < intensity <= MAX_RAIN or start < 0.0:
                continue  # the twin's drainage.rain takes [0, 300] mm/h; the hydrology keeps the true rain
            lines += ["[[incidents]]", f"at = {float(start)!r}", 'action = "drainage.rain"',
                      f"asset = {json.dumps(junction)}",
                      f"params = {{ intensity = {float(intensity)!r}, duration = {float(end - start)!r} }}", ""]
            incidents += 1
    (root / "scene.toml").write_text("\n".join(lines), encoding="utf-8")
    return {"manhole": len(net.manholes), "outfall": len(net.outfalls), "pipe": len(net.pipes),
            "regulator": len(net.regulators),
            "subcatchment": len(net.hydrology["subcatchments"]),
            "sensor": len(net.manholes) + len(gauge_at), "rain interval": incidents, "warnings": net.warnings}


def _main_gauge(net: Network) -> dict[str, Any] | None:
    """The rain gauge serving the largest subcatchment area."""
    area: dict[str, float] = {}
    for s in net.hydrology["subcatchments"]:
        area[s["gauge"]] = area.get(s["gauge"], 0.0) + s["area"]
    gauges = [g for g in net.hydrology["gauges"] if g["name"] in area]
    return max(gauges, key=lambda g: area[g["name"]]) if gauges else None


def _feature(geometry: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "swmm"


def _gauge_junctions(source: Path, net: Network) -> dict[str, str]:
    """The manhole that carries each used rain gauge: nearest the gauge's [SYMBOLS]
    position, or the first manhole."""
    if not net.manholes:
        return {}
    inp = read_inp(source)
    symbols = {}
    for row in inp.rows("SYMBOLS"):
        try:
            symbols[row.tokens[0]] = (float(row.tokens[1]), float(row.tokens[2]))
        except (ValueError, IndexError):
            continue
    out = {}
    for gauge in net.hydrology["gauges"]:
        spot = symbols.get(gauge["name"])
        if spot is None:
            out[gauge["name"]] = next(iter(net.manholes))
        else:
            out[gauge["name"]] = min(net.manholes, key=lambda n: (net.xy[n][0] - spot[0]) ** 2
                                     + (net.xy[n][1] - spot[1]) ** 2)
    return out


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
def swmm_objects(kind: str) -> list[tuple[int, str]]:
    """(index, name) of every object of ``kind`` ("NODE", "LINK", "SUBCATCH") of the SWMM
    project pyswmm has open, read by index from SWMM's toolkit (swmm-toolkit's ``solver``,
    whose ``node_get_stats(index)`` and the like then read each one).

    Not pyswmm's ``Nodes(sim)``/``Links(sim)``: each object they make checks its name
    against a list of every name, built anew each time, so listing n objects costs n²
    (at 98,559 manholes SWMM ran in minutes and the listing had not ended hours later)."""
    from swmm.toolkit import shared_enum, solver

    which = getattr(shared_enum.ObjectType, kind)
    return [(i, solver.project_get_id(which, i)) for i in range(solver.project_get_count(which))]


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
