"""Every fix recbole 1.2.1 needs on today's numpy / pandas / torch / setuptools, in one place.

The measured traps are listed in ``shared/docs/RECBOLE_NOTES.md``. Each one is handled either by a
pin in ``setup.py`` (checked here at import, so a wrong environment fails with the fix to apply
instead of deep inside RecBole) or by a patch below. Each has a test in ``tests/test_compat.py``.

| trap                                                         | fix                                    |
|--------------------------------------------------------------|----------------------------------------|
| numpy 2 removed ``np.float_`` / ``np.bool8`` (Config, ray)   | pin ``numpy<2`` (checked below)        |
| pandas 3 ignores ``fillna(inplace=True)`` on a column view   | pin ``pandas<3`` (checked below)       |
| setuptools >= 81 has no ``pkg_resources`` (ray, hyperopt)    | pin ``setuptools<81`` (checked below)  |
| hyperopt 0.2.7 breaks ``exhaustive`` search                  | pin ``hyperopt==0.2.5`` (checked below)|
| torch >= 2.6 ``torch.load(weights_only=True)`` cannot read   | :func:`_patch_recbole_checkpoint_load` |
|   RecBole's checkpoints (they pickle the ``Config``)         |                                        |
| importing RecBole's sequential models runs ``sine.py``'s     | :func:`_undo_recbole_anomaly_detection`|
|   ``torch.autograd.set_detect_anomaly(True)``: every run     |                                        |
|   then checks each backward op for NaN (~2x CPU per step)    |                                        |

Importing :mod:`recbole_ext` imports this module first.
"""

from __future__ import annotations

import types
import warnings
from importlib import metadata

import torch

from recbole_ext.errors import EnvironmentProblem

# package -> (predicate on the installed version, what must hold, the fix to run)
_REQUIRED_VERSIONS = {
    "numpy": (lambda v: _major(v) < 2, "numpy < 2", 'pip install "numpy<2"'),
    "pandas": (lambda v: _major(v) < 3, "pandas < 3", 'pip install "pandas<3"'),
    "setuptools": (lambda v: _major(v) < 81, "setuptools < 81", 'pip install "setuptools<81"'),
    "hyperopt": (lambda v: v == "0.2.5", "hyperopt == 0.2.5", "pip install hyperopt==0.2.5"),
}


def _major(version: str) -> int:
    return int(version.split(".")[0])


def stack_problems(installed: dict[str, str] | None = None) -> list[str]:
    """Return one line per installed package version that recbole 1.2.1 is known to break on.

    ``installed`` maps package name to version; by default the installed distributions are read.
    A package that is not installed at all is not a problem here (pip's requirements catch that).
    """
    if installed is None:
        installed = {}
        for name in _REQUIRED_VERSIONS:
            try:
                installed[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
    problems = []
    for name, version in installed.items():
        if name not in _REQUIRED_VERSIONS:
            continue
        is_ok, requirement, fix = _REQUIRED_VERSIONS[name]
        if not is_ok(version):
            problems.append(f"{name} {version} is installed but recbole 1.2.1 needs {requirement}: {fix}")
    return problems


def check_stack() -> None:
    """Raise :class:`EnvironmentProblem` naming each wrong version and the command that fixes it."""
    problems = stack_problems()
    if problems:
        raise EnvironmentProblem(
            "recbole-ext cannot run recbole 1.2.1 on this environment:\n  "
            + "\n  ".join(problems)
            + "\n(or reinstall the project: pip install -e .)"
        )


def load_trusted_checkpoint(file, *args, **kwargs):
    """``torch.load`` for checkpoints RecBole itself wrote (they pickle the run's ``Config``).

    torch >= 2.6 defaults to ``weights_only=True``, which refuses those pickles. Only use this on
    files produced by your own runs: unpickling runs code from the file.
    """
    kwargs.setdefault("weights_only", False)
    return torch.load(file, *args, **kwargs)


class _TorchWithTrustedLoad(types.ModuleType):
    """The ``torch`` module as seen by RecBole's trainer: identical except for ``load``."""

    load = staticmethod(load_trusted_checkpoint)

    def __getattr__(self, name):
        return getattr(torch, name)


def _patch_recbole_checkpoint_load() -> None:
    """Make ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` work on torch >= 2.6.

    Only the trainer module's view of ``torch`` changes; ``torch.load`` elsewhere keeps its safe
    default.
    """
    import recbole.trainer.trainer as recbole_trainer

    if not isinstance(recbole_trainer.torch, _TorchWithTrustedLoad):
        recbole_trainer.torch = _TorchWithTrustedLoad("torch")


def _silence_recbole_future_warnings() -> None:
    """RecBole 1.2.1 triggers pandas/torch deprecation warnings on every run; they are not the user's."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")


def _undo_recbole_anomaly_detection() -> None:
    """``recbole/model/sequential_recommender/sine.py`` turns on autograd anomaly detection for the
    whole process at import (any import of RecBole's sequential models runs it). Anomaly mode
    records a traceback per op and checks every backward output for NaN: a SASRecPaper training step
    on ML-100K was measured at about twice the CPU time. Import the package once here, then switch it back off."""
    import recbole.model.sequential_recommender  # noqa: F401  (runs sine.py's module code once)

    torch.autograd.set_detect_anomaly(False)


def apply() -> None:
    check_stack()
    _patch_recbole_checkpoint_load()
    _undo_recbole_anomaly_detection()
    _silence_recbole_future_warnings()


apply()
