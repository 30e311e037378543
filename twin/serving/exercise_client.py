"""``twin exercise start|status|stop``: a live exercise on a running server, through its
HTTP API (``twin.serving.routes.exercise``) with a director's token.

Only the standard library (urllib): the command runs wherever ``twin`` is installed.
Every refusal is one line naming the server and what it said.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from twin.errors import TwinError


def call(url: str, path: str, token: str | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON answer of ``GET`` (no ``body``) or ``POST`` ``path`` at the server ``url``;
    TwinError with the server's own words for a refusal, or why it cannot be reached."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            said = json.loads(exc.read()).get("error", "")
        except (ValueError, AttributeError):
            said = ""
        raise TwinError(f"{url}{path}: {exc.code} {said or exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TwinError(f"cannot reach the twin at {url} ({reason}); is `twin serve` running there?") from None


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def describe(state: dict[str, Any]) -> list[str]:
    """The lines ``twin exercise status`` prints for a ``GET /api/exercise`` answer."""
    if state["state"] == "idle":
        drills = ", ".join(state["drills"]) or "none in the scene's drills/ folder"
        return [f"no exercise yet; drills of the scene: {drills}"]
    lines = [f"{state['state']}: {state['drill']!r} ({state['file']}) at {_clock(state['at'])} of "
             f"{_clock(state['duration'])}, started by {state['started_by']}"
             + (f", recorded to {state['recording']}" if state["recording"] else "")]
    for i in state["injects"]:
        what = (f"{i['message']['kind']} from {i['message']['from']}: {i['message']['text']}" if i["message"]
                else f"{i['action']} on {i['target']}")
        when = f"fired {_clock(i['fired'])}" if i["fired"] is not None else i["state"]
        lines.append(f"  #{i['n']:<3} {_clock(i['at'])}  {i['kind']:<7} {what}  [{when}]" + (f" {i['error']}" if i["error"] else ""))
    for n in state["notes"]:
        lines.append(f"  note {_clock(n['at'])} {n['who']}: {n['text']}")
    for o in state["objectives"]:
        lines.append(f"  {o['status'].upper():<10} {o['text']}: {o['detail']}")
    for w in state["warnings"]:
        lines.append(f"  warning: {w}")
    return lines


def run(args: Any) -> int:
    """``twin exercise``: start, status or stop (``args.exercise_command``)."""
    token = args.token or os.environ.get("TWIN_TOKEN")
    url = args.url
    if args.exercise_command == "start":
        path = Path(args.file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TwinError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); expected a drill file (TOML)") from None
        state = call(url, "/api/exercise", token, {"drill": text, "file": path.name})
        print(f"started {state['drill']!r} on {url}: {len(state['injects'])} injects over {_clock(state['duration'])}; "
              f"the controller's console is {url.rstrip('/')}/console.html, the observers' {url.rstrip('/')}/observer.html")
        for w in state["warnings"]:
            print(f"  warning: {w}")
        for line in state["left_to_players"]:
            print(f"  left to the players: {line}")
        return 0
    if args.exercise_command == "stop":
        state = call(url, "/api/exercise/stop", token, {})
        for line in describe(state):
            print(line)
        if state["debrief"]:
            print("debrief: " + ", ".join(f"{url.rstrip('/')}{link}" for link in state["debrief"].values()))
        judged = [o for o in state["objectives"] if o["status"] != "not judged"]
        return 0 if all(o["status"] == "met" for o in judged) else 1
    for line in describe(call(url, "/api/exercise", token)):
        print(line)
    return 0
