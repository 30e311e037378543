"""Regulators on small nodes (twin_drainage.regulators, model.route): a weir or a pump on
a junction of SWMM's minimum surface area, routed in steps far longer than the node's
time constant, against independent references (the level's ODE, continuity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from twin.plugins.registry import load_registry
from twin.tick.scene import load_scene
from twin.tick.simulator import Simulator

from twin_drainage import plugin, swmm

HEAD = """[OPTIONS]
FLOW_UNITS           CMS
FLOW_ROUTING         DYNWAVE
START_DATE           01/01/2020
START_TIME           00:00:00
REPORT_START_DATE    01/01/2020
REPORT_START_TIME    00:00:00
END_DATE             01/01/2020
END_TIME             00:10:00
REPORT_STEP          00:01:00
WET_STEP             00:01:00
DRY_STEP             00:01:00
ROUTING_STEP         0:00:10
MIN_SURFAREA         {area}

[JUNCTIONS]
J                0          3          0          0          0

[OUTFALLS]
O                -1         FREE                        NO

[INFLOWS]
J                FLOW             ""               FLOW     1.0      1.0      {inflow}

[COORDINATES]
J                0                  0
O                10                 0
"""
#: the junction's area (SWMM's MIN_SURFAREA, 12.566 ft²), m², and its inflow, m³/s
AREA, INFLOW = 1.167, 0.05
#: a transverse weir 1 m long, its crest 0.5 m above the junction's invert
CREST, CW, LENGTH = 0.5, 1.84, 1.0
WEIR = """
[WEIRS]
W                J                O                TRANSVERSE   {crest}        {cw}       NO       0        0          NO

[XSECTIONS]
W                RECT_OPEN    1                {length}          0          0
"""
#: the pump's well J fed through a pipe from U, which takes the inflow
PUMP = """
[JUNCTIONS]
U                1          3          0          0          0

[CONDUITS]
C                U                J                50         0.013      0          0          0          0

[XSECTIONS]
C                CIRCULAR     0.3              0          0          0          1

[PUMPS]
P                J                O                PC               ON       0        0

[CURVES]
PC               Pump4      0          0.1
PC                          2          0.2

[COORDINATES]
U                -50                0
"""


def run(tmp_path: Path, text: str, tick: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The file run in the twin in ticks of ``tick`` s: times, J's depth, the regulator's flow."""
    path = tmp_path / "tiny.inp"
    path.write_text(text, encoding="utf-8")
    swmm.write_scene(path, tmp_path / "scene")
    registry = load_registry([plugin], entry_points=False)
    truth = Simulator(load_scene(tmp_path / "scene", registry.domains), registry, 0)
    table = truth.world.tables["drainage"]
    ids = list(table.ids)
    node, link = ids.index("J"), next(k for k, i in enumerate(ids) if i in ("W", "P"))

    def fail(plugin_name: str, what: str, exc: BaseException) -> None:
        raise RuntimeError(f"{plugin_name}: {what}: {exc}") from exc

    times, depth, flow = [], [], []
    for k in range(60):
        truth.step(tick, fail)
        times.append((k + 1) * tick)
        depth.append(float(table["depth"][node]))
        flow.append(float(table["flow"][link]))
    return np.array(times), np.array(depth), np.array(flow)


def test_a_weir_drains_a_small_junction_as_the_level_s_ode(tmp_path):
    """A weir on a 1.167 m² junction fed 50 l/s: A·dh/dt = Q_in - Cw·L·(h - crest)^1.5,
    whose time constant at the weir (A/(dQ/dh), 1.4 s) is a seventh of the 10 s step.
    Taken explicit, the weir's flow swung the level between empty and twice its height;
    implicit, the level follows the ODE to its steady height, 0.5 + (Q_in/(Cw·L))^(2/3)."""
    text = HEAD.format(area=AREA, inflow=INFLOW) + WEIR.format(crest=CREST, cw=CW, length=LENGTH)
    times, depth, flow = run(tmp_path, text)

    def rise(_t, h):
        return [(INFLOW - CW * LENGTH * max(h[0] - CREST, 0.0) ** 1.5) / AREA]

    ode = solve_ivp(rise, (0.0, times[-1]), [0.0], t_eval=times, rtol=1e-10, atol=1e-12).y[0]
    steady = CREST + (INFLOW / (CW * LENGTH)) ** (2.0 / 3.0)
    assert ode[-1] == pytest.approx(steady, abs=1e-6)
    later = times >= 60.0  # the crest is reached at 11.7 s: a step's transient, then the ODE
    assert np.max(np.abs(depth[later] - ode[later])) < 1.0e-3
    assert flow[-1] == pytest.approx(INFLOW, rel=1e-6)


def test_a_pump_passes_what_reaches_its_wet_well(tmp_path):
    """A TYPE4 pump (0.1 m³/s at an empty well, more when deeper) whose well J a pipe
    feeds 20 l/s: it can pass all that arrives, so the well stays dry and the pump
    carries the pipe's flow, as SWMM's does (dynwave.c getModPumpFlow: the inflow, when
    pumping more would leave the well below empty). Taking only what the well held at
    the step's start, the well kept each step's inflow from the pipe."""
    inflow = 0.02
    text = HEAD.format(area=AREA, inflow=inflow).replace("J                FLOW", "U                FLOW") + PUMP
    times, depth, flow = run(tmp_path, text)
    later = times >= 300.0  # the pipe's flow is steady by then
    assert np.max(depth[later]) < 1.0e-9
    assert flow[later] == pytest.approx(np.full(int(later.sum()), inflow), rel=1e-3)
