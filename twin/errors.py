"""Errors that name the file, the line or field, and what would be valid."""

from __future__ import annotations


class TwinError(Exception):
    """Base of the twin's own errors: the message is meant for the user."""


class SceneError(TwinError):
    """A scene failed validation. ``problems`` holds every message, one per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:  # one problem, one line: it names its file already
            super().__init__(problems[0])
            return
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"the scene has {len(problems)} problem(s):\n  {shown}{more}")


class PluginError(TwinError):
    """A plugin's contribution is unusable; the message names the plugin."""
