"""The viewer's TypeScript check: ``npm run check`` (``tsc --noEmit`` over the viewer's
JavaScript with ``checkJs``) passes, and the ``.d.ts`` it reads for the wire messages is
generated from twin/serving/protocol.py and agrees with what the server really sends."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script

from twin.serving import protocol as p

ROOT = Path(__file__).resolve().parents[1]
VIEWER = ROOT / "viewer"
TSC = VIEWER / "node_modules" / ".bin" / "tsc"
needs_tsc = pytest.mark.skipif(not TSC.exists(), reason="typescript is not installed (scripts/install runs npm ci in viewer/)")


@pytest.fixture(scope="module")
def dts() -> str:
    return load_script("gen-protocol-dts").render()


def interfaces(text: str) -> dict[str, dict[str, tuple[str, bool]] | str]:
    """The interfaces of a generated .d.ts: name -> field -> (type, optional); and its
    type aliases (the enums): name -> the type."""
    out: dict[str, dict[str, tuple[str, bool]] | str] = {}
    for name, body in re.findall(r"^export interface (\w+) \{\n(.*?)^\}", text, re.M | re.S):
        fields = {}
        for field, optional, spelled in re.findall(r"^  (\w+)(\??): (.+);$", body, re.M):
            fields[field] = (spelled, optional == "?")
        out[name] = fields
    for name, spelled in re.findall(r"^export type (\w+) = (.+);$", text, re.M):
        out[name] = spelled
    return out


def split_top(spelled: str, sep: str) -> list[str]:
    """Split a type at ``sep`` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spelled):
        depth += ch in "<[" and 1 or (ch in ">]" and -1 or 0)
        if depth == 0 and spelled.startswith(sep, i):
            parts.append(spelled[start:i])
            start = i + len(sep)
    parts.append(spelled[start:])
    return [s.strip() for s in parts]


def conforms(value: Any, spelled: str, types: dict, where: str) -> list[str]:
    """Where ``value`` (a decoded message, as msgspec builtins) breaks the TypeScript type
    ``spelled`` of the generated file: every form the generator writes is understood."""
    alternatives = split_top(spelled, " | ")
    if len(alternatives) > 1:
        for alt in alternatives:
            if not conforms(value, alt, types, where):
                return []
        return [f"{where}: {value!r:.80} is none of {spelled}"]
    s = spelled
    if s == "unknown":
        return []
    if s == "null":
        return [] if value is None else [f"{where}: {value!r:.80} is not null"]
    if s == "number":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{where}: {value!r:.80} is not a number"]
    if s == "string":
        return [] if isinstance(value, str) else [f"{where}: {value!r:.80} is not a string"]
    if s == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: {value!r:.80} is not a boolean"]
    if s.startswith('"'):
        return [] if value == s.strip('"') else [f"{where}: {value!r:.80} is not {s}"]
    if re.fullmatch(r"-?\d+", s):
        return [] if value == int(s) and not isinstance(value, bool) else [f"{where}: {value!r:.80} is not {s}"]
    if isinstance(types.get(s), str):  # an alias: an enum's values
        return conforms(value, types[s], types, where)
    if s.startswith("Array<"):
        if not isinstance(value, list):
            return [f"{where}: {value!r:.80} is not an array"]
        return [e for i, v in enumerate(value) for e in conforms(v, s[6:-1], types, f"{where}[{i}]")]
    if s.startswith("["):
        items = split_top(s[1:-1], ", ")
        if not isinstance(value, list) or len(value) != len(items):
            return [f"{where}: {value!r:.80} is not a tuple {s}"]
        return [e for i, (v, t) in enumerate(zip(value, items)) for e in conforms(v, t, types, f"{where}[{i}]")]
    if s.startswith("Record<"):
        key, item = split_top(s[7:-1], ", ")
        if not isinstance(value, dict):
            return [f"{where}: {value!r:.80} is not an object"]
        return [e for k, v in value.items() for e in conforms(k, key, types, f"{where} key") + conforms(v, item, types, f"{where}.{k}")]
    if s in types:
        if not isinstance(value, dict):
            return [f"{where}: {value!r:.80} is not a {s}"]
        fields = types[s]
        errors = [f"{where}: {s} declares no {k!r}" for k in value if k not in fields]
        errors += [f"{where}: lacks {s}.{k}" for k, (_, optional) in fields.items() if k not in value and not optional]
        errors += [e for k, (t, _) in fields.items() if k in value for e in conforms(value[k], t, types, f"{where}.{k}")]
        return errors
    return [f"{where}: the test does not understand the type {s}"]


def test_generated_dts_is_up_to_date(dts):
    current = (VIEWER / "src" / "protocol.generated.d.ts").read_text(encoding="utf-8")
    assert current == dts, "viewer/src/protocol.generated.d.ts is out of date: run scripts/gen-protocol-dts"


def test_dts_declares_every_export_of_the_generated_js(dts):
    """tsc reads the .d.ts in place of protocol.generated.js: a constant missing there
    would be an error in every module that imports it, one present only there a lie."""
    js = load_script("gen-protocol-js").render()
    exported = set(re.findall(r"^export const (\w+)", js, re.M))
    declared = set(re.findall(r"^export declare const (\w+)", dts, re.M))
    assert exported and exported == declared


def test_dts_types_every_field_of_every_message(dts):
    types = interfaces(dts)
    import msgspec

    client = set(p.ClientMessage.__args__)
    for union in (p.ServerMessage, p.ClientMessage):
        for cls in union.__args__:
            fields = dict(types[cls.__name__])
            assert fields.pop("type") == (f'"{cls.__struct_config__.tag}"', False)
            declared = {f.encode_name: f.required for f in msgspec.structs.fields(cls)}
            assert set(fields) == set(declared), cls.__name__
            # msgspec writes every field unless told to omit defaults; a client may leave
            # out those with defaults
            may_omit = cls in client or cls.__struct_config__.omit_defaults
            for name, required in declared.items():
                assert fields[name][1] == (may_omit and not required), (cls.__name__, name)


def test_dts_types_every_field_of_the_rest_answers_the_viewer_reads(dts):
    """Each REST answer of the generator's list, every field under its JSON name; those
    msgspec leaves out (UNSET) optional."""
    import msgspec

    gen = load_script("gen-protocol-dts")
    types = interfaces(dts)
    assert {c.__name__ for c in gen.REST} >= {"AssetInfo", "SeriesAnswer", "LayerList", "LayerMap", "SceneInfo"}
    for cls in [*gen.REST, *(t for t in vars(__import__("twin.serving.history_api").serving.history_api).values()
                               if isinstance(t, type) and issubclass(t, msgspec.Struct) and t.__name__ in types)]:
        fields = types[cls.__name__]
        declared = {f.encode_name: f.default is msgspec.UNSET for f in msgspec.structs.fields(cls)}
        assert {k: v[1] for k, v in fields.items()} == declared, cls.__name__
    assert types["SeriesAnswer"]["from"] == ("number", False)  # the renamed field, under its JSON name
    assert types["Points"]["v"] == ("Array<number | null>", True)  # a gap (NaN) is null in JSON


def test_a_wrongly_typed_message_is_caught_by_the_conformance_check(dts):
    """The check used on the real messages below finds a wrong, a missing and an extra field."""
    types = interfaces(dts)
    good = {"type": "result", "request": 1, "ok": True, "error": "", "alarm": None, "warnings": []}
    assert conforms(good, "Result", types, "Result") == []
    assert conforms({**good, "ok": "yes"}, "Result", types, "Result")
    assert conforms({k: v for k, v in good.items() if k != "error"}, "Result", types, "Result")
    assert conforms({**good, "extra": 1}, "Result", types, "Result")
    assert conforms({**good, "alarm": {"id": 1}}, "Result", types, "Result")  # an alarm summary lacks most keys


def test_real_messages_of_the_stream_conform_to_the_dts(dts, tmp_path):
    """Hello, Snapshot and a Delta with alarm events, as a real engine with the built-in
    plugins makes them (a gas leak raises the alarms), checked field by field against
    the generated interfaces, alarm summaries and viewer styles included."""
    import msgspec

    from twin.authoring.testing import Harness
    from twin.serving import stream

    types = interfaces(dts)
    h = Harness(tmp_path / "scene", entry_points=True, blocks=(2, 2))
    try:
        engine = h.engine
        sub = stream.Subscription.resolve(engine, None)
        hub = stream.Hub(engine)
        pending = stream.Pending(base=engine.seq)
        h.act("gas.leak", "G-M-0001", diameter=0.2)
        for _ in range(600):
            pending.add(engine.tick(), sub)
            if any(e.kind == "raise" for e in pending.events) and engine.alarms.active():
                break
        assert any(e.kind == "raise" for e in pending.events), "the leak raised no alarm in 600 ticks"
        delta, body = pending.message()
        frames = {
            "Hello": stream.hello(engine, "viewer", "live", "test", "epoch"),
            "Snapshot": hub.snapshot(sub),
            "Delta": p.encode(delta, body),
        }
        # the header as any client decodes it: msgpack, untyped
        headers = {name: msgspec.msgpack.decode(frame[4 : 4 + struct.unpack_from("<I", frame)[0]]) for name, frame in frames.items()}
        for name, header in headers.items():
            assert conforms(header, name, types, name) == []
        assert any(d["style"] for d in headers["Hello"]["domains"])  # ViewerStyle was checked on real styles
        assert headers["Snapshot"]["alarms"] and headers["Delta"]["events"]  # AlarmSummary on real alarms
    finally:
        h.close()


@needs_tsc
def test_npm_run_check_passes():
    """tsc --noEmit over the viewer's sources, with the generated declarations."""
    result = subprocess.run(["npm", "run", "--silent", "check"], cwd=VIEWER, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_tsc
def test_the_check_fails_when_the_protocol_renames_a_field_the_viewer_reads(dts, tmp_path):
    """The declarations type what the viewer reads: a copy of the viewer whose generated
    Hello renames ``timezone`` (read by state.js) fails tsc, naming the field."""
    copy = tmp_path / "viewer"
    shutil.copytree(VIEWER / "src", copy / "src")
    shutil.copy(VIEWER / "tsconfig.json", copy / "tsconfig.json")
    shutil.copy(VIEWER / "package.json", copy / "package.json")
    os.symlink(VIEWER / "node_modules", copy / "node_modules")
    generated = copy / "src" / "protocol.generated.d.ts"
    text = generated.read_text(encoding="utf-8")
    assert "  timezone: string;\n" in text
    generated.write_text(text.replace("  timezone: string;\n", "  time_zone: string;\n"), encoding="utf-8")
    result = subprocess.run([str(TSC), "--noEmit", "-p", str(copy)], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "timezone" in result.stdout and "state.js" in result.stdout, result.stdout
