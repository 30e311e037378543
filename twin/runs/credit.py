"""Which input set off an alarm: one rule for every page that says it (the report's
table of alarms and executive summary, :func:`twin.runs.report.data.credit_detection`,
and an exercise's debrief, :func:`twin.runs.debrief.debrief`), so that one report
cannot tell two stories of the same alarm.

The rule: an alarm is credited to the *nearest* plugin action at or before its raise
that acted on its own asset, on an asset linked to it whose domain is its own or coupled
to it, or on the whole district in its domain (an action declared ``district=True``, a
storm: it names one manhole and rains on all of them); on a tie in time, the one on its
own asset. The nearest, not the first: in a compound drill a pipe blocked minutes
earlier beside a gas space is not what set off the gas alarm that a leak raised seconds
later. A sensor fault is no cause (an alarm it brings up is a false one, not a hazard
detected); an alarm with none is not guessed at.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: inputs closer in time than this are at the same moment
_EPS = 1e-9


@dataclass(frozen=True)
class Cause:
    """A plugin action that may have set off alarms: when, the asset it named, and, from
    its declaration, the domain it acts in and whether it acts on the whole district."""

    time: float
    action: str
    asset: str
    domain: str = ""
    district: bool = False


class Scope:
    """What the rule needs to know of a scene and its plugins: the assets linked to each
    asset, each asset's domain, the domains coupled to each other, and each action's
    declaration. Without a scene (``Scope()``), an alarm's only possible cause is an
    action on its own asset or a district-wide one its action's name puts in its domain."""

    def __init__(self, scene: Any = None, registry: Any = None) -> None:
        self._domain: dict[str, str] = {}
        self._linked: dict[str, set[str]] = {}
        if scene is not None:
            for assets in scene.assets.values():
                for a in assets:
                    self._domain[a.id] = a.domain
                    for other in a.links:
                        self._linked.setdefault(a.id, set()).add(other)
                        self._linked.setdefault(other, set()).add(a.id)
        self._couplings = {(c.source, c.target) for _, c in registry.couplings} if registry is not None else set()
        self._actions: Mapping[str, Any] = {n: a for n, (_, a) in registry.actions.items()} if registry is not None else {}

    def coupled(self, a: str, b: str) -> bool:
        """Whether domains ``a`` and ``b`` act on each other (the same, or a coupling either way)."""
        return a == b or (a, b) in self._couplings or (b, a) in self._couplings

    def related(self, asset: str, domain: str) -> set[str]:
        """The assets an action on which can set off an alarm of ``domain`` on ``asset``:
        itself, and the assets linked to it whose domain is ``domain`` or coupled to it."""
        out = {asset}
        for other in self._linked.get(asset, ()):
            d = self._domain.get(other)
            if d is not None and self.coupled(d, domain):
                out.add(other)
        return out

    def cause(self, record: Mapping[str, Any]) -> Cause | None:
        """An input action record ({time, action, target, ...}) as a cause; None for a
        sensor fault (``sensor.*``) or an operator's step."""
        action = str(record.get("action", ""))
        if not action or action.startswith("sensor."):
            return None
        declared = self._actions.get(action)
        domain = declared.domain if declared is not None else action.split(".")[0]
        return Cause(float(record["time"]), action, str(record.get("target", "")), domain,
                     bool(getattr(declared, "district", False)))


def credit(asset: str, domain: str, raised: float, causes: Sequence[Cause | None], scope: Scope) -> int | None:
    """The index in ``causes`` of the one an alarm of ``domain`` on ``asset`` raised at
    ``raised`` is credited to (see the module's docstring); None when there is none.
    ``causes`` may hold None (inputs that are no cause), kept so that indices match."""
    related = scope.related(asset, domain)
    best: tuple[float, bool, int] | None = None
    for n, c in enumerate(causes):
        if c is None or c.time > raised + _EPS:
            continue
        if c.asset not in related and not (c.district and c.domain == domain):
            continue
        key = (c.time, c.asset == asset, n)
        if best is None or key > best:
            best = key
    return best[2] if best is not None else None


@dataclass(frozen=True)
class Detect:
    """The detect step over a run: per cause that set off alarms, seconds to its first
    (``values``, in the order of the causes), and how many causes there were (``of``)."""

    values: list[float]
    of: int

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def worst(self) -> float | None:
        return max(self.values) if self.values else None


def detect(credited: Iterable[tuple[float, int | None]], causes: Sequence[Cause | None]) -> Detect:
    """The detect step from each alarm's (raise, the index of its cause or None) over
    ``causes``: per cause, the seconds from it to the first alarm credited to it; ``of``
    counts the causes (not the None entries)."""
    first: dict[int, float] = {}
    for raised, n in credited:
        if n is not None and causes[n] is not None:
            took = raised - causes[n].time  # type: ignore[union-attr]
            first[n] = min(first.get(n, took), took)
    return Detect([first[n] for n in sorted(first)], sum(c is not None for c in causes))
