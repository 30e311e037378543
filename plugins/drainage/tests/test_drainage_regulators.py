"""Regulators on small nodes (twin_drainage.regulators, model.route): a weir on a
junction of SWMM's minimum surface area, routed in steps far longer than the node's time
constant, against an independent reference (the level's ODE)."""

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
def run(tmp_path: Path, text: str, tick: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The file run in the twin in ticks of ``tick`` s: times, J's depth, the weir's flow."""
    path = tmp_path / "tiny.inp"
    path.write_text(text, encoding="utf-8")
    swmm.write_scene(path, tmp_path / "scene")
    registry = load_registry([plugin], entry_points=False)
    truth = Simulator(load_scene(tmp_path / "scene", registry.domains), registry, 0)
    table = truth.world.tables["drainage"]
    ids = list(table.ids)
    node, link = ids.index("J"), ids.index("W")

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

