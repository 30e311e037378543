"""A twin that fills tanks, so that alarms and incidents come and are acted on, and
notifies them through its data folder's notifications.toml, until it is killed (or,
with the plan done and every notification delivered, prints DRAINED and exits).

Each start replays the same plan from the beginning (the tanks' water is not kept; the
alarms are), so a killed run's successor makes new changes too. Usage:
notify_writer.py DATA_DIR SCENE_DIR SEED
"""

import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import toyplugin  # noqa: E402

from twin.authoring.testing import Harness  # noqa: E402

data, scene, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
h = Harness(scene, plugins=[toyplugin], blocks=(3, 3), data_dir=data)
tanks = [a.id for a in h.scene.assets["toy"]]
order = rng.sample(tanks, len(tanks))
print("READY", flush=True)
for tick in range(1, 160):
    if tick % 8 == 1 and order:
        h.act("toy.open_tap", order.pop(), rate=rng.choice([0.2, 0.4]))
    h.run(1)
    if tick % 5 == 0:
        raised = [a for a in h.engine.alarms.active() if a.state == "raised"]
        if raised:
            h.engine.alarms.act(rng.choice(raised).id, "acknowledge", "writer", "seen", h.engine.time)
        open_incidents = [i for i in h.engine.incidents.ordered() if i.state == "open"]
        if open_incidents:
            h.engine.incidents.act(open_incidents[0].id, "acknowledge", "writer", "on it", h.engine.time)
    time.sleep(0.02)
while True:
    with sqlite3.connect(data / "alarms.sqlite") as db:
        (left,) = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()
    if not left:
        break
    time.sleep(0.1)
h.close()
print("DRAINED", flush=True)
