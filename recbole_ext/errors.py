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


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, i.e. Ctrl-C, or SIGTERM); its state is kept.

    ``run.py`` prints one line naming the resume command and exits 128 + the signal's number.
    """

    def __init__(self, signal_number: int, run_dir: object = None) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number
        self.run_dir = run_dir

    @property
    def signal_name(self) -> str:
        import signal

        return signal.Signals(self.signal_number).name


def interrupt_on_signals():
    """A context manager: SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while it is open."""
    import contextlib
    import signal
    import threading

    @contextlib.contextmanager
    def installed():
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
    return installed()
