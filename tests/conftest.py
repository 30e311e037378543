from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a free loopback port, in a thread, with the
    settings ``twin serve`` uses (frame limit, keepalive)."""
    import uvicorn

    from twin.stream import uvicorn_options

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


@pytest.fixture
def toy():
    import toyplugin

    return toyplugin


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
