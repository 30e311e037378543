"""Access tokens, roles and the access mode of a data folder.

A token names a role: viewer (read), operator (act on alarms), director (drills and
replay), admin; or ``device``, which may only post readings (``POST /api/readings``) and
is outside that ladder. Only a token's SHA-256 is stored, in ``tokens.json`` of the data
folder (mode 0600); the token itself is printed once when made. A token may carry an
expiry; past it, it is refused as if revoked.

The same file records the folder's *mode*. ``open``: nobody needs a token (the local
demo; ``twin serve`` then binds loopback only). ``tokens``: every request but
``/api/health`` needs a valid token. A folder without ``tokens.json`` is open; adding
the first token switches it to tokens mode, and it stays there when the last token is
revoked or expires (nobody gets in until a token is added). Going back to open mode is
an explicit ``twin token open``, refused while any token is stored. A ``tokens.json``
written before the mode existed counts as tokens mode: someone once made a token there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from twin.errors import TwinError

#: people's roles, a ladder: each may do what the ones before it may
ROLES = ("viewer", "operator", "director", "admin")
#: a sensor, gateway or export job: it may post readings and nothing else (not read the
#: scene, the stream or the alarms), so a token leaked from a device in the field shows
#: nothing; it is not on the ladder. An admin may post readings too.
DEVICE = "device"
#: a field crew's phone (issue 15): it may see and report on its own unit's dispatched
#: incidents (the token's ``unit``) and nothing else; not on the ladder. An admin may too.
CREW = "crew"
#: an exercise's observer (issue 17): may watch what a viewer may, and note what they
#: see (``POST /api/exercise/notes``), and nothing else: not act on alarms, not control
#: the exercise; not on the ladder. An admin may note too (and a director: routes say so).
OBSERVER = "observer"
#: every role a token may name
TOKEN_ROLES = (*ROLES, DEVICE, CREW, OBSERVER)
#: the roles off the ladder: what needs one of them needs that role or admin
OFF_LADDER = (DEVICE, CREW, OBSERVER)
MODES = ("open", "tokens")
_DURATION = re.compile(r"(\d+)\s*([hdw])")
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def rank(role: str) -> int:
    """A ladder role's place in :data:`ROLES` (``device`` has none)."""
    return ROLES.index(role)


def allows(role: str, needed: str) -> bool:
    """May a token of ``role`` do what ``needed`` may? On the ladder, a role includes
    the ones below it. ``device`` is allowed only what needs ``device`` (posting
    readings), and that needs ``device`` or ``admin``; ``crew`` and ``observer`` likewise
    (an observer may also do what a viewer may). An unknown role is allowed nothing."""
    if needed == DEVICE:
        return role in (DEVICE, "admin")
    if needed == CREW:
        return role in (CREW, "admin")
    if needed == OBSERVER:
        return role in (OBSERVER, "admin")
    if role == OBSERVER:
        return needed == "viewer"  # an observer watches the wall as a viewer does
    if role not in ROLES or needed not in ROLES:
        return False
    return rank(role) >= rank(needed)


def token_words(role: str) -> str:
    """Who may do what ``role`` may, for a refusal and the API's reference: "viewer or
    above" on the ladder, "an observer or admin token" off it."""
    if role in OFF_LADDER:
        return f"{'an' if role[0] in 'aeiou' else 'a'} {role} or admin token"
    return f"{role} or above"


def utc_text(epoch: float) -> str:
    """An instant as ``2027-01-31 00:00 UTC``: expiries are compared in UTC, so shown in UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def parse_expiry(text: str, now: float | None = None) -> float:
    """The epoch second a ``--expires`` value names: a duration from now (``12h``,
    ``30d``, ``8w``) or an instant (``2027-01-31`` is 00:00 UTC that day;
    ``2027-01-31T18:00``, UTC unless it carries an offset). Refuses the past."""
    now = time.time() if now is None else now
    valid = "give a duration (12h, 30d, 8w) or a date (2027-01-31, or 2027-01-31T18:00, UTC unless an offset is given)"
    match = _DURATION.fullmatch(text.strip().lower())
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise TwinError(f"--expires {text!r}: a token must live a while; {valid}")
        return now + amount * _UNIT_SECONDS[match.group(2)]
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TwinError(f"--expires {text!r}: not understood; {valid}") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    expires = instant.timestamp()
    if expires <= now:
        raise TwinError(f"--expires {text!r}: {utc_text(expires)} is in the past; {valid}")
    return expires


@dataclass
class TokenRecord:
    name: str
    role: str
    sha256: str
    created: float
    #: epoch seconds after which the token is refused; None: it never expires
    expires: float | None = None
    #: a crew token's unit (its 权属单位 or contractor): the incidents dispatched to it are its tasks
    unit: str = ""

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The data folder's ``tokens.json``, re-read whenever the file changes."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "tokens.json"
        #: (mtime_ns, size, inode) of the file last read: every write replaces the file
        #: (a new inode), so a change within the filesystem's mtime granularity is seen too
        self._stamp: tuple[int, int, int] | None = None
        self._records: list[TokenRecord] = []
        self._mode = "open"

    def _load(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._records, self._mode, self._stamp = [], "open", None
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            records = [TokenRecord(**r) for r in raw["tokens"]]
            mode = raw.get("mode", "tokens")
            if mode not in MODES:
                raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TwinError(f"{self.path}: unreadable token file ({exc}); fix or remove it") from None
        self._records, self._mode, self._stamp = records, mode, stamp

    def records(self) -> list[TokenRecord]:
        """Every stored token, expired ones included; re-read when the file changed (a
        revoke takes effect at once)."""
        self._load()
        return self._records

    @property
    def mode(self) -> str:
        """``open`` or ``tokens`` (see the module's docstring)."""
        self._load()
        return self._mode

    @property
    def enabled(self) -> bool:
        """Is a token needed (tokens mode)?"""
        return self.mode == "tokens"

    def valid(self, now: float | None = None) -> list[TokenRecord]:
        """The tokens that would be accepted now."""
        return [r for r in self.records() if not r.expired(now)]

    def _write(self, records: list[TokenRecord], mode: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        # Created 0600 rather than chmod-ed after writing: never readable by others, even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps({"mode": mode, "tokens": [asdict(r) for r in records]}, indent=1))
        os.chmod(tmp, 0o600)  # an older .tmp left by a crash keeps its mode through O_CREAT
        os.replace(tmp, self.path)
        self._stamp = None

    def add(self, role: str, name: str | None = None, expires: float | None = None,
            unit: str = "") -> tuple[TokenRecord, str]:
        """Make a token (switching the folder to tokens mode); returns its record and the
        token itself, which is not stored. A ``crew`` token names its ``unit``."""
        if role not in TOKEN_ROLES:
            raise TwinError(f"unknown role {role!r}; valid: {', '.join(TOKEN_ROLES)}")
        if (role == CREW) != bool(unit.strip()):
            raise TwinError("a crew token names the unit whose tasks it sees: --unit \"<unit>\"" if role == CREW
                            else f"only a crew token names a unit, not a {role} token")
        now = time.time()
        if expires is not None and expires <= now:
            raise TwinError(f"expiry {utc_text(expires)} is in the past")
        records = list(self.records())
        name = name or f"{role}-{len(records) + 1}"
        if any(r.name == name for r in records):
            raise TwinError(f"a token named {name!r} exists already; revoke it or pick another --name")
        token = new_token()
        record = TokenRecord(name, role, _digest(token), now, expires, unit.strip())
        self._write(records + [record], "tokens")
        return record, token

    def revoke(self, name: str) -> TokenRecord:
        """Remove a token; the folder stays in tokens mode even when none is left."""
        records = list(self.records())
        for r in records:
            if r.name == name:
                self._write([x for x in records if x.name != name], "tokens")
                return r
        raise TwinError(f"no token named {name!r}; `twin token list` shows them")

    def open(self) -> None:
        """Switch the folder to open mode; refused while any token is stored."""
        records = self.records()
        if records:
            names = ", ".join(r.name for r in records)
            raise TwinError(f"{len(records)} token(s) stored ({names}); revoke each with `twin token revoke NAME` before open mode")
        self._write([], "open")

    def find(self, token: str | None) -> TokenRecord | None:
        """The record of a presented token, expired or not, or None. Constant-time comparison."""
        if not token:
            return None
        digest = _digest(token)
        for r in self.records():
            if hmac.compare_digest(r.sha256, digest):
                return r
        return None

    def check(self, token: str | None) -> TokenRecord | None:
        """The record of a presented token if it is valid now, or None."""
        record = self.find(token)
        return None if record is None or record.expired() else record

    def current(self, record: TokenRecord) -> TokenRecord | None:
        """The stored record of the same token, or None once it is revoked."""
        for r in self.records():
            if hmac.compare_digest(r.sha256, record.sha256):
                return r
        return None


def new_token() -> str:
    """A new secret token: 32 URL-safe characters that never begin with ``-``, so that
    ``--token TOKEN`` on a command line is never taken for an option (one in 32 of
    ``secrets.token_urlsafe`` did, and `twin exercise --token -x…` failed to parse)."""
    while True:
        token = secrets.token_urlsafe(24)
        if not token.startswith("-"):
            return token
