"""docs/incidents.md's table "What an incident holds" names every key of the incident
record the API and the stream carry (twin.serving.protocol.IncidentSummary, with the
IncidentInfo keys it extends) and no key the record lacks."""

import re
import typing
from pathlib import Path

from twin.serving import protocol

DOC = Path(__file__).resolve().parents[1] / "docs" / "incidents.md"


def _record_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## What an incident holds")
    return text[start : text.index("\n## ", start + 1)]


def test_the_record_table_names_every_key_and_no_other():
    rows = [line for line in _record_table().splitlines() if line.startswith("| `")]
    named = {key for row in rows for key in re.findall(r"`([a-z_]+)`", row.split(" | ")[0])}
    keys = set(typing.get_type_hints(protocol.IncidentSummary))
    assert "crew" in keys and "times" in keys and "title_zh" in keys
    assert named == keys, f"missing from docs/incidents.md: {sorted(keys - named)}; not in the record: {sorted(named - keys)}"
