"""Lifeline Twin plugin for bridges: deck spans over the river and their piers."""

__version__ = "0.1.0"
