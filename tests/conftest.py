from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def load_script(name: str):
    """The Python script ``scripts/<name>`` (no .py: a command) imported as a module."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(Path(__file__).resolve().parents[1] / "scripts" / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


_LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


@contextmanager
def sqlite_locked(path: Path, seconds: float) -> Iterator[None]:
    """Another process takes an exclusive lock on the SQLite file ``path`` and holds it
    ``seconds`` from when this enters; leaving waits for it to let go."""
    import subprocess

    locker = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked", "the lock holder took no lock"
        yield
    finally:
        locker.wait(timeout=30)
        locker.stdout.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a free loopback port, in a thread, with the
    settings ``twin serve`` uses (frame limit, keepalive)."""
    import uvicorn

    from twin.serving.stream import uvicorn_options

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for(predicate, timeout: float = 30.0, what: str = "the condition"):
    """Poll ``predicate`` every 50 ms until it returns something truthy, and return that;
    fail the test (AssertionError naming ``what``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def wait_started(server, timeout: float = 60.0) -> None:
    """Wait until ``server`` (twin.serving.server.create_app's) has built its engine: fail
    at once with the reason when the build failed, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while server.engine is None:
        assert server.startup_error is None, server.startup_error
        assert time.monotonic() < deadline, f"the twin did not start within {timeout:g} s"
        time.sleep(0.05)


def wait_healthy(target, timeout: float = 60.0, *, ticking: bool = False, process=None, log: Path | None = None) -> dict:
    """Wait until the twin at ``target`` (an ``httpx.Client`` with its base URL, or a base
    URL such as ``http://127.0.0.1:8000``) is ready, and return ``/api/health``'s body.

    Ready is 200: it ticks and every part works. A test that quarantines a plugin or
    degrades a subsystem on purpose gets 503 however long it waits (docs/operations.md):
    with ``ticking=True`` ready is a first tick done (health's ``seq`` > 0), whatever the
    status. A server still starting in another process refuses connections: not ready
    yet. A failed start fails at once with its reason, and so does the exit of
    ``process`` (the server's ``subprocess.Popen``, when it runs in one); a timeout fails
    with the last answer. Failures show the tail of ``log`` (the server's log file)."""
    import httpx

    if isinstance(target, str):
        with httpx.Client(base_url=target, timeout=10) as client:
            return wait_healthy(client, timeout, ticking=ticking, process=process, log=log)

    def tail() -> str:
        return f"\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the twin's process exited {process.returncode} before it was ready{tail()}")
        try:
            r = target.get("/api/health")
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            body = r.json()
            last = f"{r.status_code} {body}"
            if r.status_code == 200 or (ticking and body.get("seq", 0) > 0):
                return body
            if body.get("status") == "failed":
                raise AssertionError(f"the twin failed to start: {body.get('detail')}{tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the twin was not {'ticking' if ticking else 'healthy'} after {timeout:g} s: {last}{tail()}")
        time.sleep(0.05)


# -- a recorded drill ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def demo_drill(root: Path, name: str, text: str):
    """``root`` made a copy of the demo scene (its scene.toml: the data files are generated
    on first load) with the drill ``text`` as drills/<name>.toml: that drill, loaded."""
    from twin.runs.drill import load_drill

    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir(exist_ok=True)
    (root / "drills" / f"{name}.toml").write_text(text, encoding="utf-8")
    return load_drill(root / "drills" / f"{name}.toml")


def record_drill(drill, path: Path, data: Path | None = None):
    """Run ``drill`` and record it into ``path`` as ``twin drill run --record`` does (its
    twin, its metadata), the engine's data in ``data`` (none: nothing kept): (the run's
    result, the engine's clock start)."""
    from twin.runs.recording import Recorder
    from twin.runs.reruns import run_drill
    from twin.runtime import open_drill

    engine = open_drill(drill, data)
    recorder = Recorder(path, engine, {"drill": drill.name, "drill_path": str(drill.path.resolve())})
    try:
        result = run_drill(drill, engine, recorder)
    finally:
        recorder.close()
        engine.close()
    assert not recorder.failed, recorder.error
    return result, engine.start


@pytest.fixture(scope="session")
def gas_drill_recording(tmp_path_factory) -> Path:
    """The demo's gas-leak drill cut to three minutes, run on a copy of the demo and
    recorded as ``twin drill run --record`` does (the same metadata): the MCAP file's
    path. One for the session: the tests that take it only read it."""
    root = tmp_path_factory.mktemp("gas-drill")
    text = (ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml").read_text()
    assert 'duration = "00:06:00"' in text, "the demo's gas drill changed its duration: cut it to 3 minutes another way"
    drill = demo_drill(root, "gas", text.replace('duration = "00:06:00"', 'duration = "00:03:00"'))
    record_drill(drill, root / "gas.mcap")
    return root / "gas.mcap"


# -- the stream ----------------------------------------------------------------------------


async def connect(url, **kw):
    """A protocol client's websocket to ``url`` (the twin's subprotocol, no size limit, no
    compression); ``kw`` go to ``websockets.connect``."""
    import websockets

    from twin.serving import protocol as p

    return await websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None, **kw)


def paused_state(server):
    """Stop the tick loop and return the engine (its state no longer moves)."""
    server.running.clear()
    time.sleep(0.3)  # let an in-flight tick finish
    return server.engine


def assert_mirror_equals_engine(mirror, engine):
    """``mirror`` is at the engine's tick and holds every column as the engine has it."""
    import numpy as np

    assert mirror.seq == engine.seq
    for d, fields in mirror.tables.items():
        for f, values in fields.items():
            expected = engine.world.tables[d].columns[f]
            if expected.dtype == np.bool_:
                expected = expected.view(np.uint8)
            np.testing.assert_array_equal(values, expected, err_msg=f"{d}.{f}")


# -- docs/protocol.md's examples -----------------------------------------------------------

#: the viewer's msgpack module, which docs/protocol.md's JavaScript client imports
MSGPACK_JS = ROOT / "viewer" / "node_modules" / "@msgpack" / "msgpack" / "dist.esm" / "index.mjs"


def protocol_block(marker: str) -> str:
    """The fenced code block right after ``<!-- marker -->`` in docs/protocol.md."""
    import re

    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    m = re.search(rf"<!-- {re.escape(marker)} -->\n```\w*\n(.*?)```", text, re.S)
    assert m, f"docs/protocol.md has no block marked <!-- {marker} -->"
    return m.group(1)


# -- the browser ---------------------------------------------------------------------------

#: Debian's chromium: the browser tests and bench/viewer*.py drive it (no browser download)
CHROMIUM = Path("/usr/bin/chromium")
#: headless chromium with real WebGL through SwiftShader, and nothing that phones home
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def launch_chromium(playwright, *extra_args: str):
    """A headless Debian chromium, launched through a Playwright (sync API) instance."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], headless=True)


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module (each test opens its own pages).

    Not one per session: while Playwright's sync API is open, its event loop counts as
    running in this thread, so every later ``asyncio.run()`` (the stream tests' clients)
    would fail; a module that takes this fixture must not use asyncio itself."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (scripts/install installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def toy():
    import toyplugin

    return toyplugin


# -- a toy twin on a real server -------------------------------------------------------------

def overfilling_build(root: Path, toy, data: Path | None = None, gate=None):
    """What builds the toy twin of :func:`overfilling_toy` for ``create_app`` (its scene
    under ``root``, its engine's data in ``data``, waiting for ``gate`` when given), and
    the dict whose "h" is then its Harness."""
    from twin.authoring.testing import Harness

    made: dict = {}

    def build():
        if gate is not None:
            gate.wait(30)
        h = Harness(root, plugins=[toy], blocks=(2, 2), data_dir=data)
        h.act("toy.open_tap", "T-001", rate=0.5)
        made["h"] = h
        return h.engine

    return build, made


@contextmanager
def overfilling_toy(root: Path, toy, data: Path | None = None, *, engine_data: bool = False, gate=None,
                    ready: bool = True) -> Iterator[tuple]:
    """A twin of the toy plugin (2 x 2 blocks, its scene written under ``root``) on a real
    uvicorn at 20 times real time, its tank T-001 overfilling: a red alarm within
    seconds. Yields (server, an httpx client of it, its URL, ``made``: ``made["h"]`` is
    the Harness once built). ``data`` is the server's data folder (its tokens) and, with
    ``engine_data``, the engine's too (its alarm store); the build waits for ``gate`` (a
    threading.Event) when given, so that a test sees the start; ``ready``: wait until
    /api/health says so."""
    import httpx

    from twin.serving.server import create_app

    build, made = overfilling_build(root, toy, data if engine_data else None, gate)
    server = create_app(build, speed=20.0, **({"data_dir": data} if data is not None else {}))
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        if ready:
            wait_healthy(client)
        yield server, client, url, made


# -- a scene -------------------------------------------------------------------------------

@pytest.fixture
def scene_dir(tmp_path, toy):
    """A generated 3 x 3-block city of the toy plugin's tanks written as a scene (its
    scene.toml and data files) into ``tmp_path``: (that folder, a registry of the toy only)."""
    from twin.authoring.citygen import plan_city, populate, write_scene
    from twin.plugins.registry import load_registry

    registry = load_registry([toy], entry_points=False)
    plan = plan_city(3, 3, 3)
    populate(plan, registry)
    write_scene(plan, tmp_path, "toytown", registry)
    return tmp_path, registry


def scene_problems(root: Path, registry) -> list[str]:
    """The problems of the scene at ``root`` (it must fail to load: the test fails if it loads)."""
    from twin.errors import SceneError
    from twin.tick.scene import load_scene

    with pytest.raises(SceneError) as info:
        load_scene(root, registry.domains)
    return info.value.problems


@pytest.fixture
def mosquitto(tmp_path):
    """Start a real mosquitto on a free loopback port: ``mosquitto(**options)`` returns a
    started :class:`twin.sources.broker.Broker` (options as its constructor's: a password
    file, an ACL); every broker started is stopped after the test."""
    from twin.errors import TwinError
    from twin.sources.broker import Broker, mosquitto_path

    try:
        mosquitto_path()
    except TwinError as exc:
        pytest.skip(str(exc))
    started: list[Broker] = []

    def start(**options) -> Broker:
        broker = Broker(tmp_path / f"mosquitto{len(started)}", **options)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()
