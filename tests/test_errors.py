"""recbole_ext.errors: a small hierarchy, every message one line, signals as Interrupted."""

from __future__ import annotations

import os
import signal

import pytest

from recbole_ext.errors import (ConfigError, DataError, Interrupted, RecboleExtError, RunError, UnknownDatasetError,
                                UnknownModelError, interrupt_on_signals)
from recbole_ext.training.distributed import RankLost


def test_the_hierarchy():
    assert all(issubclass(error, ConfigError) for error in (UnknownModelError, UnknownDatasetError))
    assert all(issubclass(error, RecboleExtError) for error in (ConfigError, DataError, RunError))
    assert issubclass(RankLost, RunError)
    assert not any(issubclass(error, KeyError) for error in (ConfigError, DataError, RunError))
    assert str(ConfigError("set --epochs=1")) == "set --epochs=1"  # no quotes (KeyError would add them)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_signals_raise_interrupted_while_open_and_the_old_handler_comes_back(number):
    before = signal.getsignal(number)
    with pytest.raises(Interrupted) as caught, interrupt_on_signals():
        os.kill(os.getpid(), number)  # the handler raises before the next line runs
    assert caught.value.signal_name == signal.Signals(number).name and caught.value.run_dir is None
    assert signal.getsignal(number) is before
