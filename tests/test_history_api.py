"""/api/history against a real `twin serve` of the demo (a live twin on the wall clock) in
tokens mode, over a data folder whose history and alarm stores hold fabricated weeks
written through the stores' own code (real SQLite files)."""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import free_port, wait_for, wait_healthy

from twin.history import Store
from twin.serving.access import TokenStore
from twin.tick.alarms import AlarmBook

DAY = 86400.0
SENSOR, ASSET = "B-S-0001-SG", "B-S-0001"


class Fabricated:
    """What the fixture wrote, for the tests to compare with."""

    def __init__(self, root: Path) -> None:
        self.now = float(math.floor(time.time()))
        self.week0 = math.floor((self.now - 9 * DAY) / 60) * 60.0  # a week of one reading a minute, still raw
        self.old0 = math.floor((self.now - 40 * DAY) / DAY) * DAY  # five whole days past the raw retention
        rng = np.random.default_rng(14)
        self.week_t = self.week0 + np.arange(7 * 1440) * 60.0 + 7.25
        self.week_v = rng.normal(20.0, 5.0, len(self.week_t)).astype(np.float32)
        self.old_t = self.old0 + np.arange(5 * 1440) * 60.0 + 30.0
        self.old_v = rng.normal(-3.0, 1.0, len(self.old_t)).astype(np.float32)
        store = Store(root / "history")
        (key,) = store.keys([SENSOR], "bridge")
        for t, v in ((self.old_t, self.old_v), (self.week_t, self.week_v)):
            for a in range(0, len(t), 1440):
                store.append(np.full(len(t[a:a + 1440]), key), t[a:a + 1440], v[a:a + 1440])
        store.flush()
        self.pruned = store.prune(self.now)
        store.close()
        # alarms, through the alarm store's own code: on the bridge (raised yellow, then red), and on a gas main
        book = AlarmBook(root / "alarms.sqlite")
        self.t_bridge, self.t_gas = self.week0 + 2 * DAY + 1234.5, self.week0 + 3 * DAY + 100.0
        book.set_level("history.test", "bridge", ASSET, "bridge works", 2, self.t_bridge)
        book.set_level("history.test", "bridge", ASSET, "bridge works", 4, self.t_bridge + 600)
        book.set_level("history.test", "bridge", ASSET, "bridge works", 0, self.t_bridge + 1200, rising=False)
        book.set_level("history.test", "gas", "G-M-0001", "gas company", 1, self.t_gas)
        book.take_events()
        self.bridge_alarm, self.gas_alarm = (book.open[("history.test", a)] for a in (ASSET, "G-M-0001"))
        for alarm in (self.bridge_alarm, self.gas_alarm):  # closed, so that the twin starts without them open
            book.act(alarm, "acknowledge", "tester", "", self.now - DAY)
            book.act(alarm, "resolve", "tester", "", self.now - DAY)
        book.close()


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    root = tmp_path_factory.mktemp("history-api")
    data = root / "data"
    data.mkdir(mode=0o700)
    made = Fabricated(data)
    tokens = TokenStore(data)
    roles = {role: tokens.add(role, f"{role}-1")[1] for role in ("viewer", "device", "admin")}
    port = free_port()
    log = root / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--data", str(data), "--port", str(port)],
                                  stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}", 120, process=server, log=log)
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {roles['viewer']}"}) as viewer:
            yield made, viewer, roles, url
    finally:
        server.terminate()
        server.wait(timeout=30)


def shortest(values: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(values, dtype=np.float32).astype(str)]


def test_a_day_of_readings_comes_back_raw_and_exact_with_the_alarms_raised_on_the_asset(twin):
    made, viewer, _, _ = twin
    day0 = made.week0 + 2 * DAY
    r = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": day0, "to": day0 + DAY})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    answer = r.json()
    inside = (made.week_t >= day0) & (made.week_t < day0 + DAY)
    assert answer == {
        "series": SENSOR, "unit": "µε", "source": "raw", "from": day0, "to": day0 + DAY, "step": None,
        "points": {"t": made.week_t[inside].tolist(), "v": shortest(made.week_v[inside])},
        "thresholds": [],
        "alarms": [{"t": made.t_bridge, "level": 2, "id": made.bridge_alarm},
                   {"t": made.t_bridge + 600, "level": 4, "id": made.bridge_alarm}],
    }
    # RFC 3339 times name the same range
    same = viewer.get(f"/api/history/sensors/{SENSOR}", params={
        "from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day0)),
        "to": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(day0 + DAY + 8 * 3600))}).json()
    assert same == answer


def assert_buckets(points: dict[str, list], t: np.ndarray, v: np.ndarray, start: float, step: float) -> None:
    """``points`` are the buckets of (t, v) from ``start``: the means to float32's
    precision (the store sums in another order than numpy's mean)."""
    want = _buckets(t, v, start, step)
    assert set(points) == set(want)
    for name in ("t", "min", "max", "count"):
        assert points[name] == want[name], name
    np.testing.assert_allclose(points["mean"], want["mean"], rtol=2e-7)


def _buckets(t: np.ndarray, v: np.ndarray, start: float, step: float) -> dict[str, list]:
    b = ((t - start) // step).astype(int)
    out: dict[str, list] = {"t": [], "min": [], "mean": [], "max": [], "count": []}
    for k in np.unique(b):
        x = v[b == k]
        for name, value in (("t", start + k * step), ("min", x.min()), ("mean", x.astype(np.float64).mean()),
                            ("max", x.max()), ("count", len(x))):
            out[name].append(value)
    return {"t": out["t"], "min": shortest(out["min"]), "mean": shortest(out["mean"]), "max": shortest(out["max"]),
            "count": out["count"]}


def test_a_week_comes_in_buckets_of_at_most_two_thousand_or_of_the_step_asked(twin):
    made, viewer, _, _ = twin
    start, end = made.week0, made.week0 + 7 * DAY
    answer = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": end}).json()
    assert answer["source"] == "raw" and answer["step"] == 302.4  # 604,800 s / 2,000 points
    assert_buckets(answer["points"], made.week_t, made.week_v, start, 302.4)
    assert len(answer["points"]["t"]) <= 2000 and sum(answer["points"]["count"]) == 7 * 1440
    hourly = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": end, "step": 3600}).json()
    assert hourly["step"] == 3600.0 and len(hourly["points"]["t"]) == 168
    assert_buckets(hourly["points"], made.week_t, made.week_v, start, 3600.0)
    assert "v" not in hourly["points"]
    # a step asked for a few points gives buckets too
    few = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": start + 600, "step": 300}).json()
    assert few["points"]["count"] == [5, 5]


def test_past_the_raw_retention_the_answer_comes_from_the_per_minute_data(twin):
    made, viewer, _, _ = twin
    assert made.pruned["days_downsampled"] == 5
    start, end = made.old0, made.old0 + 5 * DAY
    answer = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": end, "step": 3600}).json()
    assert answer["source"] == "minutes" and answer["step"] == 3600.0
    assert_buckets(answer["points"], made.old_t, made.old_v, start, 3600.0)
    # without a step, the range still fits: whole minutes, at most 2,000 buckets
    coarse = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": end}).json()
    assert coarse["step"] == 240.0 and len(coarse["points"]["t"]) == 1800 and sum(coarse["points"]["count"]) == 7200


def test_csv_and_parquet_carry_the_json_numbers(twin):
    made, viewer, _, _ = twin
    path = f"/api/history/sensors/{SENSOR}"
    raw = {"from": made.week0 + DAY, "to": made.week0 + DAY + 3600}
    hourly = {"from": made.week0, "to": made.week0 + 7 * DAY, "step": 3600}
    for params in (raw, hourly):
        points = viewer.get(path, params=params).json()["points"]
        names = list(points)
        by_query = viewer.get(path, params={**params, "format": "csv"})
        by_accept = viewer.get(path, params=params, headers={"Accept": "text/csv"})
        assert by_query.headers["content-type"] == "text/csv; charset=utf-8" and by_query.text == by_accept.text
        assert by_query.headers["content-disposition"] == f'attachment; filename="{SENSOR}.csv"'
        rows = list(csv.reader(io.StringIO(by_query.text)))
        assert rows[0] == names
        assert [[float(x) for x in row] for row in rows[1:]] == [list(r) for r in zip(*points.values())]
        parquet = viewer.get(path, params=params, headers={"Accept": "application/vnd.apache.parquet"})
        assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
        assert parquet.content == viewer.get(path, params={**params, "format": "parquet"}).content
        table = pq.read_table(pa.BufferReader(parquet.content))
        assert table.column_names == names
        assert table.schema.metadata[b"twin.series"] == SENSOR.encode()
        assert table.schema.metadata[b"twin.source"] == b"raw"
        for name in names:
            if name in ("t", "count"):
                assert table[name].to_pylist() == points[name]
            else:
                assert shortest(table[name].to_numpy()) == points[name]


def test_the_running_twin_stores_its_readings_and_fields(twin):
    made, viewer, _, _ = twin
    health = viewer.get("/api/health").json()
    assert health["subsystems"]["history"] == {"state": "ok", "reason": ""}
    since = health["time"] - 20

    def recent():
        answer = viewer.get(f"/api/history/sensors/{SENSOR}", params={"from": since}).json()
        return answer if len(answer["points"]["t"]) >= 5 else None

    answer = wait_for(recent, 60, "five live readings of the bridge's strain gauge in the history")
    assert answer["series"] == SENSOR and answer["unit"] == "µε" and answer["source"] == "raw" and answer["step"] is None
    t = answer["points"]["t"]
    assert t == sorted(set(t)) and since <= t[0] and t[-1] < answer["to"]
    metrics = viewer.get("/metrics").text
    figures = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines() if line.startswith("twin_history_")}
    assert figures["twin_history_values_written_total"] >= 5 * 977  # every sensor of the demo, every tick
    assert figures["twin_history_values_shed_total"] == 0.0 and figures["twin_history_values_failed_total"] == 0.0
    assert figures['twin_history_submitted_total{kind="readings"}'] >= 5 * 977


def test_an_assets_field_is_its_stored_state_if_historical_else_its_sensors_readings(twin):
    from twin.history.fields import field_series, is_historical
    from twin.plugins.registry import load_registry

    made, viewer, _, _ = twin
    bridge = load_registry(check_kernels=False).domains["bridge"]
    since = viewer.get("/api/health").json()["time"] - 30
    sensors = {"strain": SENSOR, "acceleration": "B-S-0001-AC"}
    for field in ("strain", "acceleration", "risk"):
        kept = is_historical(bridge.field(field))
        r = viewer.get(f"/api/history/assets/{ASSET}", params={"field": field, "from": since})
        if not kept and field not in sensors:
            assert r.status_code == 400 and r.json()["error"].startswith(f"field '{field}' of {ASSET} keeps no history; one of ")
            continue
        answer = wait_for(lambda: (a := viewer.get(f"/api/history/assets/{ASSET}", params={"field": field, "from": since}).json())
                          ["points"]["t"] and a, 30, f"a stored value of {ASSET}'s {field}")
        assert answer["series"] == (field_series("bridge", ASSET, field) if kept else sensors[field]), field
        assert answer["unit"] == bridge.field(field).unit
        # the alarm levels' thresholds are drawn where an alarm rule reads the field (the bridge's risk)
        assert answer["thresholds"] == ([{"level": 4, "value": 0.9}, {"level": 3, "value": 0.75}, {"level": 2, "value": 0.5},
                                         {"level": 1, "value": 0.25}] if field == "risk" else [])
    # the asset's field must be one that keeps history
    bad = viewer.get(f"/api/history/assets/{ASSET}", params={"field": "colour"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith(f"field 'colour' of {ASSET} keeps no history; one of ") and "strain" in bad.json()["error"]
    assert viewer.get(f"/api/history/assets/{ASSET}").json()["error"].startswith("give field= one of ")
    missing = viewer.get("/api/history/assets/X-0000", params={"field": "level"})
    assert missing.status_code == 404 and missing.json() == {"error": "no asset 'X-0000' in scene 'demo'", "code": "not_found"}
    assert bad.json()["code"] == "invalid_value"


def test_alarm_counts_per_domain_and_level_per_bucket(twin):
    made, viewer, _, _ = twin
    week = {"from": made.week0, "to": made.week0 + 7 * DAY, "step": DAY}
    answer = viewer.get("/api/history/alarms", params=week).json()
    assert (answer["from"], answer["to"], answer["step"]) == (made.week0, made.week0 + 7 * DAY, DAY)
    assert answer["t"] == [made.week0 + d * DAY for d in range(7)]
    assert set(answer["counts"]) == {"bridge", "drainage", "gas", "tunnel", "system"}
    zero = [0] * 7
    assert answer["counts"]["bridge"] == {"1": zero, "2": [0, 0, 1, 0, 0, 0, 0], "3": zero, "4": [0, 0, 1, 0, 0, 0, 0]}
    assert answer["counts"]["gas"] == {"1": [0, 0, 0, 1, 0, 0, 0], "2": zero, "3": zero, "4": zero}
    assert answer["counts"]["tunnel"] == {level: zero for level in "1234"}
    rows = list(csv.reader(io.StringIO(viewer.get("/api/history/alarms", params={**week, "format": "csv"}).text)))
    assert rows == [["t", "domain", "level", "count"], [repr(made.week0 + 2 * DAY), "bridge", "2", "1"],
                    [repr(made.week0 + 2 * DAY), "bridge", "4", "1"], [repr(made.week0 + 3 * DAY), "gas", "1", "1"]]
    # no step: a round one that cuts the range into at most 96 buckets
    assert viewer.get("/api/history/alarms", params={"from": made.week0, "to": made.week0 + DAY}).json()["step"] == 900.0


def test_viewers_and_up_may_read_devices_and_strangers_may_not(twin):
    made, viewer, roles, url = twin
    path = f"{url}/api/history/sensors/{SENSOR}"
    for role, status in (("viewer", 200), ("admin", 200), ("device", 403)):
        assert httpx.get(path, headers={"Authorization": f"Bearer {roles[role]}"}).status_code == status, role
    assert httpx.get(path).status_code == 401
    assert httpx.get(path, params={"token": roles["viewer"]}).status_code == 200
    assert httpx.get(f"{url}/api/history/alarms", headers={"Authorization": "Bearer nonsense"}).status_code == 401


@pytest.mark.parametrize("params, message", [
    ({"from": "yesterday"}, "from: give epoch seconds or an RFC 3339 time with its zone (2026-01-01T08:00:00+08:00), not 'yesterday'"),
    ({"to": "2026-01-01T00:00:00"}, "to: '2026-01-01T00:00:00' has no time zone; add Z or an offset such as +08:00"),
    ({"from": 100, "to": 100}, "the range is empty: from (100) must come before to (100)"),
    ({"from": 0, "to": 4e8}, "the range is 4630 days; at most 3660 are answered at once"),
    # a step is above 0 and at most the longest range (so /api/openapi.json declares it)
    ({"step": "-5"}, "step: give a positive number of seconds, not -5"),
    ({"step": "0"}, "step: give a positive number of seconds, not 0"),
    ({"step": "nan"}, "step: give a positive number of seconds, not nan"),
    ({"step": "1e9"}, "step: give at most 316224000 seconds (ten years), not 1e+09"),
    ({"step": "soon"}, "a query parameter is not valid: Expected `float | null`, got `str` - at `step`"),
    ({"format": "xml"}, "a query parameter is not valid: Invalid enum value 'xml' - at `format`"),
])
def test_bad_requests_are_refused_with_one_line(twin, params, message):
    _, viewer, _, _ = twin
    r = viewer.get(f"/api/history/sensors/{SENSOR}", params=params)
    assert r.status_code == 400 and r.json() == {"error": message, "code": "invalid_query"}


def test_the_docs_example_of_a_bad_step_is_what_the_server_says(twin):
    """docs/history.md shows the 400 of a bad step: the server answers exactly that."""
    import json
    import re

    from conftest import ROOT

    _, viewer, _, _ = twin
    shown = re.search(r'`(\{"error": "step: [^`]*)`', " ".join((ROOT / "docs" / "history.md").read_text().split()))
    assert shown, "docs/history.md no longer shows the refusal of a bad step"
    said = json.loads(shown.group(1))
    bad = re.search(r"not (\S+)$", said["error"]).group(1)
    r = viewer.get(f"/api/history/sensors/{SENSOR}", params={"step": bad})
    assert r.status_code == 400 and r.json() == said


def test_an_unknown_sensor_is_a_404_naming_it(twin):
    _, viewer, _, _ = twin
    r = viewer.get("/api/history/sensors/NO-SUCH")
    assert r.status_code == 404
    assert r.json()["error"] == "no sensor 'NO-SUCH' in scene 'demo' nor in its history; GET /api/assets/{id} lists an asset's sensors"


def test_the_docs_curl_examples_run(twin, tmp_path):
    import re

    from conftest import ROOT

    _, _, roles, url = twin
    text = (ROOT / "docs" / "history.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- example: curl history -->\n```sh\n(.*?)```\n<!-- end example -->", text, re.S)
    assert found, "docs/history.md lost its marked curl example"
    script = found.group(1)
    assert script.count("http://127.0.0.1:8000/") == 3
    ran = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000", url)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env={**os.environ, "TOKEN": roles["viewer"]})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    cut = ran.stdout.index("t,min,mean,max,count\n")  # the JSON answer ends without a newline, the CSV follows
    assert httpx.Response(200, content=ran.stdout[:cut]).json()["series"] == SENSOR
    rows = list(csv.reader(io.StringIO(ran.stdout[cut:])))
    assert 2 <= len(rows) <= 1 + 96 and all(float(r[0]) % 900 == float(rows[1][0]) % 900 for r in rows[1:])  # 15-minute buckets
    table = pq.read_table(tmp_path / "alarms.parquet")
    assert table.column_names == ["t", "domain", "level", "count"]
