"""Alarms grouped the way people read a run: by incident where the recording carries
incidents (the twin's own grouping, :mod:`twin.loop.incidents`), else by domain and
place; the worst group first.

*Worst* is the highest level reached, then the earliest raised, then the most alarms;
within a group its alarms are ordered the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.runs.report.data import AlarmLife, Run, Twin

#: alarms of one domain nearer than this (m) share a place when the scene names none:
#: the core's default incident grouping distance (twin.loop.grouping)
NEAR = 200.0


def alarm_order(a: AlarmLife) -> tuple[int, float, int]:
    """Worst first: highest level reached, then the earliest raised."""
    return (-a.peak_level, a.raised, a.id)


@dataclass
class AlarmGroup:
    """Alarms that belong together, their worst first."""

    #: "incident" (the recorded incident ``incident``) or "place" (domain and place)
    kind: str
    alarms: list[AlarmLife]
    #: the recorded incident's id (kind "incident")
    incident: int | None = None
    #: the incident's title in each language (kind "incident")
    title: str = ""
    title_zh: str = ""
    #: the group's domains, its worst alarm's first
    domains: list[str] = field(default_factory=list)
    #: where it is: the scene's name for the place (``place`` / ``place_zh``) or, without
    #: one, the worst alarm's asset id
    place: str = ""
    place_zh: str = ""

    @property
    def worst(self) -> AlarmLife:
        return self.alarms[0]

    @property
    def peak_level(self) -> int:
        return self.worst.peak_level

    @property
    def first_raised(self) -> float:
        return min(a.raised for a in self.alarms)

    @property
    def last_change(self) -> float:
        return max(max((t for t, _ in a.levels), default=a.raised) for a in self.alarms)

    @property
    def assets(self) -> list[str]:
        return list(dict.fromkeys(a.asset for a in self.alarms))

    def level_at(self, t: float) -> int:
        return max((a.level_at(t) for a in self.alarms), default=0)

    def open_at(self, t: float) -> list[AlarmLife]:
        """Its alarms open at ``t``, worst first."""
        return sorted((a for a in self.alarms if a.level_at(t)), key=lambda a: (-a.level_at(t), a.raised, a.id))

    def sort_key(self) -> tuple[int, float, int, int]:
        return (-self.peak_level, self.first_raised, -len(self.alarms), self.worst.id)


def group_alarms(run: Run, twin: Twin | None) -> list[AlarmGroup]:
    """Every alarm of the run in exactly one group, the worst group first: by recorded
    incident when the recording carries incidents (an alarm none of them holds goes by
    domain and place), else by domain and place."""
    groups: list[AlarmGroup] = []
    placed: set[int] = set()
    for incident in run.incidents.values():
        members = sorted((run.alarms[i] for i in incident.get("alarms", []) if i in run.alarms and i not in placed), key=alarm_order)
        if not members:
            continue
        placed |= {a.id for a in members}
        domains = list(dict.fromkeys([members[0].domain, *incident.get("domains", []), *(a.domain for a in members)]))
        groups.append(AlarmGroup("incident", members, int(incident["id"]), str(incident.get("title", "")),
                                 str(incident.get("title_zh", "")), domains, str(incident.get("place", "")),
                                 str(incident.get("place_zh", ""))))
    rest = [a for a in run.alarms.values() if a.id not in placed]
    groups += _by_place(rest, twin)
    return sorted(groups, key=AlarmGroup.sort_key)


def _by_place(alarms: list[AlarmLife], twin: Twin | None) -> list[AlarmGroup]:
    """Alarms grouped by domain, then by the place the scene names for their assets or,
    where it names none, by nearness (:data:`NEAR`, one link of a chain enough)."""
    out: list[AlarmGroup] = []
    by_domain: dict[str, list[AlarmLife]] = {}
    for a in sorted(alarms, key=alarm_order):
        by_domain.setdefault(a.domain, []).append(a)
    for domain, members in by_domain.items():
        named: dict[str, list[AlarmLife]] = {}
        unnamed: list[AlarmLife] = []
        for a in members:
            place = twin.place(a.asset, "en") if twin is not None else ""
            (named.setdefault(place, []) if place else unnamed).append(a)
        for place, group in named.items():
            zh = twin.place(group[0].asset, "zh-CN") if twin is not None else ""
            out.append(AlarmGroup("place", group, domains=[domain], place=place, place_zh=zh or place))
        for cluster in _clusters(unnamed, twin):
            out.append(AlarmGroup("place", cluster, domains=[domain], place=cluster[0].asset, place_zh=cluster[0].asset))
    return out


def _clusters(alarms: list[AlarmLife], twin: Twin | None) -> list[list[AlarmLife]]:
    """Single-linkage clusters of ``alarms`` by their assets' distance (one per asset
    without a position or without a scene), each worst first."""
    from twin.loop.places import distance

    if twin is None:
        by_asset: dict[str, list[AlarmLife]] = {}
        for a in alarms:
            by_asset.setdefault(a.asset, []).append(a)
        return [sorted(g, key=alarm_order) for g in by_asset.values()]
    where: dict[str, Any] = {a.asset: twin.position(a.asset) for a in alarms}
    parent = {asset: asset for asset in where}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    assets = list(where)
    for i, x in enumerate(assets):
        for y in assets[i + 1 :]:
            if root(x) != root(y) and distance(where[x], where[y]) <= NEAR:
                parent[root(y)] = root(x)
    clusters: dict[str, list[AlarmLife]] = {}
    for a in alarms:
        clusters.setdefault(root(a.asset), []).append(a)
    return [sorted(c, key=alarm_order) for c in clusters.values()]
