"""Writes alarm changes and operator actions as fast as it can until it is killed.

After each acknowledgement has returned (and so was committed), it prints ``ACK <id>``;
the crash test kills it with SIGKILL at a random moment and checks that exactly what was
printed is what a fresh AlarmBook recovers.
"""

import random
import sys
from pathlib import Path

from twin.tick.alarms import AlarmBook

path, seed = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
book = AlarmBook(path)
now = max((a.updated for a in book.alarms.values()), default=0.0)
print("READY", flush=True)
while True:
    now += 1.0
    for _ in range(rng.randint(1, 5)):  # a tick's worth of level changes, one commit
        asset = f"A-{rng.randint(0, 200):04d}"
        book.set_level("crash.rule", "crash", asset, "unit", rng.randint(0, 4), now)
    book.take_events()
    raised = [a for a in book.active() if a.state == "raised"]
    if raised:
        alarm = rng.choice(raised)
        book.act(alarm.id, "acknowledge", "op", f"seen at {now}", now)
        print(f"ACK {alarm.id}", flush=True)
    acknowledged = [a for a in book.active() if a.state == "acknowledged"]
    if acknowledged and rng.random() < 0.5:  # resolve some, so that assets alarm again
        book.act(rng.choice(acknowledged).id, "resolve", "op", "fixed", now)
