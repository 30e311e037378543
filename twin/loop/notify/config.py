"""Who hears of what, and how: the notifications file.

The file is TOML: ``<data folder>/notifications.toml``, or the one the configuration
names (``[notifications] file = "..."``, relative to the data folder). Secrets (a
webhook's key, a mail password in an apprise URL) belong there, not in ``scene.toml``:
the data folder is the operator's alone (0700). Every problem is one line naming the
file, the entry and the key, with what would be valid::

    [[channels]]
    name = "duty-webhook"
    kind = "webhook"                  # our signed JSON webhook (docs/notifications.md)
    url = "https://city.example/hook"
    secret_file = "webhook.secret"    # relative to this file; or secret = "..."

    [[channels]]
    name = "ops-mail"
    kind = "apprise"                  # any apprise URL: mailto://, dingtalk://, wecombot://, feishu://, ...
    urls = ["mailtos://user:pass@smtp.example.org?to=ops@example.org"]

    [[rules]]
    channels = ["duty-webhook", "ops-mail"]
    on = ["raised", "escalated", "overdue", "dispatched", "resolved"]
    subject = "incident"              # or "alarm"
    domains = ["gas"]                 # empty or left out: every domain
    min_level = 2                     # 1 blue .. 4 red
    owners = []                       # owner units (权属单位); empty: any
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.errors import TwinError

KINDS = ("webhook", "apprise", "log")
#: the state changes a rule may name
CHANGES = ("raised", "escalated", "deescalated", "cleared", "overdue", "acknowledged", "dispatched", "resolved", "joined",
           "accepted", "arrived", "working", "done")
DEFAULT_ON = ("raised", "escalated", "overdue", "dispatched", "resolved")
SUBJECTS = ("incident", "alarm")
#: alarm event kind -> the state change rules name
ALARM_CHANGES = {"raise": "raised", "escalate": "escalated", "deescalate": "deescalated", "clear": "cleared",
                 "overdue": "overdue", "acknowledge": "acknowledged", "dispatch": "dispatched", "resolve": "resolved"}
#: incident event kind -> the state change rules name
INCIDENT_CHANGES = {"open": "raised", "escalate": "escalated", "deescalate": "deescalated", "clear": "cleared",
                    "overdue": "overdue", "acknowledge": "acknowledged", "dispatch": "dispatched", "close": "resolved",
                    "join": "joined", "accept": "accepted", "arrive": "arrived", "work": "working", "done": "done"}
#: the channel every twin has: notifications written to its log (the demo's default)
LOG_CHANNEL = "log"


class NotifyConfigError(TwinError):
    """A notifications file that cannot be used; one line."""


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str
    urls: tuple[str, ...] = ()
    secret: str = ""
    #: seconds one delivery may take before it counts as failed
    timeout: float = 10.0


@dataclass(frozen=True)
class Rule:
    channels: tuple[str, ...]
    on: tuple[str, ...] = DEFAULT_ON
    subject: str = "incident"
    domains: tuple[str, ...] = ()
    min_level: int = 1
    owners: tuple[str, ...] = ()
    name: str = ""

    def matches(self, subject: str, change: str, domains: list[str], level: int, owner: str) -> bool:
        """Does a change of this subject (its domains, level and owner unit) concern this rule?"""
        return (subject == self.subject and change in self.on and level >= self.min_level
                and (not self.domains or any(d in self.domains for d in domains))
                and (not self.owners or owner in self.owners))


@dataclass(frozen=True)
class NotifyConfig:
    path: Path | None
    channels: dict[str, Channel]
    rules: tuple[Rule, ...]


def default_config() -> NotifyConfig:
    """Without a file: the log channel and no rules (nothing goes out but what the
    escalation chain names)."""
    return NotifyConfig(None, {LOG_CHANNEL: Channel(LOG_CHANNEL, "log")}, ())


def config_path(data_dir: Path | None, config: dict[str, Any]) -> Path | None:
    """The notifications file in force: the configuration's ``[notifications] file``
    (relative to the data folder), else ``notifications.toml`` in the data folder if it
    exists; None without either."""
    named = config.get("notifications", {}).get("file") if isinstance(config.get("notifications"), dict) else None
    if named:
        path = Path(named)
        return path if path.is_absolute() or data_dir is None else data_dir / path
    if data_dir is not None and (data_dir / "notifications.toml").exists():
        return data_dir / "notifications.toml"
    return None


def load(path: Path | None) -> NotifyConfig:
    """Read and check a notifications file (None: :func:`default_config`)."""
    if path is None:
        return default_config()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotifyConfigError(f"{path}: no such notifications file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NotifyConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"channels", "rules"})
    if unknown:
        raise NotifyConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; valid: channels, rules")
    channels = {LOG_CHANNEL: Channel(LOG_CHANNEL, "log")}
    for n, entry in enumerate(_tables(path, doc, "channels"), start=1):
        channel = _channel(path, n, entry)
        if channel.name in channels and channel.name != LOG_CHANNEL:
            raise NotifyConfigError(f"{path} [[channels]] #{n}: name = {channel.name!r} is given twice")
        channels[channel.name] = channel
    rules = tuple(_rule(path, n, entry, channels) for n, entry in enumerate(_tables(path, doc, "rules"), start=1))
    return NotifyConfig(path, channels, rules)


def _tables(path: Path, doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise NotifyConfigError(f"{path}: {key} must be an array of tables, each [[{key}]]")
    return value


def _keys(where: str, entry: dict[str, Any], valid: tuple[str, ...]) -> None:
    unknown = sorted(set(entry) - set(valid))
    if unknown:
        raise NotifyConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")


def _text(where: str, entry: dict[str, Any], key: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value:
        raise NotifyConfigError(f"{where}: {key} = {value!r}; expected a non-empty string")
    return value


def _texts(where: str, entry: dict[str, Any], key: str, valid: tuple[str, ...] | None = None) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise NotifyConfigError(f"{where}: {key} = {value!r}; expected a list of strings")
    if valid is not None:
        wrong = [v for v in value if v not in valid]
        if wrong:
            raise NotifyConfigError(f"{where}: {key} names {', '.join(map(repr, wrong))}; valid: {', '.join(valid)}")
    return tuple(value)


def _channel(path: Path, n: int, entry: dict[str, Any]) -> Channel:
    where = f"{path} [[channels]] #{n}"
    _keys(where, entry, ("name", "kind", "url", "urls", "secret", "secret_file", "timeout"))
    name = _text(where, entry, "name")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise NotifyConfigError(f"{where} ({name}): kind = {kind!r}; valid: {', '.join(KINDS)}")
    urls = _texts(where, entry, "urls") + ((_text(where, entry, "url"),) if "url" in entry else ())
    if kind != "log" and not urls:
        raise NotifyConfigError(f"{where} ({name}): a {kind} channel needs url = \"...\" (or urls = [...])")
    if kind == "webhook" and not all(u.startswith(("http://", "https://")) for u in urls):
        raise NotifyConfigError(f"{where} ({name}): a webhook's url must start with http:// or https://, not {urls[0]!r}")
    secret = ""
    if kind == "webhook":
        if "secret_file" in entry:
            secret_path = path.parent / _text(where, entry, "secret_file")
            try:
                secret = secret_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise NotifyConfigError(f"{where} ({name}): secret_file {secret_path}: {exc.strerror}") from None
        elif "secret" in entry:
            secret = _text(where, entry, "secret")
        if len(secret) < 16:
            raise NotifyConfigError(f"{where} ({name}): a webhook needs secret_file (or secret) holding a key of at "
                                    f"least 16 characters, to sign its bodies with")
    timeout = entry.get("timeout", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 300:
        raise NotifyConfigError(f"{where} ({name}): timeout = {timeout!r}; expected seconds in (0, 300]")
    if kind == "apprise":
        _check_apprise(where, name, urls)
    return Channel(name, kind, urls, secret, float(timeout))


def _check_apprise(where: str, name: str, urls: tuple[str, ...]) -> None:
    from twin.loop.notify.channels import apprise_module

    apprise = apprise_module()
    for url in urls:
        if apprise.Apprise.instantiate(url) is None:
            shown = url.split("://", 1)[0] + "://..."
            raise NotifyConfigError(f"{where} ({name}): apprise does not take the URL {shown} (see apprise's list of "
                                    f"services: mailto://, dingtalk://, wecombot://, feishu://, json://, mqtt://, ...)")


def _rule(path: Path, n: int, entry: dict[str, Any], channels: dict[str, Channel]) -> Rule:
    where = f"{path} [[rules]] #{n}"
    _keys(where, entry, ("name", "channels", "on", "subject", "domains", "min_level", "owners"))
    named = _texts(where, entry, "channels", tuple(channels))
    if not named:
        raise NotifyConfigError(f"{where}: channels = []; name at least one of {', '.join(channels)}")
    on = _texts(where, entry, "on", CHANGES) if "on" in entry else DEFAULT_ON
    subject = entry.get("subject", "incident")
    if subject not in SUBJECTS:
        raise NotifyConfigError(f"{where}: subject = {subject!r}; valid: {', '.join(SUBJECTS)}")
    level = entry.get("min_level", 1)
    if isinstance(level, bool) or level not in (1, 2, 3, 4):
        raise NotifyConfigError(f"{where}: min_level = {level!r}; valid: 1 (blue), 2 (yellow), 3 (orange), 4 (red)")
    return Rule(named, on, subject, _texts(where, entry, "domains"), level, _texts(where, entry, "owners"),
                str(entry.get("name", f"rule {n}")))
