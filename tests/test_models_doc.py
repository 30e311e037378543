"""docs/models.md cannot drift from the plugins: every kernel parameter of every installed
plugin is in one of its parameter tables with its value and its default flag, and every
image the page shows exists (``docs/make_plots.py`` makes them).

A parameter row reads ``| `kernel` | `parameter` | `value` | unit | source | flag |`` with
the value as in the code (a number, or six breakpoints as ``[a, b, ...]``) and the flag
``**default**`` exactly when the ``Param`` says ``default=True``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from twin.plugins.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "models.md"
ROW = re.compile(r"^\|\s*`(?P<kernel>[^`]+)`\s*\|\s*`(?P<param>[^`]+)`\s*\|\s*`(?P<value>[^`]+)`\s*\|(?P<rest>.*)\|\s*$", re.M)
IMAGE = re.compile(r"!\[[^\]]*\]\((?P<path>[^)\s]+)\)|<img\s[^>]*src=\"(?P<src>[^\"]+)\"")


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _rows() -> dict[tuple[str, str], list[tuple[str, str]]]:
    rows: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for m in ROW.finditer(_text()):
        rows.setdefault((m["kernel"], m["param"]), []).append((m["value"], m["rest"]))
    return rows


def _numbers(cell: str) -> list[float]:
    cell = cell.strip()
    if cell.startswith("["):
        if not cell.endswith("]"):
            raise ValueError(f"unclosed list {cell!r}")
        return [float(v) for v in cell[1:-1].split(",")]
    return [float(cell)]


def _params() -> list[tuple[str, object]]:
    """(owner, Param) of every kernel, updater and coupling: all are configuration."""
    registry = load_registry()
    owners = [*registry.kernels, *registry.updaters, *registry.couplings]
    return [(owner.name, p) for _, owner in owners for p in owner.params]


def test_the_plugins_are_installed():
    names = {kernel for kernel, _ in _params()}
    assert names, "no kernels found: install the plugins (pip install -e plugins/gas ...)"


@pytest.mark.parametrize("kernel, param", _params(), ids=lambda v: getattr(v, "name", v))
def test_every_kernel_param_is_documented_with_its_value_and_flag(kernel, param):
    rows = _rows().get((kernel, param.name))
    assert rows, (f"docs/models.md has no row | `{kernel}` | `{param.name}` | `value` | ... for "
                  f"{kernel} {param.name} = {param.value!r}")
    assert len(rows) == 1, f"{kernel} {param.name} has {len(rows)} rows in docs/models.md; keep one"
    value, rest = rows[0]
    expected = list(param.value) if isinstance(param.value, (tuple, list)) else [param.value]
    got = _numbers(value)
    assert len(got) == len(expected) and all(
        math.isclose(g, float(e), rel_tol=1e-12, abs_tol=1e-12) for g, e in zip(got, expected)
    ), f"docs/models.md gives {kernel} {param.name} = {value}; the code says {param.value!r}"
    flagged = "**default**" in rest
    assert flagged == param.default, (
        f"docs/models.md flags {kernel} {param.name} as {'default' if flagged else 'standard'}; "
        f"the Param says default={param.default}")


def test_every_documented_param_exists():
    known = {(kernel, p.name) for kernel, p in _params()}
    stale = sorted(set(_rows()) - known)
    assert not stale, f"docs/models.md documents parameters no installed kernel has: {stale}"


def test_every_image_exists():
    paths = [m["path"] or m["src"] for m in IMAGE.finditer(_text())]
    assert paths, "docs/models.md shows no plots"
    missing = [p for p in paths if not (DOC.parent / p).is_file()]
    assert not missing, f"docs/models.md shows images that do not exist (run docs/make_plots.py): {missing}"
