"""Lifeline Twin plugin: utility tunnels and metro stations."""

__version__ = "0.1.0"
