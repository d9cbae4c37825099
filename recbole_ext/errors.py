"""Errors recbole-ext raises on purpose. Each message names the problem and what to do about it.

``run.py`` prints any :class:`RecboleExtError` as one line (no traceback) and exits with status 2::

    RecboleExtError
    |-- ConfigError          a configuration key, value, file or flag (ValueError)
    |   |-- UnknownModelError
    |   `-- UnknownDatasetError
    |-- DataError            an atomic file or dataset that cannot be read or trained on (ValueError)
    |-- RunError             a run directory, checkpoint or resume state that cannot be used
    |   `-- RankLost         (recbole_ext.training.distributed) another torchrun rank stopped
    `-- EnvironmentProblem   an installed package version recbole 1.2.1 breaks on

>>> issubclass(ConfigError, KeyError), str(ConfigError("no quotes around me"))
(False, 'no quotes around me')
"""

import contextlib
import signal
import threading


class RecboleExtError(Exception):
    """Base class: a problem the user can fix, explained in the message."""


class EnvironmentProblem(RecboleExtError):
    """An installed package version that recbole 1.2.1 is known to break on."""


class ConfigError(RecboleExtError, ValueError):
    """A configuration key that is missing, ``None`` or invalid for the chosen model; a bad flag or config file."""


class UnknownModelError(ConfigError):
    """A model name that is neither one of ours nor a stock RecBole model."""


class UnknownDatasetError(ConfigError):
    """A dataset name with no atomic files where the run looks for them."""


class DataError(RecboleExtError, ValueError):
    """An atomic file or a dataset that RecBole cannot read or a model cannot be trained on."""


class RunError(RecboleExtError):
    """A run directory, checkpoint or resume state that cannot be used as asked (damaged, missing, unfinished)."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, i.e. Ctrl-C, or SIGTERM); its state is kept.

    ``run.py`` prints one line naming the resume command (``run_dir``, set by the run that was
    stopped) and exits 128 + the signal's number.
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number
        self.run_dir = None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name


@contextlib.contextmanager
def interrupt_on_signals():
    """While open, SIGINT and SIGTERM raise :class:`Interrupted` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(number, frame):
        raise Interrupted(number)
    previous = {number: signal.signal(number, raise_interrupted) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
