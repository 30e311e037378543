"""A TOML file with the positions tomllib does not keep.

:class:`TomlFile` reads a file, parses it with tomllib and finds the line of every key,
table header and array element, so that a problem found in the parsed data (by
:mod:`twin.declared`, or by a hand-written cross-reference check) can name its file,
line and key: ``drill.toml: line 12: [[events]] #3 at``.

Keys are addressed as tuples, the parsed data's path: ``("events", 2, "at")`` is the
``at`` key of the third ``[[events]]`` table, whichever way the file writes it
(``[[events]]``, ``[[ events ]]``, or inline ``events = [{ at = 5, ... }]``).
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

Keys = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class TomlFile:
    """A parsed TOML file and where each of its keys stands."""

    #: the file as given
    path: Path
    #: its text
    text: str
    #: what tomllib made of it
    data: dict[str, Any]
    #: the line of each key, table header and array element, by its path
    lines: dict[Keys, int] = field(default_factory=dict)
    #: the paths opened by a ``[table]`` or ``[[array]]`` header
    headers: set[Keys] = field(default_factory=set)

    @classmethod
    def parse(cls, path: Path, text: str) -> TomlFile:
        """Parse ``text`` (the contents of ``path``); tomllib.TOMLDecodeError if it is not TOML."""
        data = tomllib.loads(text)
        lines, headers = positions(text)
        return cls(Path(path), text, data, lines, headers)

    @classmethod
    def unplaced(cls, data: dict[str, Any], name: str) -> TomlFile:
        """Data that came from no file (a configuration given as a dict): problems name
        it ``name`` and give no line."""
        return cls(Path(name), "", data)

    @classmethod
    def read(cls, path: Path, what: str, problems: list[str]) -> TomlFile | None:
        """The file at ``path``, or None with one problem naming it when it is missing,
        unreadable, not UTF-8 text or not valid TOML. ``what`` names the file's kind in
        the problem ("a drill file")."""
        path = Path(path)
        text = read_text(path, what, problems)
        if text is None:
            return None
        try:
            return cls.parse(path, text)
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path}: not valid TOML: {exc}")
            return None

    def line(self, keys: Keys) -> int | None:
        """The line of ``keys``, or of the nearest enclosing key or table the file names."""
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.lines:
                return self.lines[keys[:n]]
        return None

    def where(self, keys: Keys, at: Keys | None = None) -> str:
        """``file: line N: label`` of ``keys``; the line is that of ``at`` when given (an
        unknown key named inside its table)."""
        line = self.line(keys if at is None else at)
        parts = [str(self.path), f"line {line}" if line else "", self.label(keys)]
        return ": ".join(p for p in parts if p)

    def label(self, keys: Keys) -> str:
        """How a person reads ``keys`` in the file: ``[drill] seed``,
        ``[[events]] #3 at``, ``[sensors.kinds."gas.ch4"] interval``, ``[weather] rain[1]``."""
        table = _table_prefix(self, keys)
        head = ""
        if table:
            names = ".".join(_key(k) for k in table if isinstance(k, str))
            head = f"[[{names}]] #{table[-1] + 1}" if isinstance(table[-1], int) else f"[{names}]"
        rest = ""
        for k in keys[len(table):]:
            rest += f"[{k}]" if isinstance(k, int) else (f".{_key(k)}" if rest else _key(k))
        return f"{head} {rest}" if head and rest else head or rest

    def value(self, keys: Keys) -> Any:
        """The parsed value at ``keys`` (KeyError/IndexError when there is none)."""
        node: Any = self.data
        for k in keys:
            node = node[k]
        return node


def shown(value: Any) -> str:
    """A parsed value as a problem quotes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return repr(value)


def _key(name: str) -> str:
    return name if _BARE.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _table_prefix(toml: TomlFile, keys: Keys) -> Keys:
    """The longest prefix of ``keys`` that is a table opened by a header, or an element
    of an array of tables (however the file writes it)."""
    best: Keys = ()
    node: Any = toml.data
    for n, k in enumerate(keys, start=1):
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            break
        prefix = keys[:n]
        # a table a header opens, or one above it ([a] of [a."b"]); data from no file: any
        table = isinstance(node, dict) and (not toml.text or any(h[:n] == prefix for h in toml.headers))
        if prefix in toml.headers or (isinstance(k, int) and isinstance(node, dict)) or table:
            best = prefix
        elif not isinstance(node, (dict, list)):
            break
    return best


def positions(text: str) -> tuple[dict[Keys, int], set[Keys]]:
    """The line of every key, header and array element of valid TOML ``text``, by path,
    and the paths opened by headers."""
    return _Scanner(text).run()


class _Scanner:
    """Reads valid TOML (tomllib has accepted it) for positions only: lenient, never
    a second judge of the syntax."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.lines: dict[Keys, int] = {}
        self.headers: set[Keys] = set()
        #: the number of [[tables]] seen so far, per array path
        self.arrays: dict[Keys, int] = {}

    def run(self) -> tuple[dict[Keys, int], set[Keys]]:
        current: Keys = ()
        while True:
            self.skip(newlines=True)
            if self.i >= len(self.s):
                break
            line = self.line()
            if self.s.startswith("[[", self.i):
                self.i += 2
                keys = self.key()
                self.expect("]]")
                array = self.resolve(keys[:-1]) + (keys[-1],)
                n = self.arrays.get(array, 0)
                self.arrays[array] = n + 1
                self.lines.setdefault(array, line)
                current = array + (n,)
                self.lines[current] = line
                self.headers.add(current)
            elif self.s[self.i] == "[":
                self.i += 1
                keys = self.key()
                self.expect("]")
                current = self.resolve(keys)
                self.lines.setdefault(current, line)
                self.headers.add(current)
            else:
                self.pair(current)
        return self.lines, self.headers

    def resolve(self, keys: Keys) -> Keys:
        """A header's dotted key as a path: through an array of tables, its last table."""
        out: Keys = ()
        for k in keys:
            out += (k,)
            if out in self.arrays:
                out += (self.arrays[out] - 1,)
        return out

    def line(self, at: int | None = None) -> int:
        return bisect.bisect_left(self.newlines, self.i if at is None else at) + 1

    def skip(self, newlines: bool) -> None:
        """Past spaces, tabs and comments (and line ends, with ``newlines``)."""
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            else:
                break

    def expect(self, token: str) -> None:
        self.skip(newlines=False)
        if self.s.startswith(token, self.i):
            self.i += len(token)

    def key(self) -> Keys:
        """A dotted key: bare or quoted parts, with any spaces around the dots."""
        parts: list[str] = []
        while True:
            self.skip(newlines=False)
            c = self.s[self.i] if self.i < len(self.s) else ""
            if c in ('"', "'"):
                start = self.i
                self.string()
                parts.append(tomllib.loads(f"k = {self.s[start:self.i]}")["k"])
            else:
                m = _BARE.match(self.s, self.i)
                if m is None:
                    break
                parts.append(m.group())
                self.i = m.end()
            self.skip(newlines=False)
            if self.s.startswith(".", self.i):
                self.i += 1
                continue
            break
        return tuple(parts)

    def pair(self, table: Keys) -> None:
        line = self.line()
        keys = self.key()
        if not keys:  # not a key: step over the character (cannot happen in valid TOML)
            self.i += 1
            return
        for n in range(1, len(keys)):
            self.lines.setdefault(table + keys[:n], line)
        path = table + keys
        self.lines[path] = line
        self.expect("=")
        self.value(path)

    def value(self, path: Keys) -> None:
        self.skip(newlines=False)
        s = self.s
        if self.i >= len(s):
            return
        c = s[self.i]
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self.skip(newlines=True)
                if self.i >= len(s) or s[self.i] == "]":
                    self.i += 1
                    return
                self.lines[path + (n,)] = self.line()
                self.value(path + (n,))
                self.skip(newlines=True)
                if self.i < len(s) and s[self.i] == ",":
                    self.i += 1
                    n += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip(newlines=True)
                if self.i >= len(s) or s[self.i] == "}":
                    self.i += 1
                    return
                self.pair(path)
                self.skip(newlines=True)
                if self.i < len(s) and s[self.i] == ",":
                    self.i += 1
        else:  # a number, boolean or date-time (which may hold a space): up to a delimiter
            m = re.compile(r"[^,\]}\n#]*").match(s, self.i)
            self.i = m.end() if m else self.i + 1

    def string(self) -> None:
        """Past a string of any of TOML's four kinds."""
        s, i = self.s, self.i
        for quote in ('"""', "'''"):
            if s.startswith(quote, i):
                j = i + 3
                while True:
                    k = s.find(quote, j)
                    if k < 0:
                        self.i = len(s)
                        return
                    if quote == '"""' and _escaped(s, k):
                        j = k + 1
                        continue
                    # up to two quotes right before the closing three belong to the string
                    extra = 0
                    while extra < 2 and s.startswith(quote[0], k + 3):
                        k += 1
                        extra += 1
                    self.i = k + 3
                    return
        quote = s[i]
        j = i + 1
        while j < len(s):
            if s[j] == quote and (quote == "'" or not _escaped(s, j)):
                break
            j += 1
        self.i = j + 1


def _escaped(s: str, at: int) -> bool:
    """True when the character at ``at`` follows an odd number of backslashes."""
    n = 0
    while at - n - 1 >= 0 and s[at - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def read_text(path: Path, what: str, problems: list[str]) -> str | None:
    """The text of ``path``, or None with one problem naming the file when it is missing,
    unreadable, binary or not UTF-8 (a byte-order mark is allowed). ``what`` names the
    file's kind in the problem ("a drill file", "a GeoJSON file")."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{path}: no such file; expected {what}")
        return None
    except IsADirectoryError:
        problems.append(f"{path}: is a folder; expected {what}")
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot read it ({exc.strerror}); expected {what}")
        return None
    # a NUL byte is valid UTF-8 but never in a text format: it marks a binary file
    # (a zip, an image, a shapefile) given where text was expected
    nul = data.find(b"\0")
    if nul >= 0:
        problems.append(f"{path}: a binary file (a NUL byte at offset {nul}); expected {what} as UTF-8 text")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        f"expected {what} saved as UTF-8")
        return None
