"""The viewer's protocol names are generated from twin/serving/protocol.py and must not drift."""

from pathlib import Path

from conftest import load_script

from twin.serving import protocol as p

ROOT = Path(__file__).resolve().parents[1]


def test_generated_js_is_up_to_date():
    gen = load_script("gen-protocol-js")
    text = gen.render()
    current = (ROOT / "viewer" / "src" / "protocol.generated.js").read_text(encoding="utf-8")
    assert current == text, "viewer/src/protocol.generated.js is out of date: run scripts/gen-protocol-js"


def test_generated_js_names_every_message_and_field():
    text = load_script("gen-protocol-js").render()
    assert text.startswith("// generated, do not edit")
    assert f"export const PROTOCOL_VERSION = {p.PROTOCOL_VERSION};" in text
    assert f'export const SUBPROTOCOL = "{p.SUBPROTOCOL}";' in text
    assert f"export const ALIGN = {p.ALIGN};" in text
    for cls in (p.Hello, p.Snapshot, p.Delta, p.Result, p.Error, p.Subscribe, p.AlarmAction, p.Ping, p.ArrayRef, p.DomainInfo):
        line = next(l for l in text.splitlines() if l.strip().startswith(f"{cls.__name__}: Object.freeze"))
        for name in cls.__struct_fields__:
            assert f'"{name}"' in line, (cls.__name__, name)
