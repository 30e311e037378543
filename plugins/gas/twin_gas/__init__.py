"""Gas mains, their valves and the underground spaces beside them (Lifeline Twin plugin)."""

__version__ = "0.1.0"
