"""A headless run (`twin drill run --record`) records the drill's `[[messages]]` on the
channel a live exercise records them on (/exercise/message), at their moments, numbered
as the exercise's timeline numbers them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from twin.runs.drill import load_drill
from twin.runs.exercise import planned_injects
from twin.runs.recording import info, read_stream

ROOT = Path(__file__).resolve().parents[1]

DRILL = '''[drill]
name = "messages"
scene = ".."
seed = 11
duration = 40

[[events]]
at = 5
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012 }

[[messages]]
at = 30
kind = "press"
from = "a reporter of the evening paper"
text = "Is there a gas leak on Heping Road?"

[[messages]]
at = 12
kind = "call"
from = "a resident of 12 Heping Road"
from_zh = "和平路12号居民"
text = "It smells of gas in the stairwell"
text_zh = "楼道里有煤气味"

[[messages]]
at = 40
text = "the drill's very last moment"
from = "the controller"
'''


def test_drill_run_record_keeps_the_messages_where_an_exercise_keeps_them(tmp_path):
    root = tmp_path / "demo"
    (root / "drills").mkdir(parents=True)
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    path = root / "drills" / "messages.toml"
    path.write_text(DRILL)
    out = tmp_path / "run.mcap"
    done = subprocess.run([sys.executable, "-m", "twin.cli", "drill", "run", str(path), "--record", str(out), "--data",
                           str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    start = float(info(out).metadata["start"])
    found = [(t - start, json.loads(data)) for _, t, data in read_stream(out, ("/exercise/message",))]
    assert [(round(t), m["time"] - start) for t, m in found] == [(12, 12.0), (30, 30.0), (40, 40.0)]
    # numbered as the exercise's timeline: the leak is inject 1, the call 2, the press 3, the last 4
    numbers = {i.message.text: i.n for i in planned_injects(load_drill(path)) if i.message is not None}
    assert [m["n"] for _, m in found] == [numbers[m["text"]] for _, m in found] == [2, 3, 4]
    call = found[0][1]
    assert call == {"type": "exercise_message", "n": 2, "time": start + 12.0, "kind": "call",
                    "from": "a resident of 12 Heping Road", "text": "It smells of gas in the stairwell",
                    "from_zh": "和平路12号居民", "text_zh": "楼道里有煤气味"}
    assert found[2][1]["kind"] == "other"
