"""Sensor health: which sensors are online, offline or suspect (stuck); the system
alarms that say so; the share of each domain's sensors online; and the per-row stale
mask the stream carries (:data:`twin.types.STALE_ROWS_FIELD`).

- *online*: the sensor's last good reading is within its expected interval
  (``Sensor.stale_after``, set in the scene per sensor kind).
- *offline*: silent for longer than its interval, counted from its last good reading or,
  for a sensor not heard from since the twin started, from the start: a restarted twin
  gives every device one interval to speak before calling it offline. A live twin whose
  start-up took longer than a few ticks skips its clock ahead to the wall's (the engine's
  ``skip_to``); the twin was not listening meanwhile, so the interval of the sensors not
  yet heard counts from there (:meth:`SensorHealth.clock_skipped`), not from the start:
  else a cold start of a district whose devices report every few seconds would call
  every one of them offline on its first tick.
- *suspect*: its readings have stayed within a tenth of its noise (``Sensor.noise``, a
  standard deviation) for its ``stuck_after`` window. A working transducer's noise never
  holds that still; a frozen one repeats its last value. A sensor without declared noise
  (a valve's position, a pump's state) is never judged, nor one with ``stuck_after`` 0.

A row of a domain is stale when some field of it that sensors measure has no online
sensor: what it shows is the last known (or modelled) value, not a measurement.

Alarms are raised per asset, not per sensor (the sensors of one device fail together),
on :data:`~twin.tick.alarms.SYSTEM_DOMAIN` so that they never colour the asset as a hazard
would, and with the asset's id, so that the viewer flies to it. At most
:data:`MAX_ASSET_ALARMS` per rule are open one by one; assets past that are counted in
one summary alarm per rule: a district that loses a gateway gets a handful of alarms
and one that says how many more, never ten thousand rows nobody can read.

Per tick: one compiled pass over every sensor; Python touches only the sensors whose
state changed, and the stale mask is recomputed (compiled, per column) only when some
sensor came online or went silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from twin.tick.alarms import SYSTEM_DOMAIN, AlarmBook
from twin.plugins.contributions import FieldSpec
from twin.tick.ingest import Ingest
from twin.tick.metrics import Metrics
from twin.types import LEVEL_BLUE, STALE_ROWS_FIELD, Sensor
from twin.tick.world import World

RULE_OFFLINE = "system.sensor_offline"
RULE_SUSPECT = "system.sensor_suspect"
#: alarms one rule keeps open asset by asset; the assets beyond share one summary alarm
MAX_ASSET_ALARMS = 50
#: "flat" is within this fraction of the sensor's noise (standard deviation) of one value
FLAT_BAND = 0.1
#: who is told of a summary alarm (no single asset's owner unit)
PLATFORM = "platform operations"


@numba.njit(cache=True, nogil=True)
def _assess(now, start, since, last_time, last_value, interval, stuck_after, band, seen_time, flat_value, flat_since,
            fresh, offline, suspect, sensor_asset, sensor_domain, asset_counts, domain_counts, totals,
            changed):  # pragma: no cover - compiled
    """One pass over every sensor, in place: take each new good reading into its flat
    run (a reading further than ``band`` from the run's value starts a new run), then
    judge it fresh (a good reading within its interval), offline (silent past its
    interval since its last reading, or since ``since`` for one not heard since
    ``start``) and suspect (a flat run as long as
    ``stuck_after`` > 0, while not offline). Keeps the counts per asset
    (``asset_counts[0|1]``: offline|suspect sensors), per domain (``domain_counts[0|1|2]``:
    fresh|offline|suspect) and ``totals[0|1]`` (assets with an offline|suspect sensor).
    Returns (k, flips): the sensors whose offline or suspect state changed are
    ``changed[:k]``; ``flips`` sensors changed freshness."""
    k = 0
    flips = 0
    for s in range(last_time.shape[0]):
        t = last_time[s]
        if t != seen_time[s]:
            seen_time[s] = t
            v = last_value[s]
            if not abs(v - flat_value[s]) <= band[s]:  # NaN (no run yet) starts one too
                flat_value[s] = v
                flat_since[s] = t
        d = sensor_domain[s]
        is_fresh = now - t <= interval[s]
        if is_fresh != fresh[s]:
            fresh[s] = is_fresh
            domain_counts[0, d] += 1 if is_fresh else -1
            flips += 1
        off = now - (t if t >= start else since) > interval[s]
        sus = not off and stuck_after[s] > 0 and t - flat_since[s] >= stuck_after[s]
        if off == offline[s] and sus == suspect[s]:
            continue
        a = sensor_asset[s]
        if off != offline[s]:
            offline[s] = off
            step = 1 if off else -1
            domain_counts[1, d] += step
            asset_counts[0, a] += step
            if asset_counts[0, a] == (1 if off else 0):
                totals[0] += step
        if sus != suspect[s]:
            suspect[s] = sus
            step = 1 if sus else -1
            domain_counts[2, d] += step
            asset_counts[1, a] += step
            if asset_counts[1, a] == (1 if sus else 0):
                totals[1] += step
        changed[k] = s
        k += 1
    return k, flips


@numba.njit(cache=True, nogil=True)
def _mark_stale_rows(rows, idx, fresh, heard, stale_rows):  # pragma: no cover - compiled
    """For one column's sensors (``idx``, feeding ``rows``): stale_rows[r] = True where
    no sensor of row r is fresh. ``heard`` is per-row scratch, left dirty."""
    for j in range(rows.shape[0]):
        heard[rows[j]] = False
    for j in range(rows.shape[0]):
        if fresh[idx[j]]:
            heard[rows[j]] = True
    for j in range(rows.shape[0]):
        if not heard[rows[j]]:
            stale_rows[rows[j]] = True


@dataclass
class _Rule:
    """The alarms of one rule: which assets have one open, and the summary's state."""

    name: str
    which: int  # 0 offline, 1 suspect: the row of asset_counts and the index of totals
    alarmed: set[int] = field(default_factory=set)
    summary: bool = False
    #: assets whose alarm was open before a restart, judged again (with the summary) at
    #: ``recheck_at``; ``restored`` while that is still to come
    recheck: set[int] = field(default_factory=set)
    recheck_at: float = 0.0
    restored: bool = False

    @property
    def summary_asset(self) -> str:
        return f"sensors:{('offline', 'suspect')[self.which]}"


class SensorHealth:
    """The health of a scene's sensors in one engine; :meth:`update` once per tick,
    after ingest has taken the tick's readings."""

    def __init__(self, sensors: list[Sensor], world: World, ingest: Ingest, alarms: AlarmBook, metrics: Metrics,
                 owners: dict[str, str], start: float) -> None:
        self.sensors = sensors
        self.world = world
        self.ingest = ingest
        self.alarms = alarms
        self.metrics = metrics
        self.owners = owners
        #: the twin's start; ``since``: from when a sensor not heard from since the start
        #: counts its interval (the start, or where a slow start-up skipped the clock)
        self.start = float(start)
        self.since = float(start)
        n = len(sensors)
        self.interval = ingest.stale_after  # one number: stale and offline agree by construction
        self.stuck_after = np.array([s.stuck_after if s.noise > 0 else 0.0 for s in sensors], dtype=np.float64)
        self.band = np.array([s.noise * FLAT_BAND for s in sensors], dtype=np.float64)
        self.asset_ids: list[str] = list(dict.fromkeys(s.asset for s in sensors))
        code = {a: i for i, a in enumerate(self.asset_ids)}
        self.sensor_asset = np.array([code[s.asset] for s in sensors], dtype=np.int64)
        self.sensors_of: list[list[int]] = [[] for _ in self.asset_ids]
        for i, s in enumerate(sensors):
            self.sensors_of[code[s.asset]].append(i)
        domain_of = [world.locations[s.asset][0] for s in sensors]
        #: the domains that have sensors, in the world's order
        self.domains = [d for d in world.tables if d in set(domain_of)]
        dcode = {d: i for i, d in enumerate(self.domains)}
        self.sensor_domain = np.array([dcode[d] for d in domain_of], dtype=np.int64)
        self.domain_sensors = np.bincount(self.sensor_domain, minlength=len(self.domains)).astype(np.int64)
        # np.full, not np.zeros: written pages (see twin.tick.simulator)
        self.seen_time = np.full(n, -np.inf)
        self.flat_value = np.full(n, np.nan)
        self.flat_since = np.full(n, np.inf)
        self.fresh = np.full(n, False)
        self.offline = np.full(n, False)
        self.suspect = np.full(n, False)
        self.asset_counts = np.full((2, len(self.asset_ids)), 0, dtype=np.int64)
        self.domain_counts = np.full((3, len(self.domains)), 0, dtype=np.int64)
        self.totals = np.full(2, 0, dtype=np.int64)
        self._changed = np.full(n, 0, dtype=np.int64)
        #: False until the first update (a replay's engine never ticks: no figures then)
        self.assessed = False

        # The stale mask: a core column of each domain with sensors, so that snapshots,
        # deltas, merging for slow clients, resumes and recordings carry it as any field.
        self.stale_rows: dict[str, np.ndarray] = {}
        self._heard: dict[str, np.ndarray] = {}
        for d in self.domains:
            table = world.tables[d]
            if STALE_ROWS_FIELD in table.specs:
                raise ValueError(f"domain {d!r} declares a field {STALE_ROWS_FIELD!r}, a name the core reserves for the rows "
                                 "whose measured fields have no online sensor; rename the plugin's field")
            table.specs[STALE_ROWS_FIELD] = FieldSpec(
                STALE_ROWS_FIELD, "bool", "", (0.0, 1.0), "some measured field of the asset has no online sensor", default=0.0)
            table.columns[STALE_ROWS_FIELD] = self.stale_rows[d] = np.full(len(table), False)
            self._heard[d] = np.full(len(table), False)
        self._groups = ingest.groups
        self._rows_dirty = True

        self.rules = (_Rule(RULE_OFFLINE, 0), _Rule(RULE_SUSPECT, 1))
        # Alarms open before a restart stay open until their asset is judged again, once
        # its sensors had the time to speak (and to show a flat run) after the start.
        self._recheck_after = (float(self.interval.max()) if n else 0.0,
                               float(self.interval.max() + self.stuck_after.max()) if n else 0.0)
        for rule in self.rules:
            rule.recheck_at = self.since + self._recheck_after[rule.which]
        for alarm in alarms.active():
            for rule in self.rules:
                if alarm.rule != rule.name:
                    continue
                if alarm.asset == rule.summary_asset:
                    rule.summary = rule.restored = True
                elif alarm.asset in code:
                    rule.alarmed.add(code[alarm.asset])
                    rule.recheck.add(code[alarm.asset])
                    rule.restored = True

    def clock_skipped(self, to: float) -> None:
        """The twin's clock jumped ahead to ``to`` without ticking (Engine.skip_to: a
        live twin behind the wall after a slow start-up or a stall). It was not
        listening meanwhile: a sensor not heard from since the start gets its interval
        from ``to``, and the alarms restored from before a restart wait as long again.
        A sensor heard in this run still counts from its last reading."""
        if to <= self.since:
            return
        self.since = float(to)
        for rule in self.rules:
            rule.recheck_at = max(rule.recheck_at, self.since + self._recheck_after[rule.which])

    # -- each tick ---------------------------------------------------------------------
    def update(self, now: float) -> None:
        """Judge every sensor at ``now``; raise and clear alarms, refresh the stale mask
        and the metrics where something changed."""
        ingest = self.ingest
        k, flips = _assess(now, self.start, self.since, ingest.last_time, ingest.last_value, self.interval, self.stuck_after, self.band,
                           self.seen_time, self.flat_value, self.flat_since, self.fresh, self.offline, self.suspect,
                           self.sensor_asset, self.sensor_domain, self.asset_counts, self.domain_counts, self.totals,
                           self._changed)
        first = not self.assessed
        self.assessed = True
        if flips or self._rows_dirty:
            self._mark_rows()
        touched = set(np.unique(self.sensor_asset[self._changed[:k]]).tolist()) if k else set()
        for rule in self.rules:
            if rule.restored and now > rule.recheck_at:
                rule.restored = False
                self._update_rule(rule, touched | rule.recheck, now)
                rule.recheck = set()
            elif touched:
                self._update_rule(rule, touched, now)
        if k or flips or first:
            self._observe()

    def _mark_rows(self) -> None:
        for mask in self.stale_rows.values():
            mask.fill(False)
        for domain, _, idx, rows in self._groups:
            _mark_stale_rows(rows, idx, self.fresh, self._heard[domain], self.stale_rows[domain])
        self._rows_dirty = False

    def _update_rule(self, rule: _Rule, touched: set[int], now: float) -> None:
        counts = self.asset_counts[rule.which]
        for a in sorted(touched):
            bad = counts[a] > 0
            if bad and a not in rule.alarmed and len(rule.alarmed) < MAX_ASSET_ALARMS:
                self._set(rule, a, LEVEL_BLUE, now)
            elif not bad and a in rule.alarmed:
                self._set(rule, a, 0, now)
        bad_alarmed = sum(1 for a in rule.alarmed if counts[a] > 0)
        overflow = int(self.totals[rule.which]) - bad_alarmed
        if overflow > 0 and len(rule.alarmed) < MAX_ASSET_ALARMS:
            # room again during a wide outage: the first waiting assets get their own alarm
            for a in np.flatnonzero(counts > 0).tolist():
                if len(rule.alarmed) >= MAX_ASSET_ALARMS:
                    break
                if a not in rule.alarmed:
                    self._set(rule, a, LEVEL_BLUE, now)
                    overflow -= 1
        if (overflow > 0) != rule.summary:
            rule.summary = overflow > 0
            what, what_zh = (("offline sensors", "设备离线"), ("suspect (stuck) sensors", "数据异常"))[rule.which]
            self.alarms.set_level(
                rule.name, SYSTEM_DOMAIN, rule.summary_asset, PLATFORM, LEVEL_BLUE if rule.summary else 0, now,
                title=f"{overflow} more assets have {what} (past the {MAX_ASSET_ALARMS} alarmed one by one); "
                      "each domain's share of sensors online is on the wall and in /metrics",
                title_zh=f"{what_zh}：另有 {overflow} 处设施（逐一告警上限 {MAX_ASSET_ALARMS} 处）",
                rising=rule.summary,
            )

    def _set(self, rule: _Rule, a: int, level: int, now: float) -> None:
        asset = self.asset_ids[a]
        if level:
            rule.alarmed.add(a)
        else:
            rule.alarmed.discard(a)
        title = title_zh = ""
        if level:
            flags = self.offline if rule.which == 0 else self.suspect
            which = [s for s in self.sensors_of[a] if flags[s]]
            ids = [self.sensors[s].id for s in which]
            names, names_zh = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else ""), "、".join(ids[:5]) + ("等" if len(ids) > 5 else "")
            if rule.which == 0:
                seconds = max(float(self.interval[s]) for s in which)
                title = (f"Sensor {names} offline: no good reading for over {seconds:g} s" if len(ids) == 1
                         else f"{len(ids)} sensors offline ({names}): no good reading for over {seconds:g} s")
                title_zh = f"设备离线：{names_zh} 超过 {seconds:g} 秒无有效数据"
            else:
                seconds = max(float(self.stuck_after[s]) for s in which)
                title = (f"Sensor {names} suspect: readings flat within a tenth of its noise for {seconds:g} s (stuck?)"
                         if len(ids) == 1 else
                         f"{len(ids)} sensors suspect ({names}): readings flat within a tenth of their noise for {seconds:g} s")
                title_zh = f"数据异常：{names_zh} 读数 {seconds:g} 秒无变化（疑似卡死）"
        self.alarms.set_level(rule.name, SYSTEM_DOMAIN, asset, self.owners.get(asset, ""), level, now,
                              title=title, title_zh=title_zh, rising=bool(level))

    def _observe(self) -> None:
        m = self.metrics
        for d, name in enumerate(self.domains):
            total = int(self.domain_sensors[d])
            m.sensors_online_ratio.labels(name).set(int(self.domain_counts[0, d]) / total)
            m.sensors_offline.labels(name).set(int(self.domain_counts[1, d]))
            m.sensors_suspect.labels(name).set(int(self.domain_counts[2, d]))

    # -- figures -----------------------------------------------------------------------
    def by_domain(self) -> dict[str, dict[str, Any]]:
        """Per domain with sensors: how many it has, how many are online, offline and
        suspect, and the share online (None before the first tick judged them)."""
        out = {}
        for d, name in enumerate(self.domains):
            total = int(self.domain_sensors[d])
            online = int(self.domain_counts[0, d])
            out[name] = {"sensors": total, "online": online, "offline": int(self.domain_counts[1, d]),
                         "suspect": int(self.domain_counts[2, d]),
                         "online_share": online / total if self.assessed else None}
        return out
