"""Access tokens and roles.

A token names a role: viewer (read), operator (act on alarms), director (drills and
replay), admin. Only a token's SHA-256 is stored, in ``tokens.json`` of the data
folder; the token itself is printed once when made. With no token stored, the server
is open (and refuses to bind anything but loopback).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from twin.errors import TwinError

ROLES = ("viewer", "operator", "director", "admin")


def rank(role: str) -> int:
    return ROLES.index(role)


def allows(role: str, needed: str) -> bool:
    """Does ``role`` include what ``needed`` may do (roles are ordered)?"""
    return rank(role) >= rank(needed)


@dataclass
class TokenRecord:
    name: str
    role: str
    sha256: str
    created: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "tokens.json"
        self._mtime: float | None = None
        self._records: list[TokenRecord] = []

    def records(self) -> list[TokenRecord]:
        """Current tokens; re-read when the file changed (a revoke takes effect at once)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._records, self._mtime = [], None
            return []
        if mtime != self._mtime:
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self._records = [TokenRecord(**r) for r in raw["tokens"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise TwinError(f"{self.path}: unreadable token file ({exc}); fix or remove it") from None
            self._mtime = mtime
        return self._records

    @property
    def enabled(self) -> bool:
        return bool(self.records())

    def _write(self, records: list[TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tokens": [asdict(r) for r in records]}, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._mtime = None

    def add(self, role: str, name: str | None = None) -> tuple[TokenRecord, str]:
        if role not in ROLES:
            raise TwinError(f"unknown role {role!r}; valid: {', '.join(ROLES)}")
        records = list(self.records())
        name = name or f"{role}-{len(records) + 1}"
        if any(r.name == name for r in records):
            raise TwinError(f"a token named {name!r} exists already; revoke it or pick another --name")
        token = secrets.token_urlsafe(24)
        record = TokenRecord(name, role, _digest(token), time.time())
        self._write(records + [record])
        return record, token

    def revoke(self, name: str) -> TokenRecord:
        records = list(self.records())
        for r in records:
            if r.name == name:
                self._write([x for x in records if x.name != name])
                return r
        raise TwinError(f"no token named {name!r}; `twin token list` shows them")

    def check(self, token: str | None) -> TokenRecord | None:
        """The record of a presented token, or None. Constant-time comparison."""
        if not token:
            return None
        digest = _digest(token)
        for r in self.records():
            if hmac.compare_digest(r.sha256, digest):
                return r
        return None
