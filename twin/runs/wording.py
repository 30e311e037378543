"""One wording per kind of drill expectation in a language other than English, shared by
the report's scorecard (:func:`twin.runs.report.text.expectation_text`) and the exercise
debrief's objectives (:func:`twin.runs.debrief.objective_zh`): the same expectation reads
the same on both pages. English is :meth:`twin.runs.drill.Expectation.describe`."""

from __future__ import annotations

from twin.i18n import words
from twin.runs.drill import clock
from twin.types import LEVEL_NAMES


def expectation_words(kind: str, level: int, seconds: float, lang: str, *, asset: str = "", domain: str = "", owner: str = "",
                      rule: str = "", incident: bool = False, most: int = 0) -> str | None:
    """The expectation of ``kind`` in ``lang``, from its terms: the template
    ``expect_<kind>`` of the table of words, the level by its full name (黄色预警), the
    keys that narrow it (asset, domain as the reader names it, owner unit, rule) after it
    in brackets. None for a kind the table has no wording for (tests/test_report_wording.py
    fails for it)."""
    w = words(lang)
    template = w.get(f"expect_{kind}")
    if template is None:
        return None
    about = [w[key].format(v=value) for key, value in (("aboutAsset", asset), ("aboutDomain", domain), ("aboutOwner", owner),
                                                        ("aboutRule", rule)) if value]
    return template.format(time=clock(seconds), level=LEVEL_NAMES[lang][max(0, min(4, level))],
                           what=w["expectIncident" if incident else "expectAlarm"], seconds=f"{seconds:g}",
                           done=w["expectClosed" if incident else "expectResolved"], most=most,
                           about=f"（{'，'.join(about)}）" if about else "")
