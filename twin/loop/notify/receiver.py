"""A reference receiver of the twin's webhook: checks each delivery's signature and age,
takes each idempotency key once, and prints one line per notification.

For a demo (``scripts/demo --notify-demo``), for testing a channel, and as the example an
一网统管 platform's integrator reads before writing their own::

    python -m twin.loop.notify.receiver --port 9000 --secret-file webhook.secret [--log deliveries.jsonl]

It answers 204 to a delivery it took (a second one with a key it has seen too: the twin
tries again when it did not hear the first answer), 401 to a wrong or missing
signature, 400 to a stale one or a body that is not the twin's JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: a signature older than this is refused (seconds): a body replayed later is not news
MAX_AGE = 300.0


def verify(signature: str | None, body: bytes, secret: str, now: float | None = None, max_age: float = MAX_AGE) -> str | None:
    """Why a delivery's ``X-Twin-Signature`` does not hold for ``body`` (None when it does):
    HMAC-SHA256 with ``secret`` over ``"<t>." + body``, ``t`` at most ``max_age`` old."""
    try:
        parts = dict(part.split("=", 1) for part in (signature or "").split(","))
        stamp, given = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError):
        return "no signature of the form t=<unix seconds>,v1=<hex>"
    expected = hmac.new(secret.encode("utf-8"), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "the signature does not match the body (another secret, or the body was changed)"
    if abs((time.time() if now is None else now) - stamp) > max_age:
        return f"the signature is {abs(time.time() - stamp):.0f} s old; at most {max_age:g} s are taken"
    return None


class Receiver:
    """The receiving end: a threading HTTP server on ``host:port``."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0, log: Path | None = None,
                 out: Any = sys.stdout) -> None:
        self.secret = secret
        self.keys: set[str] = set()
        self.log = log
        self.out = out
        self._lock = threading.Lock()
        if log is not None and log.exists():  # keys taken before a restart stay taken
            for line in log.read_text(encoding="utf-8").splitlines():
                self.keys.add(json.loads(line)["key"])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                status, line = receiver.take(self.headers, self.rfile.read(length))
                print(line, file=receiver.out, flush=True)  # before the answer: the line is there when the twin hears it
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]

    def take(self, headers: Any, body: bytes) -> tuple[int, str]:
        """(HTTP status, line to print) for one delivery."""
        why = verify(headers.get("X-Twin-Signature"), body, self.secret)
        if why is not None:
            return 401, f"refused: {why}"
        try:
            message = json.loads(body)
            key, subject = message["key"], message["subject"]
            record = message[subject]
        except (ValueError, KeyError, TypeError):
            return 400, "refused: not a notification of the twin (docs/notifications.md)"
        if headers.get("Idempotency-Key") != key:
            return 400, "refused: the Idempotency-Key header is not the body's key"
        with self._lock:
            seen = key in self.keys
            self.keys.add(key)
            if not seen and self.log is not None:
                with self.log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, "event": message["event"], "subject": subject, "id": record["id"]},
                                       ensure_ascii=False) + "\n")
        text = message["text"]["zh-CN"]
        return 204, f"{'duplicate ' if seen else ''}{message['event']} {subject} {record['id']}: {text}"

    def serve(self) -> None:
        self.server.serve_forever()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twin.loop.notify.receiver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret-file", type=Path, required=True, help="the webhook's shared key (the channel's secret_file)")
    parser.add_argument("--log", type=Path, help="keep the keys taken here (JSON lines), across restarts")
    args = parser.parse_args(argv)
    try:
        secret = args.secret_file.read_text(encoding="utf-8").strip()
        receiver = Receiver(secret, args.host, args.port, args.log)
    except OSError as exc:
        print(f"receiver: {getattr(exc, 'filename', None) or args.host}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"receiving on http://{args.host}:{receiver.port}/", flush=True)
    try:
        receiver.serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
