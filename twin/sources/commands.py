"""Commands to the field: what the twin publishes when an operator or a director acts on
the city (closing a valve, opening a tap) and a twin fed over MQTT has no world of its
own to act on. Pure functions, no I/O.

A command travels on ``city/<district>/cmd/<target>`` (the asset or sensor it acts on, so
that a device may subscribe to its own commands only) as one JSON object::

    {"action": "gas.close_valve", "target": "G-V-0003", "params": {}, "who": "director", "time": 1777593600.0}

``action`` is a plugin action (``<domain>.<verb>``) or a sensor fault (``sensor.stuck``,
``sensor.drift``, ``sensor.dead``, ``sensor.repair``); ``params`` its numeric parameters
by name; ``who`` the token that acted; ``time`` the twin's clock when it was sent (UTC
epoch seconds), so that a device may judge a late delivery.
"""

from __future__ import annotations

import msgspec

from twin.sources.payloads import COMMAND_LEVEL, MALFORMED, Rejected, topic_level_problem

COMMAND_SHAPE = ('{"action": "<domain>.<verb>", "target": "<asset or sensor id>", "params": {"<name>": <number>}, '
                 '"who": "<name>", "time": <epoch s>}')


class Command(msgspec.Struct, frozen=True):
    """One order to the field (see the module's docstring for each key)."""

    action: str
    target: str
    params: dict[str, float] = {}
    who: str = ""
    time: float = 0.0


_DECODER = msgspec.json.Decoder(Command)


def command_topic(district: str, target: str) -> str:
    """The topic a command acting on ``target`` is published on."""
    return f"city/{district}/{COMMAND_LEVEL}/{target}"


def command_subscription(district: str) -> str:
    """The subscription that receives every command of ``district`` (the fleet's)."""
    return f"city/{district}/{COMMAND_LEVEL}/#"


def encode_command(command: Command) -> bytes:
    return msgspec.json.encode(command)


def decode_command(topic: str, payload: bytes, district: str) -> Command | Rejected:
    """The command of one message on ``city/<district>/cmd/<target>``, or why it is
    refused (a one-line reason naming what would be valid)."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[:3] != ["city", district, COMMAND_LEVEL] or topic_level_problem(parts[3]):
        return Rejected("bad_topic", f"topic {topic!r}: expected city/{district}/{COMMAND_LEVEL}/<target>")
    try:
        command = _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        return Rejected(MALFORMED, f"command on {topic!r}: {' '.join(str(exc).split())}; expected {COMMAND_SHAPE}")
    if command.target != parts[3]:
        return Rejected(MALFORMED, f"command on {topic!r} names target {command.target!r}; a command travels on its target's topic")
    return command
