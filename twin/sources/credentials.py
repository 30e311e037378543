"""Device credentials for a mosquitto broker, from a scene's sensors: a password file
and an ACL by which each device may publish only its own sensors' topics, the twin's
account may read the whole district and publish its commands to the field, and the
device fleet's account (``twin devices run``, or a gateway speaking for every device of
the district) may publish every sensor's readings and read the commands.

The password file is mosquitto's own format (``mosquitto_passwd``'s default since 2.0:
``user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>``), written here so that
a city's thousands of accounts take one pass rather than one process each.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from twin.errors import TwinError
from twin.sources.payloads import COMMAND_LEVEL, topic_for, topic_level_problem
from twin.types import Sensor

#: mosquitto_passwd's PBKDF2 iterations (mosquitto 2.0's default)
ITERATIONS = 101

DEVICES_CSV = "devices.csv"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
TWIN_PASSWORD = "twin.password"
FLEET_PASSWORD = "fleet.password"


def password_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The hash mosquitto checks ``password`` against (mosquitto_passwd's ``sha512-pbkdf2``)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    #: topics (or filters) it may publish to
    write: tuple[str, ...] = ()
    #: topic filters it may subscribe to
    read: tuple[str, ...] = ()


@dataclass(frozen=True)
class Written:
    folder: Path
    devices: int
    sensors: int
    new_passwords: int


def username_problem(name: str) -> str | None:
    """Why ``name`` cannot be a broker account (one topic level, and no ``:`` or
    white space: the password file's separator and the ACL's), or None."""
    problem = topic_level_problem(name)
    if problem:
        return problem
    if ":" in name:
        return "':' separates user and hash in the password file"
    if any(c.isspace() for c in name):
        return "white space is not allowed in a broker user name here"
    return None


def device_accounts(sensors: Iterable[Sensor], district: str, by: Literal["sensor", "asset"] = "sensor",
                    passwords: dict[str, str] | None = None) -> list[Account]:
    """One account per device: each sensor is a device (``by="sensor"``, user = sensor
    id) or each asset with sensors is one (``by="asset"``, user = asset id, for a box
    measuring several fields); each may publish only its sensors' topics. Passwords are
    kept from ``passwords`` where the user has one, else made new."""
    passwords = passwords or {}
    topics: dict[str, list[str]] = {}
    problems = []
    for sensor in sensors:
        user = sensor.id if by == "sensor" else sensor.asset
        for what, name in (("sensor id", sensor.id), ("field", sensor.field), (f"{by} id as a user", user)):
            problem = username_problem(name) if what.endswith("user") else topic_level_problem(name)
            if problem:
                problems.append(f"sensor {sensor.id!r}: {what} {name!r}: {problem}")
        if sensor.id == COMMAND_LEVEL:
            problems.append(f"sensor {sensor.id!r}: {COMMAND_LEVEL!r} is the level of commands to the field; rename the sensor")
        topics.setdefault(user, []).append(topic_for(district, sensor.id, sensor.field))
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise TwinError(f"cannot make broker accounts: {shown}")
    return [Account(user, passwords.get(user) or secrets.token_urlsafe(18), tuple(t)) for user, t in topics.items()]


def twin_account(district: str, username: str = "twin", password: str | None = None) -> Account:
    """The twin's account: reads the whole district, publishes its commands to the field."""
    return Account(username, password or secrets.token_urlsafe(24), write=(f"city/{district}/{COMMAND_LEVEL}/#",),
                   read=(f"city/{district}/#",))


def fleet_account(sensors: Iterable[Sensor], district: str, username: str = "fleet", password: str | None = None) -> Account:
    """The device fleet's account: publishes every sensor's readings, reads the twin's
    commands to the field. It may write ``city/<district>/+/<field>`` for each field the
    sensors measure, a handful of filters that the broker checks per message (one per
    sensor would be a city's worth). Such a filter also matches the command topic
    ``city/<district>/cmd/<field>``, a command to a target named like a field: where a
    sensor or its asset is so named, that field's topics are listed one by one instead."""
    sensors = list(sensors)
    fields = sorted({s.field for s in sensors})
    targets = {s.id for s in sensors} | {s.asset for s in sensors}
    write: list[str] = []
    for name in fields:
        if name in targets:
            write += [topic_for(district, s.id, s.field) for s in sensors if s.field == name]
        else:
            write.append(f"city/{district}/+/{name}")
    return Account(username, password or secrets.token_urlsafe(24), write=tuple(write),
                   read=(f"city/{district}/{COMMAND_LEVEL}/#",))


def acl_text(accounts: Iterable[Account]) -> str:
    """A mosquitto ACL: each account's read and write topics, nothing for anyone else."""
    lines = ["# Written by `twin devices credentials`: each device publishes only its own sensors' topics.", ""]
    for account in accounts:
        lines.append(f"user {account.username}")
        lines += [f"topic read {t}" for t in account.read]
        lines += [f"topic write {t}" for t in account.write]
        lines.append("")
    return "\n".join(lines)


def write_credentials(sensors: list[Sensor], district: str, out: Path, *, by: Literal["sensor", "asset"] = "sensor",
                      twin_user: str = "twin", fleet_user: str = "fleet") -> Written:
    """Write into ``out``: ``passwd`` (mosquitto's password file), ``acl``, ``devices.csv``
    (user, password, topics: for the device makers), ``twin.password`` (for ``twin serve
    --mqtt-password-file``) and ``fleet.password`` (for ``twin devices run
    --mqtt-password-file``). Passwords already in ``out`` are kept, so that running it
    again after adding sensors does not lock out the devices in the field."""
    for option, user in (("--twin-user", twin_user), ("--fleet-user", fleet_user)):
        problem = username_problem(user)
        if problem:
            raise TwinError(f"{option} {user!r}: {problem}")
    if twin_user == fleet_user:
        raise TwinError(f"the twin's and the fleet's users are both {twin_user!r}; give them two names")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TwinError(f"{out}: cannot create the folder ({exc.strerror})") from None
    old = _read_passwords(out)
    devices = device_accounts(sensors, district, by, old)
    for whose, user in (("twin", twin_user), ("fleet", fleet_user)):
        if any(d.username == user for d in devices):
            raise TwinError(f"the {whose}'s user {user!r} is also a {by} id of the scene; pass --{whose}-user with another name")
    twin_password, fleet_password = _read_secret(out / TWIN_PASSWORD), _read_secret(out / FLEET_PASSWORD)
    twin = twin_account(district, twin_user, twin_password)
    fleet = fleet_account(sensors, district, fleet_user, fleet_password)
    accounts = [twin, fleet, *devices]
    _write_private(out / PASSWORD_FILE, "".join(f"{a.username}:{password_hash(a.password)}\n" for a in accounts))
    (out / ACL_FILE).write_text(acl_text(accounts), encoding="utf-8")
    rows = [["user", "password", "topics"]] + [[d.username, d.password, " ".join(d.write)] for d in devices]
    _write_private(out / DEVICES_CSV, _csv_text(rows))
    _write_private(out / TWIN_PASSWORD, twin.password + "\n")
    _write_private(out / FLEET_PASSWORD, fleet.password + "\n")
    new = sum(1 for d in devices if d.username not in old) + (twin_password is None) + (fleet_password is None)
    return Written(out, len(devices), len(sensors), new)


def _read_secret(path: Path) -> str | None:
    """The password kept in ``path`` (its first line), or None when there is none yet."""
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def _read_passwords(out: Path) -> dict[str, str]:
    path = out / DEVICES_CSV
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["user"]: row["password"] for row in csv.DictReader(handle) if row.get("user") and row.get("password")}


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords or their hashes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def _csv_text(rows: list[list[str]]) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
