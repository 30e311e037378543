"""Delivering one notification through one channel: our signed webhook, apprise (one
library for DingTalk, WeCom, Feishu, e-mail, SMS gateways, MQTT, ...), or the log.

Each ``send`` returns when the channel took the message and raises
:class:`DeliveryFailed` with a one-line reason when it did not; the sender retries.
The body is the outbox row's, byte for byte, on every try: a receiver deduplicates by
its idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time as wallclock
import urllib.error
import urllib.request
import warnings
from types import ModuleType
from typing import Any

from twin.loop.notify.config import Channel

log = logging.getLogger("twin.loop.notify")

#: the headers of our webhook (docs/notifications.md)
SIGNATURE_HEADER = "X-Twin-Signature"
KEY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Twin-Event"
#: the header apprise adds to e-mail and JSON/form/XML posts, where it can carry one
APPRISE_KEY_HEADER = "X-Twin-Idempotency-Key"
_HEADER_SCHEMES = ("mailto", "mailtos", "json", "jsons", "form", "forms", "xml", "xmls")


class DeliveryFailed(Exception):
    """The channel did not take the message; ``str()`` says why, in one line."""


_apprise_lock = threading.Lock()
_apprise_loaded: ModuleType | None = None


def apprise_module() -> ModuleType:
    """apprise with its service plugins loaded, once, quietly: loading them imports the
    standard library's ``imghdr``, which warns that it is deprecated (apprise's warning,
    not ours, which tests turn into errors). apprise would load them at the first URL."""
    global _apprise_loaded
    with _apprise_lock:
        if _apprise_loaded is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import apprise
                from apprise.plugins import N_MGR

                N_MGR.load_modules()
            _apprise_loaded = apprise
    return _apprise_loaded


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of :data:`SIGNATURE_HEADER`: ``t=<unix seconds>,v1=<hex>``, the hex being
    HMAC-SHA256 keyed with the shared secret over ``"<t>." + body``, so that a receiver can
    check the body came from us and refuse an old one replayed."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def send(channel: Channel, body: bytes, message: dict[str, Any]) -> None:
    """Deliver ``body`` (the JSON of ``message``) through ``channel``; raise
    :class:`DeliveryFailed` if it was not taken."""
    if channel.kind == "log":
        log.warning("notification", extra={"key": message["key"], "event": message["event"], "text": message["text"]["en"]})
    elif channel.kind == "webhook":
        for url in channel.urls:
            _post(url, channel, body, message)
    elif channel.kind == "apprise":
        _apprise(channel, message)
    else:  # config checks the kinds
        raise DeliveryFailed(f"unknown channel kind {channel.kind!r}")


def _post(url: str, channel: Channel, body: bytes, message: dict[str, Any]) -> None:
    now = int(wallclock.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "lifeline-twin", KEY_HEADER: message["key"],
        EVENT_HEADER: message["event"], SIGNATURE_HEADER: signature(channel.secret, now, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=channel.timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"{_where(url)} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"{_where(url)}: {reason}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{_where(url)} answered HTTP {status}")


def _apprise(channel: Channel, message: dict[str, Any]) -> None:
    apprise = apprise_module()
    notifier = apprise.Apprise()
    for url in channel.urls:
        scheme = url.split("://", 1)[0].lower()
        if scheme in _HEADER_SCHEMES:
            url += ("&" if "?" in url else "?") + f"+{APPRISE_KEY_HEADER}={message['key']}"
        notifier.add(url)
    text = message["text"]
    with apprise.LogCapture(level=apprise.logging.WARNING) as output:
        taken = notifier.notify(title=text["title"], body=f"{text['zh-CN']}\n{text['en']}\n\nkey: {message['key']}")
    if not taken:
        lines = [line.split(" - ", 2)[-1] for line in output.getvalue().splitlines() if line.strip()]
        raise DeliveryFailed(f"apprise: {lines[-1] if lines else 'not delivered'}")


def _where(url: str) -> str:
    """The URL without what may be secret in it (a token in its path or query)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def encode(message: dict[str, Any]) -> bytes:
    """The webhook body: compact UTF-8 JSON (zh-CN text as itself, not escaped)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
