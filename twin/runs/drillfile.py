"""The drill file format, declared once.

:func:`twin.runs.drill.load_drill` checks a drill against :class:`DrillFile` (every
key, type and range, with file and line: :mod:`twin.declared`), then against the
scene and the plugins (:func:`twin.runs.drill.check_against`: targets, action
parameters and the asset kinds an action applies to). ``docs/drills.md``'s reference
is generated from here (:func:`reference`) and from the plugins' declarations of
their actions; ``tests/test_docs.py`` keeps the two in step.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, field

from twin.declared import reference as table_reference
from twin.tick.config import AlarmsTable, Thresholds

_CLOCK = r"^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$"

#: a moment of the drill: seconds from its start, or "HH:MM:SS"
Moment = Annotated[Annotated[float, Meta(ge=0)] | Annotated[str, Meta(pattern=_CLOCK)],
                   Meta(extra={"expected": 'seconds from the drill\'s start (a number >= 0) or "HH:MM:SS"'})]
#: a length of time: seconds, or "HH:MM:SS"
Span = Annotated[Annotated[float, Meta(ge=0)] | Annotated[str, Meta(pattern=_CLOCK)],
                 Meta(extra={"expected": 'seconds (a number >= 0) or "HH:MM:SS"'})]
#: an instant with its offset from UTC
Instant = Annotated[datetime, Meta(tz=True, extra={
    "expected": "a date and time with its offset from UTC (TOML's offset date-time), such as 2026-07-15T14:00:00+08:00"})]
#: a plugin action or a sensor fault
ActionName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", extra={
    "expected": '"<domain>.<verb>" such as "gas.leak", or a sensor fault such as "sensor.drift"'})]
Name = Annotated[str, Meta(min_length=1)]
#: an alarm level
Level = Annotated[Literal["blue", "yellow", "orange", "red", "IV", "III", "II", "I", 1, 2, 3, 4], Meta(extra={
    "expected": '"blue", "yellow", "orange" or "red" (or "IV", "III", "II", "I", or 1 to 4)'})]

#: the number of each level's names
LEVELS: dict[Any, int] = {"blue": 1, "IV": 1, 1: 1, "yellow": 2, "III": 2, 2: 2, "orange": 3, "II": 3, 3: 3,
                          "red": 4, "I": 4, 4: 4}
OPERATOR_ACTIONS = ("acknowledge", "dispatch", "resolve")
#: a scripted response to an incident: its actions (twin.loop.incidents.ACTIONS)
INCIDENT_ACTIONS = ("acknowledge", "dispatch", "close")

#: the keys that say which alarms an expectation is about (each that is given narrows it)
SELECTORS = ("asset", "domain", "owner", "rule")
_WHICH = "(on `asset`, in `domain`, owned by `owner`, of `rule`: each that is given)"
#: the keys an expectation may give besides its kind, `level` and the selectors
OPTIONS = ("incident",)
_INCIDENTS = ("; with `incident = true`, of incidents instead (holding an alarm on `asset` or of `rule`, with an "
              "alarm in `domain`, owned by `owner`), timed from when the first of its alarms reached `level`")

#: each kind of expectation: its own key, then the other keys that apply to it besides
#: `level` (those in REQUIRED must be given), and what it promises
EXPECTATION_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "by": ((*SELECTORS, "incident"), f"by this moment, an alarm {_WHICH} reached `level` or worse{_INCIDENTS}"),
    "never": ((*SELECTORS, "incident"), f"during the whole drill, no alarm {_WHICH} reaches `level` or worse{_INCIDENTS}"),
    "acknowledged_within": ((*SELECTORS, "incident"),
                            f"every alarm {_WHICH} that reaches `level` is acknowledged within this many seconds of "
                            f"reaching it; one that reached it too near the end to tell is not judged{_INCIDENTS}"),
    "dispatched_within": ((*SELECTORS, "incident"),
                          f"every alarm {_WHICH} that reaches `level` is dispatched within this many seconds of "
                          f"reaching it; as above{_INCIDENTS}"),
    "resolved_within": ((*SELECTORS, "incident"),
                        f"every alarm {_WHICH} that reaches `level` is resolved (closed) within this many seconds of "
                        f"reaching it; as above{_INCIDENTS} (an incident: closed)"),
    "no_false_clear": (SELECTORS,
                       f"no alarm {_WHICH} falls below `level` (clears or eases) while the ground truth is still at "
                       "`level` or worse (a drifting or stuck sensor's all-clear); judged on the truth the run keeps"),
    "incidents_at_most": (SELECTORS,
                          "during the whole drill, at most this many incidents (holding an alarm on `asset` or of "
                          "`rule`, with an alarm in `domain`, owned by `owner`: each that is given) reach `level` or "
                          "worse: the storm that should be a few lines on the wall, not seventy"),
}
#: the kinds that time an operator's step, and the alarm event each waits for
WITHIN = {"acknowledged_within": "acknowledge", "dispatched_within": "dispatch", "resolved_within": "resolve"}
REQUIRED: dict[str, tuple[str, ...]] = {}


def seconds(moment: float | str) -> float:
    """A :data:`Moment` or :data:`Span` in seconds."""
    if isinstance(moment, str):
        m = re.fullmatch(_CLOCK, moment.strip())
        assert m is not None, moment  # the declaration's pattern let it through
        return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    return float(moment)


class DrillHead(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[drill]``: what the drill is and how it runs."""

    #: what it is called (scorecard, report, replay)
    name: Name
    #: its name in Chinese, for zh-CN reports
    name_zh: str = ""
    #: the scene folder, relative to this file
    scene: Name
    #: the seed of the simulator's randomness: the same seed, the same run, bit for bit
    seed: Annotated[int, Meta(ge=0)] = 0
    #: how long it runs
    duration: Span
    #: the tick, in seconds
    dt: Annotated[float, Meta(gt=0, le=60)] = 1.0
    #: the first instant of its simulated clock (none: the scene's `start`, else
    #: 2026-01-01T00:00:00Z); the moments below count from it
    start: Instant | None = None

    def __post_init__(self) -> None:
        if seconds(self.duration) <= 0:
            raise ValueError(f"duration = {self.duration!r}; expected a duration above zero")


class Event(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[events]]``: at a moment, a plugin action or a sensor fault (`action`), or a
    scripted operator response (`operator`) to an alarm (`target`) or to an incident
    (`incident`)."""

    #: when it happens
    at: Moment
    #: the asset an action acts on, the sensor of a sensor fault, or the asset whose worst
    #: open alarm an operator response acts on ("*": every open alarm it fits)
    target: Annotated[str, Meta(min_length=1)] | None = None
    #: a plugin action or a sensor fault (the tables below)
    action: ActionName | None = None
    #: or a scripted operator response: "acknowledge", "dispatch", "resolve" an alarm;
    #: "acknowledge", "dispatch", "close" an incident
    operator: Literal["acknowledge", "dispatch", "resolve", "close"] | None = None
    #: instead of `target`: the incident an operator response acts on, with its alarms
    #: (docs/incidents.md): "worst" (the worst open incident the response fits), "*"
    #: (every open incident it fits) or an asset id (the open incident holding its alarm)
    incident: Annotated[str, Meta(min_length=1)] | None = None
    #: the action's parameters by name, numbers in the units below
    params: dict[str, float] = {}
    #: the operator's note
    note: str = ""
    #: the unit a dispatch goes to (default: the owner unit of the alarm's asset, or the incident's)
    unit: str = ""

    def __post_init__(self) -> None:
        if (self.action is None) == (self.operator is None):
            raise ValueError('give either action = "<domain>.<verb>" or operator = "acknowledge", "dispatch", "resolve" '
                             'or "close"')
        if self.action is not None:
            if self.target is None:
                raise ValueError("an action needs target = the asset it acts on (the sensor, for a sensor fault)")
            if self.incident is not None or self.unit:
                wrong = " and ".join(k for k, v in (("incident", self.incident), ("unit", self.unit)) if v)
                raise ValueError(f"{wrong} belongs to an operator response; an action takes target and params")
            return
        if self.params:
            raise ValueError("params belong to an action; an operator response takes a note")
        if (self.target is None) == (self.incident is None):
            raise ValueError("an operator response acts on an alarm (target = an asset id, or \"*\") or on an incident "
                             "(incident = \"worst\", \"*\" or an asset id): give one of them")
        if self.incident is not None and self.operator == "resolve":
            raise ValueError('an incident is closed, not resolved: operator = "close" (it resolves its alarms)')
        if self.incident is None and self.operator == "close":
            raise ValueError('"close" is an incident\'s: give incident = "worst", "*" or an asset id (an alarm is '
                             'resolved: operator = "resolve")')
        if self.unit and self.operator != "dispatch":
            raise ValueError(f"unit is where a dispatch goes; operator = {self.operator!r} takes none")


class Series(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[series]]``: a value over time carried by an action, such as a storm's rain
    intensity: at each point the action runs with the value, held until the next point
    (the last until the end)."""

    #: the action that carries the values, such as "drainage.rain"
    action: ActionName
    #: the asset it acts on
    target: Name
    #: the action's parameter each value goes to, such as "intensity"
    param: Name
    #: `[[moment, value], ...]` in time order; a point past the drill's end only says
    #: how long the value before it holds
    points: Annotated[list[tuple[Moment, float]], Meta(min_length=1, extra={
        "expected": 'a list of [moment, value] pairs, in time order; a moment is seconds or "HH:MM:SS"'})]
    #: the action's parameter that gets how long each value holds (s); "" when it takes none
    duration_param: str = "duration"

    def __post_init__(self) -> None:
        times = [seconds(t) for t, _ in self.points]
        if times != sorted(times):
            raise ValueError(f"points: their moments {[t for t, _ in self.points]} are not in time order")


class Expect(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[expect]]``: what the run must show to pass. Its kind is the key it gives:
    `by`, `never`, `acknowledged_within`, `dispatched_within`, `resolved_within`,
    `no_false_clear` or `incidents_at_most` (the table below)."""

    #: the least level that counts
    level: Level
    #: kind `by`: the moment by which the alarm must be there
    by: Moment | None = None
    #: kind `never`: `never = true`
    never: Literal[True] | None = None
    #: kind `acknowledged_within`: from an alarm reaching `level` to its acknowledgement
    acknowledged_within: Span | None = None
    #: kind `dispatched_within`: from an alarm reaching `level` to its dispatch
    dispatched_within: Span | None = None
    #: kind `resolved_within`: from an alarm reaching `level` to its resolution
    resolved_within: Span | None = None
    #: kind `no_false_clear`: `no_false_clear = true`
    no_false_clear: Literal[True] | None = None
    #: kind `incidents_at_most`: at most this many incidents reach `level`
    incidents_at_most: Annotated[int, Meta(ge=0)] | None = None
    #: judge incidents instead of alarms (`by`, `never` and the `*_within` kinds)
    incident: Literal[True] | None = None
    #: the asset it is about
    asset: str = ""
    #: the domain it is about
    domain: str = ""
    #: the owner unit (权属单位) whose assets it is about, as the scene names it
    owner: str = ""
    #: the alarm rule it is about (an asset may have several)
    rule: str = ""

    @property
    def kind(self) -> str:
        return next(k for k in EXPECTATION_KINDS if getattr(self, k) is not None)

    def __post_init__(self) -> None:
        given = [k for k in EXPECTATION_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give one of {', '.join(EXPECTATION_KINDS)} (it says the kind of expectation); "
                             + (f"got {' and '.join(given)}" if given else "got none"))
        kind = given[0]
        applies = EXPECTATION_KINDS[kind][0]
        wrong = [k for k in (*SELECTORS, *OPTIONS) if getattr(self, k) and k not in applies]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} does not apply to a {kind!r} expectation; its keys: "
                             f"{', '.join((kind, 'level') + applies)}")
        missing = [k for k in REQUIRED.get(kind, ()) if not getattr(self, k)]
        if missing:
            raise ValueError(f"a {kind!r} expectation needs {', '.join(f'{k} = ...' for k in missing)}")


class Message(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[messages]]``: at a moment, a message to the players of a live exercise (`twin
    exercise`, docs/exercises.md): a resident's phone call, a field report, a press
    enquiry. Shown on the wall as a banner and in the alarm list's feed, and recorded; a
    headless run (`twin drill run --record`, `twin branch`) has no players to tell but
    records it at its moment on the same channel (`/exercise/message`)."""

    #: when it comes
    at: Moment
    #: what it is: a phone call, a report from the field, a press enquiry, or another message
    kind: Literal["call", "field_report", "press", "other"] = "other"
    #: who it is from, as the players would hear it ("a resident of 12 Heping Road")
    sender: Name = field(name="from")
    #: who it is from, in Chinese
    from_zh: str = ""
    #: what they say
    text: Name
    #: what they say, in Chinese
    text_zh: str = ""


class DrillFile(Struct, forbid_unknown_fields=True, kw_only=True):
    """A drill file."""

    #: what the drill is and how it runs
    drill: DrillHead
    #: values over time carried by actions (a storm's rain)
    series: list[Series] = []
    #: timed actions, sensor faults and operator responses
    events: list[Event] = []
    #: what the run must show to pass
    expect: list[Expect] = []
    #: plugin parameters for this drill, by kernel, updater or coupling name
    thresholds: Thresholds = {}
    #: alarm handling for this drill (deadlines)
    alarms: AlarmsTable | None = None
    #: messages to the players of a live exercise
    messages: list[Message] = []


#: the tables of the reference, in the order docs/drills.md gives them
TABLES = (("[drill]", DrillHead), ("[[events]]", Event), ("[[series]]", Series), ("[[expect]]", Expect),
          ("[[messages]]", Message), ("[alarms]", AlarmsTable))


def reference() -> str:
    """The Markdown of docs/drills.md's key reference: a section per table and the
    kinds of expectation, from the declarations above."""
    parts = []
    for title, struct in TABLES:
        doc = " ".join((struct.__doc__ or "").split())
        said = doc.split(":", 1)[1].strip() if doc.startswith("``") else doc
        parts.append(f"### `{title}`\n\n{said[0].upper() + said[1:]}\n\n{table_reference(struct)}")
    rows = []
    for kind, (applies, promise) in EXPECTATION_KINDS.items():
        keys = ", ".join(f"`{k}`" + (" (required)" if k in REQUIRED.get(kind, ()) else "") for k in applies)
        rows.append(f"| `{kind}` | `level`, {keys} | {promise} |")
    parts.append("### Kinds of expectation\n\nAn `[[expect]]` gives exactly one of these keys; the other keys it may give "
                 "are those of its kind.\n\n| kind | keys | passes when |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n")
    parts.append('### `[thresholds."<name>"]`\n\nPlugin parameters for this drill, as in a scene (docs/scenes.md): '
                 "a table per kernel, updater or coupling name.\n")
    return "\n".join(parts)


def actions_reference(registry: Any) -> str:
    """The Markdown of docs/drills.md's actions and sensor faults: for each, what it acts
    on and its parameters with units, valid ranges and defaults, from the plugins'
    declarations (:func:`twin.plugins.actions.catalogue`) and the core's faults."""
    from twin.plugins.actions import catalogue

    parts = []
    for record in catalogue(registry):
        on = (f"a sensor (`target` = its id)" if record["target"] == "sensor"
              else f"{record['domain']} {', '.join(f'`{k}`' for k in record['kinds'])} (`target` = its asset id)")
        head = f"#### `{record['name']}`\n\n{record['description'][0].upper() + record['description'][1:]}. Acts on {on}"
        head += f"; plugin `{record['plugin']}`." if record["plugin"] != "core" else "; the core's simulator."
        if not record["params"]:
            parts.append(head + " No parameters.\n")
            continue
        rows = []
        for p in record["params"]:
            low, high = p["valid"]
            valid = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
            default = "required" if p["default"] is None else f"{p['default']:g}"
            rows.append(f"| `{p['name']}` | {p['unit']} | {valid} | {default} | {p['description']} |")
        parts.append(head + "\n\n| parameter | unit | valid | default | meaning |\n| --- | --- | --- | --- | --- |\n"
                     + "\n".join(rows) + "\n")
    return "\n".join(parts)
