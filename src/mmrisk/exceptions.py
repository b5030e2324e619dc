"""The package's exceptions and warnings: one place, so callers can catch them by class."""

from __future__ import annotations

__all__ = ["MMRiskError", "ExtractError", "ExtractValidationError", "ConfigError"]


class MMRiskError(ValueError):
    """Base class of every error mmrisk raises for a user's input."""


class ExtractError(MMRiskError):
    """A registry extract cannot be read: missing file, table, sheet or column, wrong type.

    The message names the file (and table, sheet or column) and says what was expected.
    """


class ExtractValidationError(MMRiskError):
    """An extract was read but holds errors; ``report`` carries one row per finding."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class ConfigError(MMRiskError):
    """A config or pipeline file is invalid; the message names the file and the key."""
