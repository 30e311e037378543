"""Notifications out, at least once (docs/notifications.md).

:mod:`~twin.loop.notify.config` reads who hears of what (rules) and how (channels) from
a TOML file; :mod:`~twin.loop.notify.outbox` writes each notification into an outbox
table in the same SQLite transaction as the alarm or incident change it tells of;
:mod:`~twin.loop.notify.sender` delivers the outbox, retrying with backoff, through
:mod:`~twin.loop.notify.channels` (apprise, our signed webhook, the log);
:mod:`~twin.loop.notify.service` puts them together for one engine.
"""
