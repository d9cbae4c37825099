"""Train and evaluate one run, from the configuration down to RecBole's Trainer and back.

The same function serves ``run.py``, hyperparameter tuning and the benchmark tables. A run flows
downward, and nothing below calls back up::

    run / resume                                   (this module: the orchestration)
      build_config                                 recbole_ext.config, recbole_ext.checks
      run_config -> _run_in_directory -> _train_and_evaluate
        load_dataset, make_loaders                 recbole_ext.loading, recbole_ext.protocols
        trainer_class_for(config, world)           recbole_ext.training.trainers
        RunState                                   recbole_ext.training.run_state (curve, time cap,
                                                   random generators, resume.pth)
        Trainer.fit(..., callback_fn=state.after_validation(trainer)), Trainer.evaluate
      -> the result dict, written as result.json

Every run gets its own output directory, so parallel runs never overwrite each other::

    <output_dir>/
      run.log            RecBole's log of the run
      checkpoint/        the best model (RecBole's checkpoint format)
      log_tensorboard/   tensorboard events
      config.yaml        the resolved configuration
      result.json        the result dict returned by :func:`run`
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import resource
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import colorlog
import torch
import yaml

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.config import Config
from recbole.utils import init_seed
from recbole.utils.logger import RemoveColorFilter, log_colors_config

from recbole_ext import protocols
from recbole_ext.checks import check_trainable
from recbole_ext.config import build_config, resolve_config_file
from recbole_ext.loading import load_dataset, make_loaders
from recbole_ext.errors import Interrupted, RunError
from recbole_ext.outputs import (
    CHECKPOINT_DIR, FAILED_MARK, RESULT, RESUME_STATE, RUN_SPEC, check_fresh_run_dir, new_run_dir, write_atomically,
)
from recbole_ext.torchrun import resume_command
from recbole_ext.training import distributed
from recbole_ext.training.run_state import (
    RunState, TimeCapReached, check_config_unchanged, check_resume_state, generators_of, plain_value,
)
from recbole_ext.training.trainers import trainer_class_for



def run(
    model: str | type,
    dataset: str,
    config_files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Build the config (see :func:`recbole_ext.build_config`), train, evaluate; return the result."""
    config = build_config(model, dataset, config_files, overrides)
    spec = {
        "model": model if isinstance(model, str) else model.__name__,
        "dataset": dataset,
        "config_files": [str(resolve_config_file(p).resolve()) for p in config_files],
        # data_path as resolved now: a resume from another working directory finds the same data
        "overrides": {**(overrides or {}), "data_path": str(Path(config["data_path"]).parent)},
    }
    return run_config(config, output_dir, spec=spec)


def resume(run_dir: str | Path, data_path: str | Path | None = None) -> dict[str, Any]:
    """Continue an interrupted run in ``run_dir`` from its last completed validation epoch.

    The model, optimizer, early-stopping state, best checkpoint, validation curve and training time
    so far are restored; the run goes on in the same directory and its result says ``resumed``. A run
    killed before its first validation starts over in the same directory. ``data_path``: where the
    run's data is now, if it moved (recorded in ``run.json`` for later resumes).
    """
    run_dir = Path(run_dir).resolve()
    spec_file = run_dir / RUN_SPEC
    if not spec_file.is_file():
        raise RunError(f"'{run_dir}' is not a recbole-ext run directory (no {RUN_SPEC}): give the "
                          "directory a run wrote, e.g. outputs/SASRecPaper-ml-100k-<time>-<id>.")
    if (run_dir / RESULT).is_file():
        raise RunError(f"The run in '{run_dir}' already finished (see its result.json): nothing to resume.")
    try:
        spec = json.loads(spec_file.read_text())
        spec["model"], spec["dataset"], spec["config_files"], spec["overrides"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(f"'{spec_file}' cannot be read ({type(error).__name__}): it is damaged, so the run cannot "
                          "be resumed; start a fresh run with the same settings.") from None
    check_resume_state(run_dir)
    if data_path is not None:  # the data moved since the run started: the folder holding NAME/NAME.inter now
        spec["overrides"]["data_path"] = str(Path(data_path).expanduser().resolve())
        write_atomically(spec_file, json.dumps(spec, indent=2, default=str) + "\n")
    config = build_config(spec["model"], spec["dataset"], spec["config_files"], spec["overrides"])
    check_config_unchanged(config.final_config_dict, run_dir, spec)
    if not (run_dir / RESUME_STATE).is_file():
        logging.getLogger(__name__).warning(
            f"{run_dir} has no {RESUME_STATE} (it stopped before its first validation): the run starts over there.")
    return run_config(config, run_dir, spec=spec, resume=True)


def run_config(
    config: Config,
    output_dir: str | Path | None = None,
    spec: Mapping[str, Any] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and evaluate the run ``config`` describes, inside its own output directory.

    ``spec`` (what built ``config``) is written to ``run.json`` so the run can be resumed; ``resume``
    continues from the directory's ``resume.pth``; otherwise ``output_dir`` must be new or empty
    (a directory is never reused). A run that raises or is interrupted leaves ``FAILED.txt`` (why,
    and the command that resumes it) and no ``result.json``; what it wrote before stays.
    """
    world = distributed.join(torch.device(config["device"]))
    try:
        run_dir = Path(output_dir) if output_dir else new_run_dir(config["model"], config["dataset"])
        run_dir = Path(distributed.broadcast_object(str(run_dir.resolve()), world))  # rank 0's name for all
        if world is not None and not world.is_main:  # the other ranks write nothing into the run directory
            config["state"], config["show_progress"] = "ERROR", False  # and leave rank 0's warnings to rank 0
            with tempfile.TemporaryDirectory(prefix=f"recbole-ext-rank{world.rank}-") as scratch:
                return _train_and_evaluate(config, run_dir, Path(scratch), resume, world)
        return _run_in_directory(config, run_dir, spec, resume, world)
    finally:
        distributed.leave()


def _run_in_directory(config: Config, run_dir: Path, spec: Mapping[str, Any] | None, resume: bool,
                      world: distributed.World | None) -> dict[str, Any]:
    if not resume:
        check_fresh_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if spec is not None and not resume:
        write_atomically(run_dir / RUN_SPEC, json.dumps(spec, indent=2, default=str) + "\n")
    try:
        result = _train_and_evaluate(config, run_dir, run_dir, resume, world)
    except BaseException as error:
        resumable = (run_dir / RUN_SPEC).is_file()  # tuning trials have no run.json
        if isinstance(error, Interrupted):
            error.run_dir = run_dir if resumable else None
            reason = f"interrupted by {error.signal_name}"
        elif isinstance(error, KeyboardInterrupt):
            reason = "interrupted"
        else:
            reason = f"{type(error).__name__}: {error}"
        (run_dir / FAILED_MARK).write_text(
            f"{reason}\n" + (f"Resume with: {resume_command(run_dir)}\n" if resumable else ""))
        if isinstance(error, distributed.RankLost) and resumable:
            raise distributed.RankLost(f"{error}: the state after the last completed validation is kept; resume "
                                       f"with: {resume_command(run_dir)}") from None
        raise
    (run_dir / FAILED_MARK).unlink(missing_ok=True)
    write_atomically(run_dir / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def _train_and_evaluate(config: Config, run_dir: Path, workdir: Path, resume: bool,
                        world: distributed.World | None) -> dict[str, Any]:
    """Train and test in ``workdir`` (``run_dir``, or a scratch folder on a rank other than 0)."""
    config["checkpoint_dir"] = str(workdir / CHECKPOINT_DIR)
    write_config(config, workdir / "config.yaml")

    torch.set_num_threads(int(config["torch_threads"] or available_threads()))
    on_cuda = torch.device(config["device"]).type == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(config["device"])

    # RecBole writes its logs and tensorboard events relative to the working directory.
    with contextlib.ExitStack() as closing:
        closing.enter_context(contextlib.chdir(workdir))
        logger = closing.enter_context(run_logger(config, workdir / "run.log"))
        init_seed(config["seed"], config["reproducibility"])
        dataset = load_dataset(config, None if world is None or world.size == 1 else
                               functools.partial(distributed.one_copy_per_machine, world=world))
        logger.info(dataset)
        data_notes = [*getattr(dataset, "filter_notes", []), *check_trainable(config, dataset)]
        for note in data_notes:
            logger.warning(note)
        train_data, valid_data, test_data = make_loaders(config, dataset, world.shard if world else None)

        # Each rank its own seed (dropout ...); DDP starts every rank from rank 0's initial model.
        init_seed(config["seed"] + (world.rank if world else 0), config["reproducibility"])
        model = config.model_class(config, train_data._dataset).to(config["device"])
        logger.info(model)
        trainer = trainer_class_for(config, world)(config, model)
        closing.callback(trainer.tensorboard.close)  # also when interrupted: its writer thread ends here

        # Every torch generator training draws from besides the global one: loaders' shuffles and
        # negative samplers, a model's own (GRU4RecPaper's), the evaluation candidates'.
        generators = generators_of({"train_data": train_data, "valid_data": valid_data, "test_data": test_data,
                                    "model": model})
        state = RunState(config["max_train_seconds"], generators, run_dir / RESUME_STATE, world)
        finished, resumed_from = False, None
        if resume and state.can_resume():
            finished, resumed_from = state.restore(trainer)
            logger.info(f"Resumed from {state.path}: epoch {resumed_from} done, {state.already:.1f} s trained so far.")
        if not finished:
            try:
                with distributed.collective("training"):
                    trainer.fit(train_data, valid_data, saved=True, show_progress=config["show_progress"],
                                callback_fn=state.after_validation(trainer))
            except TimeCapReached:
                logger.info(f"Stopped: max_train_seconds={config['max_train_seconds']} reached.")
        best_valid_score, best_valid_result = trainer.best_valid_score, trainer.best_valid_result
        train_seconds = state.elapsed()
        test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=config["show_progress"])

    epochs = len(trainer.train_loss_dict)
    memory_per_rank = distributed.gather_objects(
        (round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), proportional_set_size_mb()), world)
    peak_rss_per_rank, pss_per_rank = ([rank[i] for rank in memory_per_rank] for i in (0, 1))
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "eval_protocol": protocols.describe(config),
        # None when there was no validation part (e.g. a train/test-only split): no inf in the JSON.
        "best_valid_score": float(best_valid_score) if best_valid_result else None,
        "best_valid_result": floats(best_valid_result),
        "test_result": floats(test_result),
        "train_seconds": round(train_seconds, 3),
        "epochs": epochs,
        "seconds_per_epoch": round(train_seconds / max(epochs, 1), 3),
        "stopped_by_time_cap": state.cap_reached,
        "valid_curve": state.points,
        "peak_rss_mb": peak_rss_per_rank[0],
        # every rank's peak RSS (MiB), rank 0 first: one entry for a one-process run
        "peak_rss_mb_per_rank": peak_rss_per_rank,
        # every rank's PSS (MiB) at the end: pages shared by N ranks count 1/N in each, so the
        # ranks' entries add up to what they hold together (RSS counts a shared page in every rank)
        "pss_mb_per_rank": pss_per_rank,
        "world_size": world.size if world else 1,
        # torch.cuda.max_memory_allocated of this run (of its last part, when resumed); None on the CPU.
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated(config["device"]) / 2**20, 1) if on_cuda else None,
        "device": str(config["device"]),
        "torch_threads": torch.get_num_threads(),
        "precision": config["precision"],  # as trained: precision auto resolved (recbole_ext.precision)
        "seed": config["seed"],
        "data_notes": data_notes,
        "resumed": resumed_from is not None,
        "resumed_after_epoch": resumed_from,
        "output_dir": str(run_dir),
    }


def available_threads() -> int:
    """``torch_threads: ~``: ``OMP_NUM_THREADS`` where set (Ray trials, torchrun ranks), else the cores this
    process may run on (its CPU affinity, not the machine's count)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def proportional_set_size_mb() -> float | None:
    """This process's proportional set size (MiB; Linux ``/proc/self/smaps_rollup``, else None)."""
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def floats(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    return {key: float(value) for key, value in (metrics or {}).items()}


def write_config(config: Config, path: Path) -> None:
    """The resolved configuration as YAML (values RecBole keeps as objects are written as text)."""
    plain = {key: plain_value(value) for key, value in sorted(config.final_config_dict.items())}
    path.write_text(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True))


@contextlib.contextmanager
def run_logger(config: Config, log_file: Path):
    """RecBole's console + file logging, sent to this run's ``log_file`` and removed afterwards.

    RecBole's own ``init_logger`` only configures logging the first time it is called in a process,
    so a second run would log into the first run's file. The file always gets the INFO log; the
    console follows ``state``, in colour only on a terminal.
    """
    level = getattr(logging, str(config["state"] or "INFO").upper(), logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(level)
    if console.stream.isatty():
        console.setFormatter(
            colorlog.ColoredFormatter(
                "%(log_color)s%(asctime)-15s %(levelname)s  %(message)s", "%d %b %H:%M", log_colors=log_colors_config
            )
        )
    else:  # redirected to a file or a pipe: no colour codes (RecBole puts some inside its messages too)
        console.setFormatter(logging.Formatter("%(asctime)-15s %(levelname)s  %(message)s", "%d %b %H:%M"))
        console.addFilter(RemoveColorFilter())
    file = logging.FileHandler(log_file, encoding="utf-8")
    file.setFormatter(logging.Formatter("%(asctime)-15s %(levelname)s  %(message)s", "%a %d %b %Y %H:%M:%S"))
    file.addFilter(RemoveColorFilter())
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = [console, file]
    root.setLevel(min(level, logging.INFO))
    try:
        yield root
    finally:
        file.close()
        root.handlers = saved_handlers
        root.setLevel(saved_level)
