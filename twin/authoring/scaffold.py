"""``twin plugin new``: write a working plugin project for a new domain.

The project is laid out like the built-in plugins under ``plugins/`` and made from the
files under ``twin/authoring/templates/plugin/`` by :class:`string.Template` substitution. Its
example domain is a water-supply pressure zone whatever the name; the name becomes the
domain, the distribution ``twin-<name>`` and the package ``twin_<name>``.

Template files may mark regions with ``# [docs:start NAME]`` / ``# [docs:end NAME]``
lines: ``docs/plugins.md`` includes those regions and a test checks that they agree.
The marker lines are left out of the written project.
"""

from __future__ import annotations

import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template

from twin import __version__
from twin.errors import TwinError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
MARKER = re.compile(r"^\s*# \[docs:(start|end) ([a-z0-9-]+)\]\s*$")

#: template file -> path in the project (``{package}`` and ``{name}`` filled in)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "{package}/__init__.py",
    "package/plugin.py.tmpl": "{package}/plugin.py",
    "package/model.py.tmpl": "{package}/model.py",
    "package/generate.py.tmpl": "{package}/generate.py",
    "tests/test_plugin.py.tmpl": "tests/test_{name}.py",
}


class ScaffoldError(TwinError):
    """A plugin project cannot be written: a bad name or an occupied folder."""


def check_name(name: str) -> None:
    """Refuse a name that cannot be a domain, an entry point and part of a package name."""
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"plugin name {name!r} is not valid: use a lowercase identifier matching [a-z][a-z0-9_]* "
            "(a letter, then letters, digits or underscores), e.g. 'water' or 'district_heat'"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"plugin name {name!r} is a Python keyword; choose another")


def _values(name: str) -> dict[str, str]:
    return {
        "name": name,
        "Name": name.replace("_", " ").title(),
        # Asset ids must be unique across every domain of a scene: prefix them.
        "PREFIX": name.upper(),
        "core_version": ".".join(__version__.split(".")[:2]),
    }


def template_text(template: str, name: str) -> str:
    """A template file filled in for ``name``, with its docs markers still in."""
    source = resources.files("twin.authoring").joinpath("templates", "plugin", template).read_text(encoding="utf-8")
    try:
        return Template(source).substitute(_values(name))
    except (KeyError, ValueError) as exc:  # a bug in a template, not the user's fault
        raise RuntimeError(f"twin/authoring/templates/plugin/{template}: bad placeholder {exc}") from exc


def strip_markers(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not MARKER.match(line))


def render(name: str) -> dict[str, str]:
    """Every file of the project for ``name``: relative path -> text."""
    check_name(name)
    out = {}
    for template, target in FILES.items():
        out[target.format(package=f"twin_{name}", name=name)] = strip_markers(template_text(template, name))
    return out


def new_plugin(name: str, directory: Path) -> Path:
    """Write a complete plugin project for the domain ``name`` into ``directory``.

    Refuses an invalid name and an existing, non-empty directory (nothing is
    overwritten). Returns the directory.
    """
    files = render(name)
    directory = Path(directory)
    if directory.exists():
        if not directory.is_dir():
            raise ScaffoldError(f"{directory}: exists and is not a directory; name a new folder for the plugin")
        if any(directory.iterdir()):
            raise ScaffoldError(f"{directory}: exists and is not empty; refusing to overwrite it (name a new or empty folder)")
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory
