"""Every fix recbole 1.2.1 needs on today's numpy / pandas / torch / setuptools / hyperopt, in one place.

recbole 1.2.1 (2023) is the newest RecBole; it breaks on the current stack in the ways measured in
``tests/test_compat.py`` (each break is reproduced there). Instead of pinning a 2023 stack, each break is patched here (and
each patch has a test in ``tests/test_compat.py`` that fails without it):

| break                                                             | fix here                               |
|-------------------------------------------------------------------|----------------------------------------|
| numpy 2 removed ``np.float_``, ``np.complex_``, ``np.unicode_``,  | :func:`restore_numpy_aliases` (also    |
|   ``np.bool8`` (RecBole's ``Config``), ``np.float`` / ``np.bool``  |   in Ray workers: they import this     |
|   (its metrics), ``np.str`` (its tuning plot)                     |   module before RecBole)               |
| pandas 3 (copy-on-write) ignores ``fillna(inplace=True)`` on a    | :func:`patch_recbole_fillna`           |
|   column view: missing side features keep NaN, empty            |                                        |
|   ``token_seq`` / ``float_seq`` cells crash the loader            |                                        |
| pandas 3 ``Series.agg(len)`` is the Series' length, no longer     | :func:`patch_recbole_series_agg_len`   |
|   each cell's: ``token_seq`` side features fail to remap          |                                        |
| hyperopt >= 0.2.7 hands algorithms a ``numpy.random.Generator``   | :func:`patch_recbole_exhaustive_search`|
|   seed path; RecBole's ``exhaustive`` search builds a             |                                        |
|   ``RandomState``, which has no ``integers``                      |                                        |
| torch >= 2.6 ``torch.load(weights_only=True)`` cannot read        | :func:`patch_recbole_checkpoint_load`  |
|   RecBole's checkpoints (they pickle the ``Config``)              |                                        |
| importing RecBole's sequential models runs ``sine.py``'s          | :func:`undo_recbole_anomaly_detection` |
|   ``torch.autograd.set_detect_anomaly(True)`` (~2x CPU a step)    |                                        |
| Ray 2.60: ``ray start`` turns token authentication on when a      | :func:`ray_client_auth_like_ray_start` |
|   token exists, ``ray.init(address=...)`` does not: joining such  |   (called before joining a cluster)    |
|   a cluster is refused ("Authentication token is missing")        |                                        |
| torch 2.13: after DDP, ``destroy_process_group`` leaves gloo's    | :func:`end_torchrun_rank` (the ``run`` |
|   worker threads running; one may free a finished collective's    |   command's ranks end with             |
|   tensors while Python shuts down and abort a rank that finished  |   ``os._exit`` once all is written and |
|   ("terminate called without an active exception", SIGABRT):      |   flushed)                             |
|   4 of ~280 two-rank runs on 2 loaded cores                       |                                        |

``pkg_resources`` (gone in setuptools >= 81) is needed by nothing we import: recbole 1.2.1 never
imports it, hyperopt stopped at 0.2.7, and ``recbole.quick_start`` (which imports Ray at module level)
is never imported. recbole 1.2.1's own requirement ``ray<=2.6.3`` (no wheel for Python >= 3.12) is
why recbole is installed without its dependencies; see ``setup.py``.

What no patch can fix is refused by :func:`check_stack` at import, naming the command that fixes it.
Importing :mod:`recbole_ext` imports this module first.
"""

from __future__ import annotations

import logging
import os
import sys
import types
import warnings
from importlib import metadata
from typing import NoReturn

import numpy as np
import torch

from recbole_ext.errors import EnvironmentProblem

# package -> (lowest supported version, the command that fixes an older or missing one)
_MINIMUM_VERSIONS = {
    "recbole": ("1.2.1", "pip install --no-deps recbole==1.2.1"),
    "numpy": ("1.24", 'pip install -U "numpy>=1.24"'),
    "pandas": ("2.0", 'pip install -U "pandas>=2.0"'),
    "hyperopt": ("0.3.0", 'pip install -U "hyperopt>=0.3"'),  # older ones import pkg_resources (setuptools < 81)
}
# The one recbole release these patches are written against.
_RECBOLE_VERSION = "1.2.1"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not part.isdigit():  # 2.0rc1: stop at the pre-release
            break
    return tuple(parts)


def stack_problems(installed: dict[str, str | None] | None = None) -> list[str]:
    """One line per installed version that recbole-ext cannot run on, with the command that fixes it.

    ``installed`` maps package name to version (``None``: not installed); by default the installed
    distributions are read.
    """
    if installed is None:
        installed = {}
        for name in _MINIMUM_VERSIONS:
            try:
                installed[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                installed[name] = None
    problems = []
    for name, version in installed.items():
        if name not in _MINIMUM_VERSIONS:
            continue
        minimum, fix = _MINIMUM_VERSIONS[name]
        if version is None:
            if name == "recbole":  # not among our pip requirements (see setup.py), so say how
                problems.append(f"recbole is not installed: {fix}")
            continue
        if name == "recbole" and version != _RECBOLE_VERSION:
            problems.append(f"recbole {version} is installed but recbole-ext patches recbole {_RECBOLE_VERSION}: {fix}")
        elif _version_tuple(version) < _version_tuple(minimum):
            problems.append(f"{name} {version} is installed but recbole-ext needs {name} >= {minimum}: {fix}")
    return problems


def check_stack() -> None:
    """Raise :class:`EnvironmentProblem` naming each unsupported version and the command that fixes it."""
    problems = stack_problems()
    if problems:
        raise EnvironmentProblem("recbole-ext cannot run on this environment: " + "; ".join(problems))


# ------------------------------------------------------------------------------------------ numpy
# Aliases numpy 2 (or 1.24) removed that recbole 1.2.1 still uses, and what they meant.
NUMPY_ALIASES = {
    "float_": "float64", "complex_": "complex128", "unicode_": "str_", "bool8": "bool_",
    "float": "float64", "int": "int_", "bool": "bool_", "object": "object_", "str": "str_",
    "complex": "complex128", "unicode": "str_", "long": "int_",
}


def restore_numpy_aliases() -> None:
    """Put back the removed aliases (only those missing: numpy 1.26 keeps its own)."""
    for alias, target in NUMPY_ALIASES.items():
        if alias not in np.__dict__:
            setattr(np, alias, getattr(np, target))


# ----------------------------------------------------------------------------------------- pandas
def patch_recbole_fillna() -> None:
    """Make RecBole's missing-value handling work under pandas 3's copy-on-write.

    RecBole 1.2.1 writes ``df[field].fillna(value, inplace=True)``: under copy-on-write (always on in
    pandas 3) ``df[field]`` is a new object and the frame keeps its NaN. Two places do it:

    - ``Dataset._fill_nan`` (token -> 0, float -> the column mean): replaced by the same rules
      written as assignments;
    - ``Dataset._load_feat`` (an empty ``token_seq`` / ``float_seq`` cell becomes ``""`` before it is
      split): the file reader RecBole calls gets those columns filled as it reads them.

    On pandas 2 both give what RecBole's own code gave.
    """
    import pandas as pd
    from recbole.data.dataset import dataset as recbole_dataset
    from recbole.utils import FeatureType

    def _fill_nan(self) -> None:
        for feat_name in self.feat_name_list:
            feat = getattr(self, feat_name)
            for field in feat:
                ftype = self.field2type[field]
                if ftype == FeatureType.TOKEN:
                    feat[field] = feat[field].fillna(value=0)
                elif ftype == FeatureType.FLOAT:
                    feat[field] = feat[field].fillna(value=feat[field].mean())
                else:
                    dtype = np.int64 if ftype == FeatureType.TOKEN_SEQ else np.float64
                    feat[field] = feat[field].apply(
                        lambda x: np.array([], dtype=dtype) if isinstance(x, float) else x
                    )

    def read_csv_with_empty_sequences(*args, **kwargs):
        frame = pd.read_csv(*args, **kwargs)
        for column in frame.columns:  # still RecBole's "name:type" headers here
            if str(column).endswith(("token_seq", "float_seq")):
                frame[column] = frame[column].fillna("")
        return frame

    recbole_dataset.Dataset._fill_nan = _fill_nan
    replace_in_module(recbole_dataset, "pd", read_csv=read_csv_with_empty_sequences)


class ModuleView(types.ModuleType):
    """A module as one of RecBole's modules sees it: ``module`` with a few attributes replaced."""

    def __init__(self, module: types.ModuleType, **replacements) -> None:
        super().__init__(module.__name__)
        self._module = module
        self.__dict__.update(replacements)

    def __getattr__(self, name):
        return getattr(self._module, name)


def replace_in_module(holder: types.ModuleType, name: str, **replacements) -> None:
    """Make ``holder.<name>`` (an imported module) a :class:`ModuleView` with ``replacements``, once;
    every other module keeps the real one."""
    current = getattr(holder, name)
    if not isinstance(current, ModuleView):
        setattr(holder, name, ModuleView(current, **replacements))


def patch_recbole_series_agg_len() -> None:
    """RecBole 1.2.1 splits its ``token_seq`` / ``float_seq`` columns at ``np.cumsum(s.agg(len))``
    (remapping ids, normalising, discretising, knowledge graphs). pandas 2 applied ``len`` to each
    cell; pandas 3 calls ``len(s)``. For calls from RecBole's own modules ``agg(len)`` is made
    per-cell again; everyone else keeps pandas' current meaning."""
    import pandas as pd

    if getattr(pd.Series.agg, "_recbole_ext_patch", False):
        return
    series_agg = pd.Series.agg

    def agg(self, func=None, axis=0, *args, **kwargs):
        if func is len and sys._getframe(1).f_globals.get("__name__", "").startswith("recbole."):
            return self.map(len)
        return series_agg(self, func, axis, *args, **kwargs)

    agg._recbole_ext_patch = True
    pd.Series.agg = agg
    pd.Series.aggregate = agg


# --------------------------------------------------------------------------------------- hyperopt
def patch_recbole_exhaustive_search() -> None:
    """RecBole's ``exhaustive_search`` draws from ``np.random.RandomState(seed)``; hyperopt >= 0.2.7
    samples through ``numpy.random.Generator`` methods (``rng.integers``). Give it a Generator."""
    from recbole.trainer import hyper_tuning

    replace_in_module(hyper_tuning, "np", random=types.SimpleNamespace(RandomState=np.random.default_rng))


# ------------------------------------------------------------------------------------------ torch
def load_trusted_checkpoint(file, *args, **kwargs):
    """``torch.load`` for checkpoints RecBole itself wrote (they pickle the run's ``Config``).

    torch >= 2.6 defaults to ``weights_only=True``, which refuses those pickles. Only use this on
    files produced by your own runs: unpickling runs code from the file.
    """
    kwargs.setdefault("weights_only", False)
    return torch.load(file, *args, **kwargs)


def patch_recbole_checkpoint_load() -> None:
    """Make ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` work on torch >= 2.6.

    Only the trainer module's view of ``torch`` changes; ``torch.load`` elsewhere keeps its safe
    default.
    """
    import recbole.trainer.trainer as recbole_trainer

    replace_in_module(recbole_trainer, "torch", load=load_trusted_checkpoint)


def silence_recbole_future_warnings() -> None:
    """RecBole 1.2.1 triggers pandas/torch deprecation warnings on every run; they are not the user's."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")
    # pandas 3 warns at each of RecBole's fillna(inplace=True) lines; patch_recbole_fillna fixed them.
    warnings.filterwarnings("ignore", message="A value is being set on a copy", module=r"recbole\.")
    # RecBole's Dataset turns pandas' read-only arrays into tensors it never writes to: torch warns
    # "The given NumPy array is not writable" (twice a run, on stderr, before any error of ours).
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)


def undo_recbole_anomaly_detection() -> None:
    """``recbole/model/sequential_recommender/sine.py`` turns on autograd anomaly detection for the
    whole process at import (any import of RecBole's sequential models runs it). Anomaly mode
    records a traceback per op and checks every backward output for NaN: a SASRecPaper training step
    on ML-100K was measured at about twice the CPU time. Import the package once here, then switch it back off."""
    import recbole.model.sequential_recommender  # noqa: F401  (runs sine.py's module code once)

    torch.autograd.set_detect_anomaly(False)


def ray_client_auth_like_ray_start() -> None:
    """Before ``ray.init(address=...)``: token authentication on where ``ray start`` turns it on.

    Ray 2.60's ``ray start`` enables token authentication when ``RAY_AUTH_MODE`` is unset and a
    token exists (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``); a client's
    ``ray.init(address=...)`` does not, and the cluster refuses it. Ray's own rule is applied to
    this process (a Ray without token authentication has nothing to do here)."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def end_torchrun_rank(status: int) -> NoReturn:
    """End a ``torchrun`` rank with ``status`` without Python's shutdown (``run.py``'s ranks do).

    With torch 2.13, a process group that ``DistributedDataParallel`` has used outlives
    ``destroy_process_group`` (DDP keeps a reference to it), so gloo's worker threads keep running
    until the process ends. A worker that releases a finished collective's tensors while the
    interpreter shuts down needs the GIL it can no longer take, and the rank aborts (SIGABRT,
    "terminate called without an active exception"); torchrun then reports a run that finished and
    wrote all its files as failed. ``tests/test_compat.py`` checks that the worker threads outlive
    the group, so this shim can go once a torch release joins them. Everything this process
    buffers (logging's handlers, stdout, stderr) is flushed first; every file of the run was
    written and closed before."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def apply() -> None:
    check_stack()
    restore_numpy_aliases()  # before anything of recbole is imported
    patch_recbole_fillna()
    patch_recbole_series_agg_len()
    patch_recbole_exhaustive_search()
    patch_recbole_checkpoint_load()
    undo_recbole_anomaly_detection()
    silence_recbole_future_warnings()


apply()
