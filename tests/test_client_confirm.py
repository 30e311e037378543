"""The project's own clients confirm (``Confirm``) what they applied: the Python
:class:`Mirror` (``Mirror.read``), ``twin tail`` and the browser viewer. A client that
reads slowly then gets fresh, merged deltas instead of a queue of old ones in its buffers
(docs/protocol.md, "Slow clients"). Real uvicorn, real sockets, a real chromium."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import time

import pytest
from conftest import (CHROMIUM, MSGPACK_JS, assert_mirror_equals_engine, connect, launch_chromium, overfilling_toy,
                      paused_state, protocol_block, running, wait_healthy)

from twin.authoring.testing import Harness
from twin.serving import protocol as p
from twin.serving.client import Mirror, tail
from twin.serving.server import STATIC_DIR, create_app


@pytest.fixture
def churning(tmp_path):
    """A twin of the churn plugin (500 rows change a tick: frames of ~5 KB,
    hundreds of which the kernel's socket buffers hold unseen) at 20 ticks a second:
    (server, its stream's URL)."""
    import churnplugin

    server = create_app(lambda: Harness(tmp_path / "scene", plugins=[churnplugin], blocks=(2, 2)).engine, speed=20.0)
    with running(server.app) as http:
        wait_healthy(http)
        yield server, http.replace("http", "ws") + "/ws"


def test_a_mirror_reading_slowly_gets_merged_fresh_deltas_and_converges(churning):
    """A Mirror read with ``Mirror.read`` reads at about 7 deltas a second while the twin
    ticks 20: the server holds it to one delta unconfirmed, so each delta it reads merges
    the ticks since and is a few ticks old, and it ends on the server's state. (Without
    the confirms every tick's delta would queue in the buffers: none merged, and read
    later and later.)"""
    server, url = churning

    async def main():
        before = set(server.hub.clients)
        ws = await connect(url)
        m = Mirror()
        assert isinstance(await m.read(ws), p.Hello)
        (mine,) = set(server.hub.clients) - before
        await ws.send(p.encode_client(p.Subscribe()))
        lags, merged = [], 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            msg = await m.read(ws)
            if isinstance(msg, p.Delta):
                lags.append(server.engine.seq - msg.seq)
                merged += msg.seq > msg.base + 1
            await asyncio.sleep(0.15)
        assert mine.confirms, "the server saw no Confirm from Mirror.read"
        late = lags[len(lags) // 2:]
        assert merged >= len(late) // 2, f"only {merged} merged deltas of {len(lags)}"
        assert max(late) <= 12, f"deltas read {max(late)} ticks after they were made: a queue in the buffers"
        engine = paused_state(server)
        async with asyncio.timeout(10):
            while m.seq < engine.seq:
                await m.read(ws)
        assert_mirror_equals_engine(m, engine)
        await ws.close()

    asyncio.run(main())


class SlowPipe(io.StringIO):
    """``twin tail``'s output into a slow reader: each delta's line takes 0.12 s to write."""

    def write(self, text: str) -> int:
        if text.startswith('{"kind": "delta"'):
            time.sleep(0.12)
        return super().write(text)


def test_twin_tail_into_a_slow_pipe_prints_merged_fresh_deltas(churning):
    """``twin tail`` confirms each frame once printed: written into a pipe slower than the
    ticks, the deltas it prints merge the ticks since (base more than one behind seq)."""
    server, url = churning
    out = SlowPipe()
    assert asyncio.run(tail(url, None, 30, None, out)) == 0
    deltas = [line for line in map(json.loads, out.getvalue().splitlines()) if line["kind"] == "delta"]
    assert len(deltas) == 29  # the snapshot counts as the first
    late = deltas[len(deltas) // 2:]
    merged = sum(d["seq"] > d["base"] + 1 for d in late)
    assert merged >= len(late) // 2, f"only {merged} of the last {len(late)} deltas printed were merged: {late}"
    assert all(b["base"] == a["seq"] for a, b in zip(deltas, deltas[1:], strict=False)), "a printed delta does not follow the last"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)")
@pytest.mark.skipif(not (STATIC_DIR / "index.html").exists(), reason="the viewer is not built (scripts/install builds it)")
def test_the_viewer_confirms_and_a_busy_page_gets_a_merged_delta(tmp_path, toy):
    """The viewer sends ``Confirm`` after each Snapshot and Delta it applied. Its page
    kept busy 2 s (40 ticks of the toy twin) reads, once free, a delta or two merging
    those ticks rather than 40 that the browser queued while the server thought them
    read."""
    from playwright.sync_api import sync_playwright

    with overfilling_toy(tmp_path / "scene", toy) as (server, _client, url, _made), sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_function("window.__twin && window.__twin.stats().snapshots > 0 && window.__twin.stats().deltas >= 3",
                                   timeout=30000)
            (client,) = server.hub.clients
            assert client.confirms, "the server saw no Confirm from the viewer"
            assert len(client.unconfirmed) <= 1
            before = page.evaluate("window.__twin.stats()")
            # the page's thread busy: the browser keeps receiving, the page applies nothing
            page.evaluate("() => { const t = performance.now(); while (performance.now() - t < 2000) {} }")
            page.wait_for_function("n => window.__twin.stats().seq >= n", arg=before["seq"] + 40, timeout=20000)
            after = page.evaluate("window.__twin.stats()")
            ticks, deltas = after["seq"] - before["seq"], after["deltas"] - before["deltas"]
            assert deltas <= ticks - 30, f"{deltas} deltas for {ticks} ticks: the ones sent while the page was busy were not merged"
            assert after["gaps"] == 0 and not errors, errors
        finally:
            browser.close()


#: the docs' JavaScript client driven by node: it applies 25 deltas, each followed by
#: 0.12 s of work that blocks node (as a busy page would), and prints their [base, seq]
SLOW_JS_CLIENT = """
import { connect } from './client.mjs';
const seen = [];
const ws = connect(process.argv[2], (state, m) => {
  if (m.type !== 'delta') return;
  seen.push([m.base, m.seq]);
  const t = performance.now();
  while (performance.now() - t < 120) {}
  if (seen.length === 25) { console.log(JSON.stringify(seen)); process.exit(0); }
});
"""


@pytest.mark.skipif(shutil.which("node") is None or not MSGPACK_JS.exists(), reason="needs node and viewer/node_modules")
def test_the_docs_javascript_client_confirms_and_a_busy_one_gets_merged_deltas(churning, tmp_path):
    """The JavaScript client of docs/protocol.md, run by node (its browser WebSocket)
    against a real server: it confirms what it applied, so while each delta costs it
    0.12 s of work (20 ticks a second come) the deltas it gets merge the ticks since."""
    server, url = churning
    js = protocol_block("example: js client").replace('"@msgpack/msgpack"', json.dumps(MSGPACK_JS.as_uri()))
    (tmp_path / "client.mjs").write_text(js, encoding="utf-8")
    (tmp_path / "run.mjs").write_text(SLOW_JS_CLIENT, encoding="utf-8")
    run = subprocess.run(["node", "--experimental-websocket", str(tmp_path / "run.mjs"), url],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.splitlines()[-1])
    assert all(b[0] == a[1] for a, b in zip(seen, seen[1:], strict=False)), seen
    late = seen[len(seen) // 2:]
    merged = sum(seq > base + 1 for base, seq in late)
    assert merged >= len(late) // 2, f"only {merged} of the last {len(late)} deltas were merged: {late}"
