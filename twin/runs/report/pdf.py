"""The report for printing: an A4 PDF (reportlab) with the same rows as the page.

The run and the scorecard stand on a portrait page; the picture, the table of alarms,
the timeline and the plots on landscape pages, where the tables' eleven and five columns
fit. Tables run over as many pages as their rows need, their header repeated on each;
a cell's text wraps inside its column; a picture is scaled to fit its page. Text is set
in a font with Chinese glyphs when the system has one (embedded, so the file reads the
same everywhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from twin.i18n import LEVEL_COLOURS, LEVEL_INK
from twin.errors import TwinError
from twin.runs.report.plots import CJK_FONT_FILES
from twin.runs.report.text import level_name
from twin.runs.report.view import Timed, View

#: the registered name of the embedded font, when one with Chinese glyphs is installed
FONT = "ReportSans"
MARGIN = 36.0  # pt, half an inch


def pdf_font(lang: str) -> str:
    """The font the PDF is set in: the system's font with Chinese glyphs, embedded;
    Helvetica for English without one. TwinError (one line, what to install) for zh-CN
    without one. The case file (twin.loop.casepdf) is set in it too."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return FONT
    for path in CJK_FONT_FILES:
        if Path(path).exists() and path.endswith((".ttc", ".ttf")):
            try:
                pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
                return FONT
            except Exception:  # a font reportlab cannot read (CFF outlines): try the next
                continue
    if lang == "zh-CN":
        raise TwinError("a zh-CN PDF needs a TrueType font with Chinese glyphs "
                        "(Debian: apt install fonts-wqy-microhei); --lang en needs none")
    return "Helvetica"


def write_pdf(view: View, path: Path) -> Path:
    """Write the report in ``view`` to ``path`` (A4), pictures included."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import (BaseDocTemplate, Frame, Image, LongTable, NextPageTemplate, PageBreak, PageTemplate,
                                    Paragraph, Spacer, TableStyle)

    w = view.w
    font = pdf_font(view.lang)
    # Chinese wraps between any two characters; English between words, a word longer than
    # its column (a path, an id) split: no text runs past its column either way
    wrap = "CJK" if view.lang == "zh-CN" else None
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=11.5, wordWrap=wrap, splitLongWords=True)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.2, spaceAfter=3, textColor=colors.HexColor("#3d4550"))
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9)
    head = ParagraphStyle("head", parent=cell, fontSize=7, leading=8.5)
    verdict = {True: ParagraphStyle("pass", parent=cell, textColor=colors.HexColor("#0a7a2f")),
               False: ParagraphStyle("fail", parent=cell, textColor=colors.HexColor("#c4161c"))}
    h1 = ParagraphStyle("h1", parent=body, fontSize=18, leading=22, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=body, fontSize=13, leading=16, spaceBefore=10, spaceAfter=5)
    level_styles = [ParagraphStyle(f"lvl{n}", parent=cell, textColor=colors.HexColor(LEVEL_INK[n])) for n in range(5)]

    def p(text: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)

    def two(main: str, sub: str) -> Paragraph:
        return Paragraph(f"<b>{escape(main)}</b><br/><font size=6.5 color='#5b636d'>{escape(sub)}</font>", cell)

    def timed(x: Timed) -> Paragraph:
        return two(x.span, x.at) if x.span else p("—", cell)

    def level_cell(level: int) -> Paragraph:
        return p(level_name(level, view.lang), level_styles[max(0, min(4, level))])

    grid = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c3c9d1")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")), ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3), ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]

    portrait, wide = A4, landscape(A4)

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.setFillColor(colors.HexColor("#5b636d"))
        width, _ = canvas._pagesize
        canvas.drawString(MARGIN, MARGIN / 2, f"{w['title']} — {view.drill}"[:150])
        canvas.drawRightString(width - MARGIN, MARGIN / 2, w["page"].format(n=doc.page))
        canvas.restoreState()

    doc = BaseDocTemplate(str(path), pagesize=portrait, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                          bottomMargin=MARGIN, title=f"{w['title']}: {view.drill}", author="Lifeline Twin")
    doc.addPageTemplates([
        PageTemplate("portrait", [Frame(MARGIN, MARGIN, portrait[0] - 2 * MARGIN, portrait[1] - 2 * MARGIN, id="p")],
                     onPage=footer, pagesize=portrait),
        PageTemplate("landscape", [Frame(MARGIN, MARGIN, wide[0] - 2 * MARGIN, wide[1] - 2 * MARGIN, id="l")],
                     onPage=footer, pagesize=wide),
    ])
    narrow_width, wide_width = portrait[0] - 2 * MARGIN - 12, wide[0] - 2 * MARGIN - 12
    wide_height = wide[1] - 2 * MARGIN - 12

    def picture(image: Path, caption: str = "") -> list[Any]:
        from PIL import Image as PILImage

        with PILImage.open(image) as im:
            px_w, px_h = im.size
        room = wide_height - (40 if caption else 0)
        scale = min(wide_width / px_w, room / px_h)
        out: list[Any] = [Image(str(image), width=px_w * scale, height=px_h * scale)]
        if caption:
            out.append(p(caption, small))
        return out

    story: list[Any] = [first_page(view, p, body, small, cell, head, grid, h1, h2, narrow_width, portrait[1] - 2 * MARGIN - 14),
                        PageBreak(), p(w["run"], h2)]
    meta = LongTable([[p(k, cell), p(v, cell)] for k, v in view.meta], colWidths=[100, narrow_width - 100])
    meta.setStyle(TableStyle(grid[:2] + grid[3:] + [("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef1f5"))]))
    story.append(meta)
    if view.incomplete:
        story.append(p(view.incomplete, small))
    if view.summary:
        s = view.summary
        story.append(Spacer(1, 6))
        story.append(p(w["summary"].format(n=s["n"], assets=s["assets"], groups=s["groups"], peak=level_name(s["peak"], view.lang),
                                           worst=s["worst"], total=s["total"])))
    else:
        story.append(p(w["summaryNone"]))
    if view.debrief is None:
        story += [p(w["scorecard"], h2), p(view.score_note, small)]
    if view.scores is not None and view.debrief is None:
        rows = [[p(w["result"], head), p(w["expectation"], head), p(w["detail"], head)]]
        for s in view.scores:
            mark = w["na"] if not s.judged else w["pass"] if s.passed else w["fail"]
            rows.append([p(mark, verdict[s.passed] if s.judged else cell), p(s.expectation, cell), p(s.detail, cell)])
        table = LongTable(rows, colWidths=[52, (narrow_width - 52) * 0.6, (narrow_width - 52) * 0.4], repeatRows=1)
        table.setStyle(TableStyle(grid))
        story.append(table)

    if view.debrief is not None:
        story += debrief_story(view.debrief, view.lang, p, cell, head, grid, narrow_width, h2)

    story += [NextPageTemplate("landscape"), PageBreak(), p(w["worst"], h2)]
    if view.picture is not None:
        labelled = "  ".join(f"#{i} {asset} {level_name(level, view.lang)}" for i, asset, level in view.picture.alarms)
        story += picture(view.picture.path, f"{view.picture_caption} {labelled}")
    story += [p(n, small) for n in view.notes_picture]

    story += [PageBreak(), p(w["alarms"], h2)]
    if view.groups:
        story.append(p(view.grouping_note, small))
        headers = [w["alarm"], w["asset"], w["rule"], w["owner"], w["peak"], w["raised"], w["detect"], w["ack"], w["dispatchTime"],
                   w["resolveTime"], w["cleared"]]
        rows = [[p(h, head) for h in headers]]
        style = list(grid)
        for g in view.groups:
            n = len(rows)
            rows.append([Paragraph(f"{escape(level_name(g.level, view.lang))} — <b>{escape(g.title)}</b> · {escape(g.size)} · "
                                   f"{escape(g.span)}", cell)] + [""] * 10)
            style += [("SPAN", (0, n), (-1, n)), ("BACKGROUND", (0, n), (-1, n), colors.HexColor("#e2e7ee")),
                      ("LINEABOVE", (0, n), (-1, n), 1.2, colors.HexColor(LEVEL_COLOURS[g.level]))]
            for a in g.alarms:
                n = len(rows)
                rows.append([p(f"#{a.id}", cell), two(a.asset, a.domain), two(a.title, a.rule), p(a.owner, cell), level_cell(a.peak),
                             p(a.raised, cell), two(a.detect, a.detect_from), timed(a.ack), timed(a.dispatch), timed(a.resolve),
                             timed(a.cleared)])
                style.append(("BACKGROUND", (4, n), (4, n), colors.HexColor(LEVEL_COLOURS[a.peak])))
        widths = [34, 72, 118, 82, 58, 46, 104, 62, 62, 62, 62]
        widths[2] += wide_width - sum(widths)
        table = LongTable(rows, colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle(style))
        story += [table, Spacer(1, 4), Paragraph(w["measures"], small)]
    else:
        story.append(p(w["summaryNone"]))

    story += [PageBreak(), p(w["timeline"], h2)]
    for n, chart in enumerate(view.timeline_charts):
        story += picture(chart, w["timelineChart"] if n == 0 else "")
    rows = [[p(h, head) for h in (w["time"], w["event"], w["what"], w["level"], w["who"])]]
    style = list(grid)
    for r in view.timeline:
        n = len(rows)
        what = f"{r.what} ({r.params})" if r.params else r.what
        rows.append([p(r.time, cell), p(r.event, cell), p(what, cell), level_cell(r.level) if r.level is not None else "",
                     p(r.who, cell)])
        if r.level is not None:
            style.append(("BACKGROUND", (3, n), (3, n), colors.HexColor(LEVEL_COLOURS[r.level])))
        elif r.cls == "input":
            style.append(("BACKGROUND", (0, n), (-1, n), colors.HexColor("#f7f7f2")))
    widths = [50, 84, 330, 70, 0]
    widths[-1] = wide_width - sum(widths)
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(style))
    story.append(table)

    if view.plots:
        story += [PageBreak(), p(w["fields"], h2), p(w["fieldsNote"], small)]
        if view.plots_note:
            story.append(p(view.plots_note, small))
        for plot in view.plots:
            if plot.path is not None:
                story += [PageBreak()] + picture(plot.path)
    story += [p(n, small) for n in view.notes_fields]

    story += [PageBreak(), p(w["truth"], h2)]
    if view.truth_kept:
        alert = ParagraphStyle("alert", parent=body, textColor=colors.HexColor("#8c0f13"), backColor=colors.HexColor("#fdecec"),
                               borderColor=colors.HexColor("#c4161c"), borderWidth=1.2, borderPadding=4, spaceBefore=4, spaceAfter=8)
        story.append(p(w["falseClears"], body))
        story += [p(f, alert) for f in view.false_clears] or [p(w["falseNone"], small)]
        story.append(p(w["truthNote"], small))
        if view.truth_note:
            story.append(p(view.truth_note, small))
        for chart in view.truth_charts:
            if chart.path is not None:
                story += picture(chart.path)
    else:
        story.append(p(w["truthNone"], small))
    doc.build(story)
    return path


def first_page(view: View, p: Any, body: Any, small: Any, cell: Any, head: Any, grid: list[Any], h1: Any, h2: Any,
               width: float, height: float) -> Any:
    """The report's first page: its title and the executive summary
    (:mod:`.summary`), shrunk if need be so that it always fits this one page."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import KeepInFrame, LongTable, Spacer, TableStyle

    w, x = view.w, view.executive
    h3 = ParagraphStyle("h3", parent=body, fontSize=10.5, leading=13, spaceBefore=8, spaceAfter=3)
    item = ParagraphStyle("item", parent=body, fontSize=9.5, leading=12.5, leftIndent=12, bulletIndent=0, spaceAfter=3)
    parts: list[Any] = [p(w["title"], h1), p(view.drill), Spacer(1, 4), p(w["exec"], h2), p(f"{view.drill} · {x.span}", small),
                        p(w["execHappened"], h3)]
    parts += [p(line, item) for line in x.happened]
    parts.append(p(w["execResponse"], h3))
    rows = [[p(h, head) for h in (w["execStep"], w["execMeasured"], w["execMedian"], w["execWorst"], w["execDeadline"],
                                  w["execWithinHead"])]]
    style = list(grid)
    for n, r in enumerate(x.phases, start=1):
        rows.append([p(r.name, cell), p(r.measured, cell), p(r.median, cell), p(r.worst, cell), p(r.deadline, cell),
                     p(r.within, cell)])
        if r.late:
            style.append(("TEXTCOLOR", (5, n), (5, n), colors.HexColor("#c4161c")))
    widths = [width * 0.22, width * 0.13, width * 0.12, width * 0.12, width * 0.29, width * 0.12]
    table = LongTable(rows, colWidths=widths)
    table.setStyle(TableStyle(style))
    parts += [table, p(w["execObjectives"], h3)]
    if x.judged:
        said = w["execMet"].format(met=x.met, judged=x.judged)
        parts.append(p(said + (" · " + w["execUnmet"].format(list="; ".join(x.unmet)) if x.unmet else ""), item))
    else:
        parts.append(p(w["execNoObjectives"], item))
    parts.append(p(w["execFindings"], h3))
    parts += [numbered(n, f, item) for n, f in enumerate(x.findings, start=1)]
    parts += [Spacer(1, 6), p(w["execAfter"], small)]
    return KeepInFrame(width, height, parts, mode="shrink")


def numbered(n: int, text: str, style: Any) -> Any:
    """A numbered item (a finding) as one paragraph."""
    from reportlab.platypus import Paragraph

    return Paragraph(f"{n}. {escape(text)}", style)


def debrief_story(d: Any, lang: str, p: Any, cell: Any, head: Any, grid: list[Any], width: float, h2: Any) -> list[Any]:
    """The debrief of a live exercise (:class:`twin.runs.debrief.Debrief`) for the PDF: the
    objectives met or not, the times per phase, and the timeline of injects, alarms,
    players' actions and observers' notes; the same rows as the page's section."""
    from reportlab.lib import colors
    from reportlab.platypus import LongTable, TableStyle

    from twin.runs.debrief import WORDS, _clock, detail_zh, objective_zh, who_zh

    w = WORDS[lang]
    zh = lang == "zh-CN"
    secs = lambda v: "—" if v is None else f"{v:.0f}"  # noqa: E731
    out: list[Any] = [p(f"{w['title']}: {d.drill_zh if zh and d.drill_zh else d.drill}", h2),
                      p(f"{w['objectives']} {d.met} / {d.judged} {w['met']}", cell)]
    rows = [[p(w["objective"], head), p(w["status"], head), p(w["detail"], head)]]
    for o in d.objectives:
        rows.append([p(objective_zh(o) if zh else o.text, cell), p(w[o.status], cell), p(detail_zh(o.detail) if zh else o.detail, cell)])
    table = LongTable(rows, colWidths=[width * 0.5, 60, width * 0.5 - 60], repeatRows=1)
    table.setStyle(TableStyle(grid))
    out.append(table)
    rows = [[p(h, head) for h in (w["phase"], w["measured"], f"{w['median']} ({w['s']})", f"{w['worst']} ({w['s']})")]]
    rows += [[p(w[ph.phase], cell), p(f"{ph.count} {w['of']} {ph.of}", cell), p(secs(ph.median), cell), p(secs(ph.worst), cell)]
             for ph in d.phases]
    table = LongTable(rows, colWidths=[width * 0.46, width * 0.18, width * 0.18, width * 0.18], repeatRows=1)
    table.setStyle(TableStyle(grid))
    out += [p(w["phases"], cell), table, p(w["timeline"], cell)]
    rows = [[p(h, head) for h in (w["moment"], w["kind"], w["what"], w["who"])]]
    style = list(grid)
    tint = {"note": "#fbf7e8", "message": "#eef4ff", "player": "#eefaf1"}
    for e in d.timeline:
        n = len(rows)
        rows.append([p(_clock(e.at), cell), p(w["kind_" + e.what], cell), p(e.text_zh if zh else e.text, cell),
                     p(who_zh(e.who) if zh else e.who, cell)])
        if e.what in tint:
            style.append(("BACKGROUND", (0, n), (-1, n), colors.HexColor(tint[e.what])))
    table = LongTable(rows, colWidths=[50, 60, width - 50 - 60 - 90, 90], repeatRows=1)
    table.setStyle(TableStyle(style))
    out.append(table)
    return out
