"""The report as one HTML page (jinja2, ``templates/report.html.j2``), its pictures
beside it: nothing is loaded from the internet, so the folder can be mailed or opened
on a machine with no network."""

from __future__ import annotations

from functools import cache

import jinja2
from markupsafe import Markup, escape

from twin.i18n import LEVEL_COLOURS, LEVEL_INK
from twin.runs.report.text import level_name
from twin.runs.report.view import View


@cache
def environment() -> jinja2.Environment:
    """The templates, escaping everything they are given (a note may hold any text)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("twin.runs.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def badge(level: int, lang: str) -> Markup:
    """A level in its colour and in words."""
    level = max(0, min(4, int(level)))
    return Markup('<span class="lvl" style="background:{};color:{}">{}</span>').format(
        LEVEL_COLOURS[level], LEVEL_INK[level], escape(level_name(level, lang)))


def render_html(view: View) -> str:
    """The page's text."""
    return environment().get_template("report.html.j2").render(v=view, w=view.w, badge=lambda level: badge(level, view.lang))
