"""``write_report``: a recording in, a folder out (``report.html`` with its pictures, and
``report.pdf``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.i18n import LANGS, words
from twin.runs.report.data import AssetPlot, Run, choose_fields, credit_detection, load_twin, plot_series, rank_drivers, read_run
from twin.runs.report.district import DistrictPicture, district_picture
from twin.runs.report.groups import AlarmGroup, alarm_order, group_alarms

#: alarmed assets plotted at most: the worst alarm of each group first, then the others
MAX_PLOTS = 8


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    html: Path
    pdf: Path | None
    images: list[Path]
    picture: Path | None
    worst: float
    notes: list[str] = field(default_factory=list)
    #: the alarms as the report groups them, worst first
    groups: list[AlarmGroup] = field(default_factory=list)
    #: what the picture of the worst moment names (its labels) and leaves out
    district: DistrictPicture | None = None
    #: the sensors charted measured against true (:class:`.truthcharts.TruthChart`)
    truth_charts: list[Any] = field(default_factory=list)
    #: the alarms that fell while the truth had not (:class:`.truthcharts.FalseClear`)
    false_clears: list[Any] = field(default_factory=list)
    #: the debrief of the live exercise the recording holds (:class:`twin.runs.debrief.Debrief`), if any
    debrief: Any = None


def rescore(run: Run) -> tuple[Any, list[Any] | None, str]:
    """The drill and its expectations re-scored from the recording (None if no drill
    file): its alarm events, and what else it keeps (the ground truth, for
    ``no_false_clear``; a branch's parent before the branch point), as
    :func:`twin.runs.reruns.score_recording` scores it."""
    from twin.runs.drill import load_drill
    from twin.runs.reruns import score_recording

    path = run.metadata.get("drill_path", "")
    if not path or not Path(path).is_file():
        return None, None, path or "-"
    drill = load_drill(Path(path))
    card = score_recording(run.path, drill)
    return drill, card.scores if card is not None else None, path


def plotted_alarms(groups: list[AlarmGroup]) -> list[Any]:
    """Alarms in the order their assets are plotted: each group's worst, worst group
    first, then the rest worst first."""
    firsts = [g.worst for g in groups]
    rest = sorted((a for g in groups for a in g.alarms[1:]), key=alarm_order)
    return firsts + rest


def measured_and_true(run: Run, twin: Any, groups: list[AlarmGroup], out: Path, lang: str) -> tuple[list[Any], Any, list[Any], int]:
    """The truth beside the measurement (:mod:`.truthcharts`): the charts drawn, the
    truth the recording keeps (None: none), the all-clears it contradicts, and how many
    sensors mattered."""
    from twin.runs.recording import read_truth
    from twin.runs.report.truthcharts import false_clears, plot_truth, truth_charts

    truth = read_truth(run.path)
    if truth is None:
        return [], None, [], 0
    sensors_of: dict[str, list[str]] = {}
    if twin is not None:
        for s in twin.scene.sensors:
            sensors_of.setdefault(s.asset, []).append(s.id)
    found = false_clears(run, truth, sensors_of)
    if twin is None:
        return [], truth, found, 0
    charts, mattered = truth_charts(run, twin, truth, groups, found)
    for c in charts:
        c.path = plot_truth(c, run, twin, out, lang)
    return charts, truth, found, mattered


def write_report(recording: Path, out: Path, lang: str = "en", pdf: bool = True) -> Report:
    """Write ``out/report.html`` (and ``out/report.pdf``) about ``recording``, in ``lang``."""
    from twin.runs.report.plots import plot_asset, plot_timeline
    from twin.runs.report.render import render_html
    from twin.runs.report.view import build_view

    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; valid: {', '.join(LANGS)}")
    w = words(lang)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = read_run(Path(recording))
    twin, why = load_twin(run)
    credit_detection(run, twin)
    groups = group_alarms(run, twin)
    worst, total = run.worst_moment()
    drill, scores, drill_path = rescore(run)
    notes_picture: list[str] = []
    notes_fields: list[str] = []
    images: list[Path] = []

    charts = plot_timeline(run, groups, twin, worst, out, lang)
    images += charts

    plots: list[AssetPlot] = []
    candidates = 0
    if twin is None:
        notes_fields.append(w["noFields"].format(why=why))
    elif run.alarms:
        chosen = choose_fields(plotted_alarms(groups), twin)
        candidates = len(chosen)
        plots = chosen[:MAX_PLOTS]
        times, series, columns = plot_series(plots, twin, run.path)
        if len(times) < 2:
            notes_fields.append(w["noFields"].format(why=w["fewFrames"]))
            plots = []
        else:
            # a risk field the frames lack (a plugin's renamed field) cannot be plotted
            plots = [p for p in plots if all(np.isfinite(series[(p.domain, r)]).any() for _, r in p.risks)]
            rank_drivers(plots, twin, times, series, columns)
            for p in plots:
                p.path = plot_asset(p, run, twin, times, series, columns, worst, out, lang)
                images.append(p.path)

    truth_charts, truth, found, mattered = measured_and_true(run, twin, groups, out, lang)
    images += [c.path for c in truth_charts if c.path is not None]

    picture: DistrictPicture | None = None
    if twin is None:
        notes_picture.append(w["noPicture"].format(why=why))
    else:
        picture = district_picture(run, groups, twin, worst, total, out, lang)
        images.append(picture.path)

    from twin.runs.debrief import from_recording

    # its alarms credited to their causes as the rest of the report credits them
    exercise = from_recording(run.path, twin.scope if twin is not None else None)
    view = build_view(run, twin, drill, scores, drill_path, groups, worst, total, picture, charts, plots, candidates,
                      notes_picture, notes_fields, lang, truth_charts=truth_charts, truth=truth, false_clears=found,
                      truth_mattered=mattered, debrief=exercise)
    pdf_path = None
    if pdf:
        from twin.runs.report.pdf import write_pdf

        pdf_path = write_pdf(view, out / "report.pdf")
        view.pdf = pdf_path
    html_path = out / "report.html"
    html_path.write_text(render_html(view), encoding="utf-8")
    return Report(html_path, pdf_path, images, picture.path if picture is not None else None, worst,
                  notes_picture + notes_fields, groups, picture, truth_charts, found, exercise)
