"""A mosquitto broker on a free loopback port, for the tests, the demo and the benchmarks.

The project writes the broker's configuration into a folder of its own (config,
persistence file, log), so that a restart of the broker finds the queued QoS 1 messages
of persistent sessions where it left them. Production brokers are the operator's; the
settings that matter for the twin are the ones written here (see docs/ingest.md).
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from twin.errors import TwinError

#: bytes of QoS 1 messages a broker keeps per offline persistent session (the default
#: of 1000 messages would drop readings of a city during a minute's restart of the twin)
QUEUE_BYTES = 1 << 30


def mosquitto_path() -> str:
    """The mosquitto executable (Debian installs it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise TwinError("mosquitto is not installed; install the Debian package `mosquitto` (scripts/install does, as root)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, port: int, *, password_file: Path | None = None, acl_file: Path | None = None,
                 autosave_interval: int = 5, queue_bytes: int = QUEUE_BYTES) -> Path:
    """Write ``mosquitto.conf`` into ``folder`` for a broker on 127.0.0.1:``port`` with
    persistence in ``folder``; anonymous clients are refused when a password file is
    given. Returns the config's path."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by twin.sources.broker: a broker for the tests, the demo and the benchmarks.",
        f"listener {port} 127.0.0.1",
        # Run as whoever starts it: as root, mosquitto would otherwise switch to the user
        # `mosquitto`, which cannot write this folder.
        f"user {getpass.getuser()}",
        # Queued QoS 1 messages of persistent sessions survive a restart: saved on a clean
        # exit and every autosave_interval seconds (a kill -9 loses what came since).
        "persistence true",
        f"persistence_location {folder}/",
        "persistence_file mosquitto.db",
        f"autosave_interval {autosave_interval}",
        "max_queued_messages 0",
        f"max_queued_bytes {queue_bytes}",
        f"log_dest file {folder / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        f"allow_anonymous {'false' if password_file else 'true'}",
    ]
    if password_file:
        lines.append(f"password_file {Path(password_file).resolve()}")
    if acl_file:
        lines.append(f"acl_file {Path(acl_file).resolve()}")
    path = folder / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Broker:
    """A mosquitto process on 127.0.0.1, its config, persistence and log in ``folder``.
    ``start`` returns once the port accepts connections; ``stop`` ends it cleanly (so
    that it saves its persistence); ``restart`` keeps the port and the queued messages."""

    def __init__(self, folder: Path, port: int | None = None, *, password_file: Path | None = None,
                 acl_file: Path | None = None, autosave_interval: int = 5) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.config = write_config(self.folder, self.port, password_file=password_file, acl_file=acl_file,
                                   autosave_interval=autosave_interval)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "mosquitto.log"

    def start(self, timeout: float = 15.0) -> Broker:
        if self.process is not None and self.process.poll() is None:
            return self
        self.process = subprocess.Popen([mosquitto_path(), "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace").strip() if self.process.stderr else ""
                raise TwinError(f"mosquitto -c {self.config} exited with {self.process.returncode}: "
                                f"{err or self._log_tail() or 'no output'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TwinError(f"mosquitto on port {self.port} did not accept connections within {timeout:g} s; "
                                    f"see {self.log}") from None
                time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # a clean exit writes the persistence file
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()

    def restart(self) -> Broker:
        self.stop()
        return self.start()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
