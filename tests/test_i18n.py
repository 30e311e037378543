"""One table of words and level colours (twin/i18n.py), shared by the viewer (through the
generated viewer/src/i18n.generated.js) and the reports: the two must not drift."""

import re
import string
from pathlib import Path

from conftest import load_script

from twin import i18n

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "viewer" / "src"


def test_generated_js_is_up_to_date():
    current = (SRC / "i18n.generated.js").read_text(encoding="utf-8")
    assert current == load_script("gen-i18n-js").render(), "viewer/src/i18n.generated.js is out of date: run scripts/gen-i18n-js"


def test_generated_js_holds_every_viewer_word_and_colour():
    text = load_script("gen-i18n-js").render()
    for lang in i18n.LANGS:
        for key, words in i18n.VIEWER_WORDS[lang].items():
            assert f'"{key}": "{words}",' in text, (lang, key)
    for colour in (*i18n.LEVEL_COLOURS, *i18n.LEVEL_INK, i18n.STALE_COLOUR):
        assert colour in text


def test_every_language_has_every_word_with_the_same_placeholders():
    for table in (i18n.COMMON, i18n.VIEWER, i18n.REPORT):
        en = table["en"]
        for lang in i18n.LANGS:
            assert set(table[lang]) == set(en), (lang, set(table[lang]) ^ set(en))
            for key, words in table[lang].items():
                fields = {f for _, f, _, _ in string.Formatter().parse(words) if f}
                assert fields == {f for _, f, _, _ in string.Formatter().parse(en[key]) if f}, (lang, key)
    # a word both use is declared once, in COMMON
    assert not set(i18n.VIEWER["en"]) & set(i18n.COMMON["en"]) and not set(i18n.REPORT["en"]) & set(i18n.COMMON["en"])


def test_every_word_the_viewer_asks_for_exists():
    asked: set[str] = set()
    for path in SRC.rglob("*.js"):
        source = path.read_text(encoding="utf-8")
        asked |= set(re.findall(r"\bt\(['\"]([A-Za-z0-9_]+)['\"]\)", source))
        # i18n.js's w('key', {slots}) reads the same table (where a module imports it)
        if re.search(r"import \{[^}]*\bw\b[^}]*\} from '\.\.?/i18n\.js'", source):
            asked |= set(re.findall(r"\bw\(['\"]([A-Za-z0-9_]+)['\"][,)]", source))
    asked |= {f"window{w}" for w in ("1h", "24h", "7d")} | {f"source_{s}" for s in ("raw", "minutes", "live", "recording")}
    asked |= {f"state{s}" for s in ("Raised", "Acknowledged", "Dispatched", "Resolved")}
    # the incident list's keys built from a state, a crew step, a timeline event or a deadline's step
    asked |= {f"inc_{s}" for s in ("open", "acknowledged", "dispatched", "closed")}
    asked |= {f"crew_{s}" for s in ("accepted", "on_site", "working", "done")}
    asked |= {f"ev_{a}" for a in ("acknowledge", "dispatch", "close", "accept", "arrive", "work", "done")}
    asked |= {f"ev_alarm_{a}" for a in ("acknowledge", "dispatch", "resolve")}
    asked |= {f"step_{s}" for s in ("acknowledge", "dispatch", "close")}
    asked |= {f"msg_{k}" for k in ("call", "field_report", "press", "other")}
    # the exercise desk pages' keys built from an exercise's or an inject's state, an inject's kind, a control's verb
    # and an objective's status (console.js, exercisePage.js)
    asked |= {f"desk_{s}" for s in ("running", "ended", "pending", "fired", "skipped", "failed")}
    asked |= {f"desk_{s}" for s in ("action", "fault", "message", "fire", "delay", "skip", "met", "not_met", "not_judged")}
    assert len(asked) > 80 and "ev_escalation" in asked and "nAlarms" in asked and "desk_stopConfirm" in asked
    for lang in i18n.LANGS:
        missing = asked - set(i18n.VIEWER_WORDS[lang])
        assert not missing, (lang, missing)


def test_the_viewer_declares_no_colour_or_word_table_of_its_own():
    """The viewer's level colours and words come from the generated file only."""
    for path in SRC.rglob("*.js"):
        if path.name == "i18n.generated.js":
            continue
        source = path.read_text(encoding="utf-8").lower()
        for colour in i18n.LEVEL_COLOURS[1:]:
            assert colour not in source, (path.name, colour)
        assert "处置说明" not in source and "no open alarms" not in source, path.name
        assert "处置时间线" not in source and "no open incidents" not in source, path.name
        assert "演练导调台" not in source and "stop the exercise" not in source, path.name
    assert "from './i18n.generated.js'" in (SRC / "levels.js").read_text(encoding="utf-8")
    assert "from './i18n.generated.js'" in (SRC / "i18n.js").read_text(encoding="utf-8")


def test_the_report_speaks_the_same_table():
    from twin.runs.report import LEVEL_COLOURS, LEVEL_INK, words

    assert LEVEL_COLOURS == i18n.LEVEL_COLOURS and LEVEL_INK == i18n.LEVEL_INK
    for lang in i18n.LANGS:
        w = words(lang)
        for key in i18n.COMMON[lang]:
            assert w[key] == i18n.VIEWER_WORDS[lang][key]
