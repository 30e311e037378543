"""The case file for printing: an A4 PDF (reportlab) with the rows of the HTML page
(twin.loop.archive): the incident, its response times, alarms, timeline, escalations,
the crew's reports, photos and the notifications sent. Tables run over as many pages as
their rows need, their header repeated; text is set in a font with Chinese glyphs when
the system has one (embedded), and a zh-CN file without one is refused with a line
saying what to install.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.loop.archive import LANGUAGES, render_values
from twin.runs.report.pdf import pdf_font

MARGIN = 36.0  # pt


def write_pdf(case: dict[str, Any], lang: str, path: Path, timezone: str = "UTC") -> Path:
    """Write ``case`` (archive.load_case) as an A4 PDF at ``path``."""
    if lang not in LANGUAGES:
        raise TwinError(f"language {lang!r}; valid: {', '.join(LANGUAGES)}")
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Image, LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle
    from xml.sax.saxutils import escape

    v = render_values(case, lang, timezone)
    w = v["w"]
    font = pdf_font(lang)  # the report's: a font with Chinese glyphs, embedded
    wrap = "CJK" if lang == "zh-CN" else None
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=11, wordWrap=wrap, splitLongWords=True)
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=20, spaceAfter=6)
    heading = ParagraphStyle("heading", parent=body, fontSize=11.5, leading=15, spaceBefore=10, spaceAfter=4)
    width = A4[0] - 2 * MARGIN

    def p(text: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    def table(header: list[str], rows: list[list[Any]], widths: list[float]) -> LongTable:
        t = LongTable([[p(h) for h in header], *[[p(c) for c in r] for r in rows]], colWidths=[width * f for f in widths],
                      repeatRows=1)
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f4f4f2")),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    i, when = v["i"], v["when"]
    story: list[Any] = [p(f"{w['case']} · #{i.id}"), p(v["title"], title)]
    story.append(table(["", ""], [list(f) for f in v["facts"]], [0.25, 0.75]))
    story += [p(w["times"], heading), table([w["step"], w["took"]], [list(t) for t in v["times"]], [0.5, 0.5])]
    story += [p(f"{w['alarms']} ({len(v['alarms'])})", heading),
              table(["#", w["asset"], w["rule"], w["level"], w["since"], w["state"]], v["alarms"],
                    [0.06, 0.14, 0.34, 0.1, 0.2, 0.16])]
    story += [p(w["timeline"], heading), table([w["time"], w["what"], w["who"], w["note"]], v["timeline"], [0.18, 0.27, 0.2, 0.35])]
    if v["escalations"]:
        story += [p(w["escalations"], heading),
                  table([w["time"], w["step"], w["who"], w["channel"]], v["escalations"], [0.2, 0.2, 0.4, 0.2])]
    story.append(p(w["crew"], heading))
    story.append(table([w["time"], w["step"], w["who"], w["note"], w["cause"]], v["crew"], [0.16, 0.12, 0.18, 0.27, 0.27])
                 if v["crew"] else p(w["none"]))
    if v["photos"]:
        story.append(p(w["photos"], heading))
        for photo in v["photos"]:
            raw = base64.b64decode(photo["src"].split(",", 1)[1])
            image = Image(io.BytesIO(raw))
            scale = min(1.0, (width / 2) / image.imageWidth, 200 / image.imageHeight)
            image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
            story += [image, p(f"{when(photo['time'])} · {photo['who']} · {photo['note']}"), Spacer(1, 6)]
    story.append(p(f"{w['notifications']} ({len(v['notifications'])})", heading))
    story.append(table([w["time"], w["event"], w["channel"], w["sent"], w["key"]], v["notifications"],
                       [0.14, 0.2, 0.16, 0.22, 0.28]) if v["notifications"] else p(w["none"]))
    story.append(p(f"{w['written']} {v['written']}"))
    try:
        SimpleDocTemplate(str(path), pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                          bottomMargin=MARGIN, title=f"{w['case']} {i.id}").build(story)
    except OSError as exc:
        raise TwinError(f"{path}: cannot write it ({exc.strerror})") from None
    return path
