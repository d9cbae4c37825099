"""Errors recbole-ext raises on purpose. Each message names the problem and what to do about it.

``run.py`` prints any :class:`RecboleExtError` as one line (no traceback) and exits with status 2.
"""


class RecboleExtError(Exception):
    """Base class: a problem the user can fix, explained in the message."""


class EnvironmentProblem(RecboleExtError):
    """An installed package version that recbole 1.2.1 is known to break on."""


class UnknownModelError(RecboleExtError, ValueError):
    """A model name that is neither one of ours nor a stock RecBole model."""


class UnknownDatasetError(RecboleExtError, ValueError):
    """A dataset name with no atomic files where the run looks for them."""


class ConfigError(RecboleExtError, KeyError):
    """A configuration key that is missing, ``None`` or invalid for the chosen model."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class DataError(RecboleExtError, ValueError):
    """An atomic file or a dataset that RecBole cannot read or a model cannot be trained on."""
