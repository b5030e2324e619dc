"""The package's exceptions and warnings: one place, so callers can catch them by class."""

from __future__ import annotations

__all__ = [
    "MMRiskError",
    "ExtractError",
    "ExtractValidationError",
    "ConfigError",
    "ModelFitError",
    "ModelFitWarning",
    "SplitError",
    "MetricInputError",
    "EvaluationWarning",
    "MissingColumnsError",
    "SampleSizeError",
    "ReportDataError",
]


class MMRiskError(ValueError):
    """Base class of every error mmrisk raises for a user's input."""


class ExtractError(MMRiskError):
    """A registry extract cannot be read: missing file, table, sheet or column, wrong type.

    The message names the file (and table, sheet or column) and says what was expected.
    """


class ExtractValidationError(MMRiskError):
    """An extract was read but holds errors; ``report`` carries one row per finding.

    Parameters
    ----------
    message : str
        What is wrong, naming the extract.
    report : pandas.DataFrame or None, default=None
        The findings, one row per finding (as :func:`mmrisk.registry.validate_extract` returns
        them); stored as the attribute ``report``.
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class ConfigError(MMRiskError):
    """A config or pipeline file is invalid; the message names the file and the key."""


class ModelFitError(MMRiskError):
    """A survival model cannot be fitted to the given data (e.g. collinear features, no events).

    The message names the model and the offending features and says how to fix the input.
    """


class ModelFitWarning(UserWarning):
    """A survival model was fitted, but some estimates are unreliable or not identifiable.

    Raised e.g. for collinear features whose Cox coefficients are set by the ridge penalty, or
    for coefficients so extreme that the data are (almost) completely separated.
    """


class SplitError(MMRiskError):
    """A resampling scheme cannot be built from the data: a split column holds values other than
    ``"train"``/``"test"``, a centre has no events, a temporal cut leaves one side empty, ...

    The message names the scheme, the column and the bad value, and says how to fix it.
    """


class MetricInputError(MMRiskError):
    """Inputs of an evaluation metric do not fit together: wrong outcome array, shapes that
    disagree, horizons that are not whole months, a baseline that is not among the models."""


class EvaluationWarning(UserWarning):
    """A metric could not be computed for part of its input (e.g. a horizon beyond follow-up)
    and is reported as NaN there instead."""


class MissingColumnsError(MMRiskError):
    """Input to score lacks columns the model needs; ``missing`` lists them all, in model order.

    Raised before anything is scored or written.

    Parameters
    ----------
    message : str
        What is missing, naming the input.
    missing : iterable of str, default=()
        The missing columns, in model order; stored as the list attribute ``missing``.
    """

    def __init__(self, message: str, missing=()):
        super().__init__(message)
        self.missing = list(missing)


class SampleSizeError(MMRiskError):
    """Inputs of a sample-size calculation are impossible: an R² above its maximum, a shrinkage
    target not above R², a non-positive rate, follow-up or timepoint, a non-integer number of
    parameters. The message names the input, its value and the allowed range."""


class ReportDataError(MMRiskError):
    """The data given to a report renderer are invalid: a figure that is not a PNG, a period
    that is not a year or year-month, a table without its required columns. The message names
    the field and the bad value."""
