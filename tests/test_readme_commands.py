"""The README's command table names every subcommand of ``twin``, the plugins' too (it
once omitted ``twin report``): a user reads the table, not the argparse help."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _subcommands() -> dict[str, list[str]]:
    """Each command of ``twin`` (the core's and the installed plugins') -> its own
    subcommands, from the parser the CLI builds."""
    from twin import cli

    captured: dict[str, argparse.ArgumentParser] = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):  # the CLI builds its parser, then parses
        captured.setdefault("parser", self)
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture  # type: ignore[method-assign]
    try:
        try:
            cli.main(["--help"])
        except SystemExit:
            pass
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    parser = captured["parser"]
    commands: dict[str, list[str]] = {}
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            commands[name] = sorted(nested[0].choices) if nested else []
    return commands


def test_every_command_is_in_the_readme_table() -> None:
    table = "\n".join(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `twin "))
    commands = _subcommands()
    assert {"serve", "report", "drill", "history"} <= set(commands)
    missing = []
    for name, subs in commands.items():
        if not re.search(rf"`twin {name}\b", table):
            missing.append(f"twin {name}")
        for sub in subs:
            # within the command's cell: anything but a cell's end (a `\|` is the table's "or")
            if not re.search(rf"twin {name} (?:\\\||[^|])*\b{sub}\b", table):
                missing.append(f"twin {name} {sub}")
    assert not missing, f"the README's command table lacks: {', '.join(missing)}"
