"""Notifications out, at least once (twin.loop.notify): rules and channels from the data
folder's notifications.toml, the outbox written with the alarm change, a signed webhook
to a real HTTP receiver on loopback, e-mail through apprise to a real SMTP server, retries
with backoff, and nothing lost or sent under two keys across SIGKILLs."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import free_port, running, wait_for, wait_healthy

from twin.authoring.testing import Harness
from twin.loop.notify.config import NotifyConfigError, load
from twin.tick.alarms import StoreUnavailable

HERE = Path(__file__).resolve().parent
SECRET = "0123456789abcdef-test-secret"


class Receiver:
    """A real HTTP server on loopback that keeps what is posted to it; it answers
    ``fail`` (an HTTP status) to the first ``failures`` posts."""

    def __init__(self, failures: int = 0, fail: int = 500) -> None:
        self.posts: list[dict] = []
        self.failures = failures
        self.fail = fail
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    refuse = outer.failures > 0
                    outer.failures -= refuse
                    if not refuse:
                        outer.posts.append({"headers": dict(self.headers), "body": body})
                self.send_response(outer.fail if refuse else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _write_config(data: Path, text: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "webhook.secret").write_text(SECRET)
    (data / "notifications.toml").write_text(text)


def _webhook(url: str) -> str:
    return f'[[channels]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\nsecret_file = "webhook.secret"\ntimeout = 5\n'


def _verify(post: dict) -> dict:
    """Check the signature as a receiver would; return the body."""
    t, v1 = (part.split("=", 1)[1] for part in post["headers"]["X-Twin-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + post["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected) and abs(int(t) - time.time()) < 600
    return json.loads(post["body"])


# -- the file --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "says"), [
    ('[[channels]]\nname = "x"\nkind = "pager"\n', "[[channels]] #1 (x): kind = 'pager'; valid: webhook, apprise, log"),
    ('[[channels]]\nname = "x"\nkind = "webhook"\nurl = "ftp://a"\nsecret = "0123456789abcdefg"\n',
     "a webhook's url must start with http:// or https://, not 'ftp://a'"),
    ('[[channels]]\nname = "x"\nkind = "webhook"\nurl = "http://a"\nsecret = "short"\n',
     "a webhook needs secret_file (or secret) holding a key of at least 16 characters"),
    ('[[channels]]\nname = "x"\nkind = "apprise"\nurl = "nosuch://a"\n', "apprise does not take the URL nosuch://..."),
    ('[[rules]]\nchannels = ["pager"]\n', "[[rules]] #1: channels names 'pager'; valid: log"),
    ('[[rules]]\nchannels = ["log"]\non = ["exploded"]\n', "[[rules]] #1: on names 'exploded'; valid: raised, escalated"),
    ('[[rules]]\nchannels = ["log"]\nmin_level = 5\n', "min_level = 5; valid: 1 (blue), 2 (yellow), 3 (orange), 4 (red)"),
    ('[[rules]]\nchannels = ["log"]\nsubject = "weather"\n', "subject = 'weather'; valid: incident, alarm"),
    ('[rules]\nchannels = ["log"]\n', "rules must be an array of tables, each [[rules]]"),
    ('[[rules]\n', "not valid TOML"),
    ('[[chanels]]\n', "unknown table(s) chanels; valid: channels, rules"),
])
def test_a_wrong_notifications_file_is_one_line_naming_the_entry_and_key(tmp_path, text, says):
    path = tmp_path / "notifications.toml"
    path.write_text(text)
    with pytest.raises(NotifyConfigError) as info:
        load(path)
    assert says in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_twin_with_a_bad_notifications_file_does_not_start(tmp_path, toy):
    _write_config(tmp_path / "data", '[[rules]]\nchannels = ["pager"]\n')
    with pytest.raises(NotifyConfigError, match="channels names 'pager'"):
        Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")


# -- delivery ----------------------------------------------------------------------------------------
def test_incidents_reach_the_signed_webhook_as_the_rules_say(tmp_path, toy, receiver):
    _write_config(tmp_path / "data", _webhook(receiver.url) + """
[[rules]]
name = "toy incidents"
channels = ["hook"]
on = ["raised", "escalated", "acknowledged"]
domains = ["toy"]
min_level = 2

[[rules]]
name = "nobody's alarms"
channels = ["hook"]
subject = "alarm"
owners = ["nobody"]
""")
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")
    try:
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(30)  # 5 %/s: blue at 10 s (below min_level: not told), then yellow, orange, red
        [incident] = h.engine.incidents.ordered()
        h.engine.incidents.act(incident.id, "acknowledge", "Li", "on our way", h.engine.time)
        wait_for(lambda: len(receiver.posts) >= 4, 20, "four notifications")
        bodies = [_verify(post) for post in receiver.posts]
        assert [b["event"] for b in bodies] == ["escalated", "escalated", "escalated", "acknowledged"]
        assert [b["level"] for b in bodies] == [2, 3, 4, 4] and all(b["subject"] == "incident" for b in bodies)
        last = bodies[-1]
        assert last["who"] == "Li" and last["note"] == "on our way" and last["incident"]["id"] == incident.id
        assert last["text"]["zh-CN"].startswith(f"【红色预警】事件 {incident.id} 已确认：") and "备注：on our way" in last["text"]["zh-CN"]
        assert last["scene"] == "harness" and last["version"] == 1
        for post, body in zip(receiver.posts, bodies):
            assert post["headers"]["Idempotency-Key"] == body["key"] and post["headers"]["X-Twin-Event"] == body["event"]
        assert len({b["key"] for b in bodies}) == 4
        def hook() -> dict:
            return next(c for c in h.engine.notify.status()["channels"] if c["name"] == "hook")

        wait_for(lambda: hook()["sent"] == 4, 10, "four rows marked sent")
        assert hook()["state"] == "ok" and hook()["pending"] == 0
        text = h.engine.metrics.exposition().decode()
        assert 'twin_notifications_sent_total{channel="hook"} 4.0' in text
        assert 'twin_notifications_queued_total{channel="hook"} 4.0' in text
    finally:
        h.close()


def test_a_failing_receiver_is_tried_again_with_backoff_and_shown_failing(tmp_path, toy):
    receiver = Receiver(failures=3, fail=503)
    _write_config(tmp_path / "data", _webhook(receiver.url) + '[[rules]]\nchannels = ["hook"]\non = ["raised"]\n')
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")
    try:
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(12)
        wait_for(lambda: h.engine.notify.sender.states["hook"].failures >= 2, 20, "two failures")
        [hook] = [c for c in h.engine.notify.status()["channels"] if c["name"] == "hook"]
        assert hook["state"] == "failing" and hook["pending"] == 1 and "answered HTTP 503" in hook["last_error"]
        assert hook["retry_at"] is not None
        db = sqlite3.connect(tmp_path / "data" / "alarms.sqlite")
        rows = "SELECT state, attempts FROM outbox"
        wait_for(lambda: db.execute(rows).fetchall() == [("sent", 4)], 30, "the delivery after the failures")  # 1, 2, 4 s
        db.close()
        assert len(receiver.posts) == 1
        assert 'twin_notifications_failed_total{channel="hook"} 3.0' in h.engine.metrics.exposition().decode()
    finally:
        h.close()
        receiver.close()


def test_the_outbox_is_written_in_the_alarm_changes_transaction(tmp_path, toy, receiver):
    _write_config(tmp_path / "data", _webhook(receiver.url) + '[[rules]]\nchannels = ["hook"]\nsubject = "alarm"\non = ["raised"]\n')
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")
    store = tmp_path / "data" / "alarms.sqlite"
    try:
        other = sqlite3.connect(store, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the store
        h.engine.alarms.set_level("toy.overfill", "toy", "T-001", "toy works", 2, 1.0, title="Tank overfill")
        with pytest.raises(StoreUnavailable):
            h.engine.alarms.commit()
        assert other.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
        other.execute("ROLLBACK")
        h.engine.alarms.commit()  # the retry writes the alarm, its incident and its notification, once
        wait_for(lambda: other.execute("SELECT COUNT(*), MIN(state) FROM outbox").fetchone() == (1, "sent"), 10,
                 "the notification sent, once")
        assert len(receiver.posts) == 1
        assert _verify(receiver.posts[0])["alarm"]["asset"] == "T-001"
    finally:
        h.close()


def test_the_api_shows_each_channel(tmp_path, toy, receiver):
    from twin.serving.server import create_app

    _write_config(tmp_path / "data", _webhook(receiver.url) + '[[rules]]\nchannels = ["hook", "log"]\n')

    def build():
        h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")
        h.act("toy.open_tap", "T-001", rate=0.5)
        return h.engine

    server = create_app(build, speed=20.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_healthy(client)
        wait_for(lambda: any(r["state"] == "sent" for r in client.get("/api/notifications").json()["recent"]), 30, "a sent row")
        body = client.get("/api/notifications").json()
        assert body["enabled"] is True and body["file"].endswith("notifications.toml") and body["sender"] == "ok"
        assert {c["name"]: c["kind"] for c in body["channels"]} == {"log": "log", "hook": "webhook"}
        assert body["rules"][0]["channels"] == ["hook", "log"] and body["rules"][0]["subject"] == "incident"
        assert {r["channel"] for r in body["recent"]} == {"hook", "log"} and "body" not in body["recent"][0]
        assert "twin_notifications_sent_total" in client.get("/metrics").text


# -- at least once, across SIGKILL ----------------------------------------------------------------
def _start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=err, text=True)
    line = process.stdout.readline()
    assert line.strip() == "READY", f"{args[0]} did not start: {line!r}; see {log}"
    return process


def _kill(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGKILL)
    code = process.wait()
    process.stdout.close()
    return code


@pytest.mark.slow
def test_nothing_is_lost_or_sent_under_two_keys_across_sigkills(tmp_path, receiver):
    """The twin is killed (SIGKILL) three times at random moments and the SMTP server
    once, mid-run; at the end every change the rules name was delivered through both
    channels under the one key its outbox row has, duplicates only with that key."""
    data, mails, log = tmp_path / "data", tmp_path / "mails.jsonl", tmp_path / "log.txt"
    smtp_port = free_port()
    _write_config(data, _webhook(receiver.url) + f"""
[[channels]]
name = "mail"
kind = "apprise"
url = "mailto://127.0.0.1:{smtp_port}?from=twin@example.org&to=duty@example.org"
timeout = 5

[[rules]]
name = "incidents"
channels = ["hook", "mail"]
on = ["raised", "joined", "escalated", "acknowledged"]

[[rules]]
name = "alarms"
channels = ["hook"]
subject = "alarm"
on = ["raised", "escalated", "acknowledged"]
""")
    rng = random.Random(15)
    smtp = _start([str(HERE / "smtp_sink.py"), str(smtp_port), str(mails)], log)
    writer_args = [str(HERE / "notify_writer.py"), str(data), str(tmp_path / "scene")]
    try:
        for n in range(3):
            writer = _start([*writer_args, str(n)], log)
            time.sleep(rng.uniform(0.5, 2.5))
            if n == 1:  # the mail server goes down while the twin writes, and comes back
                _kill(smtp)
                time.sleep(rng.uniform(1.0, 2.0))
                smtp = _start([str(HERE / "smtp_sink.py"), str(smtp_port), str(mails)], log)
            assert _kill(writer) == -signal.SIGKILL
        writer = _start([*writer_args, "3"], log)
        out, _ = writer.communicate(timeout=180)
        assert writer.returncode == 0 and out.strip().endswith("DRAINED"), (out, log.read_text()[-2000:])
    finally:
        _kill(smtp)

    db = sqlite3.connect(data / "alarms.sqlite")
    rows = db.execute("SELECT key, channel, rules, state, attempts, body FROM outbox").fetchall()
    assert rows and all(state == "sent" for _, _, _, state, _, _ in rows)
    # Written once per change, in the change's transaction: one row per channel for each
    # change the rules name, none for the others.
    alarm_changes = db.execute("SELECT COUNT(*) FROM events WHERE kind IN ('raise', 'escalate', 'acknowledge')").fetchone()[0]
    incident_changes = db.execute(
        "SELECT COUNT(*) FROM incident_events WHERE kind IN ('open', 'join', 'escalate', 'acknowledge')").fetchone()[0]
    by_rule = {(rule, channel): 0 for rule in ("alarms", "incidents") for channel in ("hook", "mail")}
    for _, channel, rules, _, _, _ in rows:
        for rule in json.loads(rules):
            by_rule[(rule, channel)] += 1
    assert by_rule == {("alarms", "hook"): alarm_changes, ("alarms", "mail"): 0,
                       ("incidents", "hook"): incident_changes, ("incidents", "mail"): incident_changes}
    assert alarm_changes > 20 and incident_changes > 5

    # Delivered: every row under its key, and nothing under any other key.
    bodies = {key: body for key, channel, _, _, _, body in rows if channel == "hook"}
    got = {}
    for post in receiver.posts:
        body = _verify(post)
        assert post["body"] == bodies[body["key"]], "a second delivery under one key is the same body"
        got[body["key"]] = got.get(body["key"], 0) + 1
    assert set(got) == set(bodies)
    mail_keys = {key for key, channel, *_ in rows if channel == "mail"}
    received = [json.loads(line) for line in mails.read_text().splitlines()]
    assert {m["key"] for m in received} == mail_keys and all(m["to"] == ["duty@example.org"] for m in received)
    # The mail server's outage was waited out: some mail needed more than one try.
    assert max(attempts for _, channel, _, _, attempts, _ in rows if channel == "mail") > 1


# -- the reference receiver ------------------------------------------------------------------------
def test_the_reference_receiver_checks_signatures_and_takes_each_key_once(tmp_path, toy):
    import io as _io

    from twin.loop.notify.channels import DeliveryFailed, send
    from twin.loop.notify.config import Channel
    from twin.loop.notify.receiver import Receiver as Reference

    out = _io.StringIO()
    ref = Reference(SECRET, log=tmp_path / "keys.jsonl", out=out)
    threading.Thread(target=ref.serve, daemon=True).start()
    url = f"http://127.0.0.1:{ref.port}/hook"
    _write_config(tmp_path / "data", _webhook(url) + '[[rules]]\nchannels = ["hook"]\non = ["raised"]\n')
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")
    try:
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(12)
        wait_for(lambda: "raised incident 1:" in out.getvalue(), 10, "the receiver's line")
        with sqlite3.connect(tmp_path / "data" / "alarms.sqlite") as db:
            [(body,)] = db.execute("SELECT body FROM outbox").fetchall()
        hook = Channel("hook", "webhook", (url,), SECRET, 5.0)
        send(hook, body, json.loads(body))  # the twin trying again: taken, and known
        wait_for(lambda: "duplicate raised incident 1:" in out.getvalue(), 10, "the duplicate's line")
        with pytest.raises(DeliveryFailed, match="answered HTTP 401"):
            send(Channel("hook", "webhook", (url,), "another-secret-of-16+", 5.0), body, json.loads(body))
        assert "refused: the signature does not match the body" in out.getvalue()
        assert [json.loads(line)["event"] for line in (tmp_path / "keys.jsonl").read_text().splitlines()] == ["raised"]
    finally:
        h.close()
        ref.close()
    again = Reference(SECRET, log=tmp_path / "keys.jsonl", out=_io.StringIO())  # a restarted receiver knows its keys
    assert again.keys == {json.loads(body)["key"]}
    again.server.server_close()


def test_the_reference_receiver_runs_from_the_command_line(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "twin.loop.notify.receiver", "--port", str(port), "--secret-file",
                                str(secret)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == f"receiving on http://127.0.0.1:{port}/"
        r = httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 401
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()
    missing = subprocess.run([sys.executable, "-m", "twin.loop.notify.receiver", "--secret-file", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr
