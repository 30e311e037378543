"""``GET /api/health``: is the twin ready and every part of it working (no token needed)."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from twin import __version__
from twin.serving.protocol import PROTOCOL_VERSION
from twin.serving.routing import ApiRoute, Call, Reply


class PartInfo(msgspec.Struct):
    """One part of the server (engine, alarm store, recorder, MQTT...)."""

    state: Literal["ok", "starting", "degraded", "failed"]
    #: why it is not ok; empty when it is
    reason: str


class Health(msgspec.Struct):
    """200 only when the twin ticks and every part works; else 503 with the reasons in
    ``detail``. Before the twin is built (or when it failed to start) only ``status``,
    ``detail`` and ``subsystems`` are given."""

    status: Literal["ok", "degraded", "starting", "failed"]
    subsystems: dict[str, PartInfo]
    #: every reason it is not ok, joined by "; "
    detail: str | UnsetType = UNSET
    scene: str | UnsetType = UNSET
    #: the twin's clock (epoch seconds when live)
    time: float | UnsetType = UNSET
    #: the sequence number of the last frame
    seq: int | UnsetType = UNSET
    #: seconds since the last tick completed (null while paused or before the first)
    last_tick_age: float | None | UnsetType = UNSET
    last_tick_error: str | None | UnsetType = UNSET
    #: the wire protocol's version (Hello.protocol)
    protocol: int | UnsetType = UNSET
    version: str | UnsetType = UNSET
    #: each plugin's status: active or quarantined
    plugins: dict[str, Literal["active", "quarantined"]] | UnsetType = UNSET


async def health(call: Call) -> Reply:
    """The twin's health: 200 when it ticks and every part works, else 503 saying why."""
    server = call.server
    engine = server.engine
    subsystems = {name: PartInfo(s.state, s.reason) for name, s in server.subsystems.parts.items()}  # type: ignore[arg-type]
    if engine is None or (engine.seq == 0 and server.replay is None and server.last_tick is None):
        status = "failed" if server.startup_error else "starting"
        detail = server.startup_error or (
            "loading plugins, compiling kernels and loading the scene" if engine is None
            else "running the first tick (compiling the updaters)"
        )
        return Reply(Health(status, subsystems, detail), 503)
    age = server.tick_age()
    limit = server.stall_limit()
    problems = server.subsystems.problems()
    problems += [f"plugin {n} quarantined: {p.reason.splitlines()[0] if p.reason else ''}"
                 for n, p in engine.registry.plugins.items() if p.status == "quarantined"]
    problems += [f"{d}.{f} is stale: a kernel gives NaN or infinity on some rows (their last values are kept)"
                 for d, f in sorted(engine.nonfinite_fields)]
    if age is not None and age > limit:
        problems.insert(0, f"no tick completed for {age:.1f} s (the limit is {limit:.1f} s)"
                           + (f"; last error {server.last_tick_error}" if server.last_tick_error else ""))
    answer = Health(
        "ok" if not problems else "degraded", subsystems, "; ".join(problems) if problems else UNSET,
        scene=engine.scene.name, time=engine.time, seq=engine.seq, last_tick_age=age,
        last_tick_error=server.last_tick_error, protocol=PROTOCOL_VERSION, version=__version__,
        plugins={n: p.status for n, p in engine.registry.plugins.items()},  # type: ignore[misc]
    )
    return Reply(answer, 503 if problems else 200)


ROUTES = [
    ApiRoute("GET", "/api/health", health, role=None, ready=False, tag="health",
             answers={200: Health, 503: Health}),
]
