"""What commands write: a run's directory and its file names, atomic writes, reading results, the best
checkpoint, checks of output paths.

Every run (``run.py``, a benchmark cell, a tuning trial) owns one directory::

    <run_dir>/
      run.json           what built the configuration (model, dataset, config files, overrides)
      config.yaml        the resolved configuration
      run.log            the log (no colour codes)
      checkpoint/        the best model (RecBole's checkpoint format)
      resume.pth         the state after the last validation (recbole_ext.training.run_state)
      log_tensorboard/   tensorboard events
      result.json        the result: its presence marks a finished run
      FAILED.txt         a run that raised or was interrupted: why, and the command that resumes it

A directory is never reused by a new run (only ``--resume`` continues one), so nothing a finished
run wrote can be overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from recbole_ext.errors import ConfigError, RunError

DEFAULT_OUTPUT_ROOT = Path("outputs")
RUN_SPEC = "run.json"
RESUME_STATE = "resume.pth"
FAILED_MARK = "FAILED.txt"
RESULT = "result.json"
CHECKPOINT_DIR = "checkpoint"


def new_run_dir(model: str, dataset: str, root: Path = DEFAULT_OUTPUT_ROOT) -> Path:
    """``outputs/<model>-<dataset>-<time>-<random>``: unique even for runs started in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return root / f"{model}-{dataset}-{stamp}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def atomic_path(path: Path):
    """A temporary path beside ``path`` to write to: renamed over ``path`` when the block ends, removed
    if it raises. Readers see the old file or the new one, never half a file (the one way every module
    here replaces a file).

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "a.txt") as tmp:
    ...     _ = tmp.write_text("whole")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('whole', ['a.txt'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: concurrent writers never share one
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_atomically(path: Path, value: Any) -> None:
    """``torch.save(value)`` to ``path`` through :func:`atomic_path`."""
    import torch  # only here: the converters import this module without torch

    with atomic_path(path) as tmp:
        torch.save(value, tmp)


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The finished run's result, or None (missing or unreadable: the run did not finish)."""
    try:
        return json.loads((Path(run_dir) / RESULT).read_text())
    except (OSError, ValueError):
        return None


def best_checkpoint(run_dir: str | Path) -> Path:
    """The run's best checkpoint (the newest ``checkpoint/*.pth``); a clear error where there is none."""
    run_dir = Path(run_dir)
    checkpoints = sorted((run_dir / CHECKPOINT_DIR).glob("*.pth"), key=lambda p: p.stat().st_mtime)
    if not checkpoints:
        raise RunError(f"'{run_dir}' is not a run directory with a trained model (no {CHECKPOINT_DIR}/*.pth): "
                          "give the output directory of a finished run, e.g. outputs/SASRecPaper-ml-100k-<time>-<id>.")
    return checkpoints[-1]


def check_fresh_run_dir(run_dir: Path, flag: str = "--output_dir") -> None:
    """Refuse a directory that already holds anything: a new run never writes over another."""
    check_output_path(run_dir, flag, directory=True)
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return
    if (run_dir / RESULT).is_file():
        raise ConfigError(f"{flag} '{run_dir}' holds a finished run (result.json), which is never overwritten: "
                          f"give a new {flag}.")
    if (run_dir / RUN_SPEC).is_file():
        raise ConfigError(f"{flag} '{run_dir}' holds an unfinished run: continue it with "
                          f"'python run.py --resume {run_dir}', or give a new {flag}.")
    raise ConfigError(f"{flag} '{run_dir}' is not empty: give a new or empty directory "
                      "(a run writes run.log, checkpoint/, result.json ... there).")


OVERWRITE_FLAG = "--overwrite"  # the one spelling every command uses to replace an existing output file


def check_output_path(path: Path, flag: str, directory: bool = False, overwrite: bool = True) -> None:
    """Refuse, before any work, an output path that cannot be written: a file where a directory is
    wanted or the other way round, a parent that cannot be created, no permission to write, and an
    existing file unless ``overwrite`` (the command's ``--overwrite``; the replacement is written to
    a temporary file and renamed, so a failure leaves the old file whole). Missing parent
    directories are created (never ``path`` itself)."""
    path = Path(path)
    kind = "directory" if directory else "file"
    if path.exists() and path.is_dir() != directory:
        raise ConfigError(f"{flag} '{path}' is a {'file' if directory else 'directory'}: give a {kind} path.")
    if not directory and path.exists() and not overwrite:
        raise ConfigError(f"{flag} '{path}' already exists and is never replaced without being asked: add "
                          f"{OVERWRITE_FLAG} to replace it, or give another path.")
    folder = path if directory and path.exists() else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(f"{flag} '{path}' cannot be written ({reason}: {error.filename or folder}): "
                          f"give a {kind} path you can write.") from None
    if path.exists() and not directory and not os.access(path, os.W_OK):
        raise ConfigError(f"{flag} '{path}' is not writable: give another file or change its permissions.")
