"""docs/protocol.md cannot drift from twin/serving/protocol.py, and its examples run.

- every msgspec Struct of ``twin.serving.protocol`` has a section whose heading names it, and
  every one of its fields (from ``msgspec.structs.fields``, plus the ``type`` tag) is
  named in that section; likewise every key of the alarm and incident records (the
  TypedDicts ``AlarmSummary``, ``IncidentSummary`` and those they hold), of a domain's
  ``ViewerStyle``, every error code and every close code (the enums ErrorCode and CloseCode);
- the worked example's byte dump is what ``twin.serving.protocol.encode`` makes today;
- the Python client on the page (websockets + msgpack only) is cut out of the page and
  run against a real server, and prints what the page says it prints (numbers aside);
- the JavaScript decoder on the page, run by node on real frames, reads the same
  values as the server wrote (skipped without node and the viewer's @msgpack/msgpack);
- ``twin tail --count 3`` against a real server prints hello, snapshot, delta.
"""

from __future__ import annotations

import dataclasses
import json
import typing
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
from conftest import MSGPACK_JS, protocol_block, running, wait_healthy

from twin.plugins.contributions import ViewerStyle
from twin.serving import protocol as p
from twin.serving import stream
from twin.tick.alarms import Alarm

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")
HEADING = re.compile(r"^(#+) (.+)$", re.M)


def _structs() -> list[type[msgspec.Struct]]:
    return [obj for obj in vars(p).values()
            if isinstance(obj, type) and issubclass(obj, msgspec.Struct) and obj.__module__ == p.__name__]


def section(title: str) -> str:
    """The text under the heading that names ``title`` in backticks (or plainly), up to
    the next heading of the same or a higher level."""
    headings = list(HEADING.finditer(TEXT))
    for i, h in enumerate(headings):
        text = h.group(2)
        if f"`{title}`" in text or text.strip() == title:
            level = len(h.group(1))
            end = next((g.start() for g in headings[i + 1:] if len(g.group(1)) <= level), len(TEXT))
            return TEXT[h.end():end]
    raise AssertionError(f"docs/protocol.md has no section headed by {title!r}")


# ------------------------------------------------------------------ the page vs the code


def test_every_message_and_nested_type_is_on_the_page():
    names = {cls.__name__ for cls in _structs()}
    assert {"Hello", "Snapshot", "Delta", "Result", "Error", "Subscribe", "AlarmAction", "Ping",
            "ArrayRef", "FieldInfo", "DomainInfo", "FieldDelta", "AlarmEventInfo"} <= names
    for cls in _structs():
        section(cls.__name__)


@pytest.mark.parametrize("cls", _structs(), ids=lambda c: c.__name__)
def test_every_field_is_named_in_its_section(cls):
    text = section(cls.__name__)
    fields = [f.encode_name for f in msgspec.structs.fields(cls)]
    config = cls.__struct_config__
    if config.tag is not None:
        fields.append(config.tag_field)
        assert f'"{config.tag}"' in text, f"the section of {cls.__name__} does not give its type {config.tag!r}"
    missing = [f for f in fields if f"`{f}`" not in text]
    assert not missing, f"docs/protocol.md, section {cls.__name__}: field(s) {missing} not described"


def _keys(record: type) -> list[str]:
    """Every key of a TypedDict record and of the TypedDicts it holds (in lists too)."""
    keys = []
    for key, hint in typing.get_type_hints(record).items():
        keys.append(key)
        for inner in (hint, *typing.get_args(hint)):
            if typing.is_typeddict(inner):
                keys += _keys(inner)
    return keys


def test_every_alarm_record_key_is_named():
    text = section("Alarm records")
    missing = [k for k in _keys(p.AlarmSummary) if f"`{k}`" not in text]
    assert not missing, f"alarm record keys {missing} not described"
    # the declaration is the book's record: the same keys as the Alarm it summarises
    assert list(typing.get_type_hints(p.AlarmSummary)) == [f.name for f in dataclasses.fields(Alarm)]


def test_every_incident_record_key_and_style_key_is_named():
    text = section("Incident records")
    missing = [k for k in _keys(p.IncidentSummary) if f"`{k}`" not in text]
    assert not missing, f"incident record keys {missing} not described"
    style = section("ViewerStyle")
    assert not [f.name for f in dataclasses.fields(ViewerStyle) if f"`{f.name}`" not in style]


def test_every_error_code_and_close_code_is_on_the_page():
    """The codes are enums (twin.serving.protocol): a ProtocolError of another code is
    refused when it is made, and the stream closes with the enum's members."""
    errors = section("Error")
    assert not [c.value for c in p.ErrorCode if f"`{c.value}`" not in errors], "error codes missing from the Error section"
    table = section("Close codes")
    assert not [c.value for c in p.CloseCode if f"| {c.value} " not in table and f"/ {c.value} " not in table]
    assert {stream.CLOSE_TOO_SLOW, stream.CLOSE_POLICY, stream.CLOSE_INTERNAL} <= set(p.CloseCode)
    with pytest.raises(ValueError):
        p.ProtocolError("no_such_code", "a code outside the enum is a bug")
    assert f"{p.MAX_CLIENT_MESSAGE:,}" in section("Limits")
    assert p.SUBPROTOCOL in section("Connecting") and f"`Hello.protocol` ({p.PROTOCOL_VERSION})" in section("Versioning")


def test_the_worked_example_is_what_encode_makes():
    namespace: dict = {}
    exec(protocol_block("worked-example: code"), namespace)
    frame = namespace["frame"]
    dump = "".join(f"{i:04x}  {frame[i:i + 16].hex(' ')}\n" for i in range(0, len(frame), 16))
    assert protocol_block("worked-example: dump") == dump
    assert f"these are its {len(frame)} bytes" in TEXT
    message, base = p.decode_server(frame)
    assert base == 216 and isinstance(message, p.Delta)
    assert p.view(frame, base, message.domains["churn"]["value"].values).tolist() == [1.5, -2.25]


def test_the_python_example_uses_only_websockets_and_msgpack():
    code = protocol_block("example: python client")
    imports = set(re.findall(r"^(?:import|from) (\w+)", code, re.M))
    assert imports <= {"asyncio", "struct", "sys", "msgpack", "websockets"}, imports


# ------------------------------------------------------------------ against a real server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    import churnplugin
    import toyplugin

    from twin.serving.server import create_app
    from twin.authoring.testing import Harness

    root = tmp_path_factory.mktemp("protocol-docs")

    def build():
        h = Harness(root / "scene", plugins=[toyplugin, churnplugin], blocks=(2, 2))
        h.act("toy.open_tap", "T-001", rate=0.5)
        return h.engine

    server = create_app(build, speed=10.0)
    with running(server.app) as http:
        wait_healthy(http)
        yield http.replace("http", "ws") + "/ws"


def _shape(line: str) -> str:
    return re.sub(r"-?\d+(\.\d+)?", "N", line.strip())


def test_the_python_example_client_runs_and_prints_what_the_page_says(server_url, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(protocol_block("example: python client"), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), server_url], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    printed = run.stdout.strip().splitlines()
    promised = protocol_block("example: python output").strip().splitlines()
    assert [_shape(x) for x in printed] == [_shape(x) for x in promised], run.stdout
    # and what it printed is true of this server: 2 domains, 9 tanks + 2000 probes, 7 live fields
    # and each domain's `stale` (both have sensors)
    assert printed[0].startswith("hello: protocol 1, role admin, 2 domains, 2009 assets")
    assert "9 fields" in printed[1]
    seqs = [tuple(map(int, re.match(r"delta (\d+)->(\d+)", x).groups())) for x in printed[2:5]]
    # each delta follows the one before (a client still taking its snapshot when the next
    # ticks come may be sent them merged, as the page says: base -> seq over several ticks)
    assert all(b > a for a, b in seqs) and seqs[1][0] == seqs[0][1] and seqs[2][0] == seqs[1][1]


def test_twin_tail_prints_hello_snapshot_delta(server_url):
    run = subprocess.run([sys.executable, "-m", "twin.cli", "tail", server_url, "--count", "3"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    frames = [x for x in lines if x["kind"] != "alarm"]
    assert [x["kind"] for x in frames] == ["hello", "snapshot", "delta", "delta"]
    assert frames[0]["protocol"] == 1 and frames[0]["assets"] == {"toy": 9, "churn": 2000}
    assert frames[2]["base"] == frames[1]["seq"] and frames[3]["base"] == frames[2]["seq"]
    assert all(x["bytes"] > 0 and "time" in x for x in frames[1:])


# ------------------------------------------------------------------ the JavaScript decoder

@pytest.mark.skipif(shutil.which("node") is None or not MSGPACK_JS.exists(), reason="needs node and viewer/node_modules")
def test_the_js_decoder_views_real_frames_as_typed_arrays(tmp_path):
    body = p.Body()
    refs = {
        "f4": body.add(np.array([1.5, -2.25, 3.0], np.float32)),
        "u1": body.add(np.array([True, False, True])),
        "f8": body.add(np.array([0.1, 1e300], np.float64)),
        "i4": body.add(np.array([-7, 2**31 - 1], np.int32)),
        "u4": body.add(np.array([3, 17, 2**32 - 1], np.uint32)),
    }
    snapshot = p.encode(p.Snapshot(seq=5, time=5.0, domains={"d": refs}, alarms=[], stale=[]), body)
    (tmp_path / "frame.bin").write_bytes(snapshot)
    js = protocol_block("example: js client").replace('"@msgpack/msgpack"', json.dumps(MSGPACK_JS.as_uri()))
    (tmp_path / "client.mjs").write_text(js, encoding="utf-8")
    (tmp_path / "run.mjs").write_text(
        "import { readFileSync } from 'node:fs';\n"
        "import { decodeFrame, encodeMessage } from './client.mjs';\n"
        "const b = readFileSync(new URL('./frame.bin', import.meta.url));\n"
        "const buffer = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);\n"
        "const { header, view } = decodeFrame(buffer);\n"
        "const out = { type: header.type, seq: header.seq, arrays: {} };\n"
        "for (const [k, ref] of Object.entries(header.domains.d)) out.arrays[k] = Array.from(view(ref));\n"
        "out.subscribe = Array.from(encodeMessage({ type: 'subscribe', since: 5 }));\n"
        "console.log(JSON.stringify(out));\n",
        encoding="utf-8",
    )
    run = subprocess.run(["node", str(tmp_path / "run.mjs")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["type"] == "snapshot" and out["seq"] == 5
    assert out["arrays"] == {"f4": [1.5, -2.25, 3.0], "u1": [1, 0, 1], "f8": [0.1, 1e300], "i4": [-7, 2**31 - 1],
                             "u4": [3, 17, 2**32 - 1]}
    # what the JS encodes is a valid client message for the server
    assert p.decode_client(bytes(out["subscribe"])) == p.Subscribe(since=5)
