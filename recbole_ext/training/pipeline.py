"""Train and evaluate one run: seed -> dataset -> dataloaders -> model -> ``Trainer.fit`` -> ``evaluate``.

The same function serves ``run.py``, hyperparameter tuning and the benchmark tables. Every run gets
its own output directory, so parallel runs never overwrite each other::

    <output_dir>/
      run.log            RecBole's log of the run
      checkpoint/        the best model (RecBole's checkpoint format)
      log_tensorboard/   tensorboard events
      config.yaml        the resolved configuration
      result.json        the result dict returned by :func:`run`
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import colorlog
import numpy as np
import torch
import yaml

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.config import Config
from recbole.utils import ModelType, get_trainer, init_seed
from recbole.utils.logger import RemoveColorFilter, log_colors_config

from recbole_ext import protocols
from recbole_ext.training import distributed
from recbole_ext.compat import load_trusted_checkpoint
from recbole_ext.config import build_config, resolve_config_file
from recbole_ext.errors import ConfigError, Interrupted
from recbole_ext.outputs import (
    CHECKPOINT_DIR, DEFAULT_OUTPUT_ROOT, FAILED_MARK, RESULT, RESUME_STATE, RUN_SPEC, check_fresh_run_dir, new_run_dir, write_atomically,
)
from recbole_ext.checks import check_trainable
from recbole_ext.protocols import describe as describe_protocol
from recbole_ext.data.loading import load_dataset, make_loaders
from recbole_ext.training.precision import with_precision



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
        raise ConfigError(f"'{run_dir}' is not a recbole-ext run directory (no {RUN_SPEC}): give the "
                          "directory a run wrote, e.g. outputs/SASRecPaper-ml-100k-<time>-<id>.")
    if (run_dir / RESULT).is_file():
        raise ConfigError(f"The run in '{run_dir}' already finished (see its result.json): nothing to resume.")
    try:
        spec = json.loads(spec_file.read_text())
        spec["model"], spec["dataset"], spec["config_files"], spec["overrides"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"'{spec_file}' cannot be read ({type(error).__name__}): it is damaged, so the run cannot "
                          "be resumed; start a fresh run with the same settings.") from None
    check_resume_state(run_dir)
    if data_path is not None:  # the data moved since the run started: the folder holding NAME/NAME.inter now
        spec["overrides"]["data_path"] = str(Path(data_path).expanduser().resolve())
        write_atomically(spec_file, json.dumps(spec, indent=2, default=str) + "\n")
    config = build_config(spec["model"], spec["dataset"], spec["config_files"], spec["overrides"])
    check_config_unchanged(config, run_dir, spec)
    if not (run_dir / RESUME_STATE).is_file():
        logging.getLogger(__name__).warning(
            f"{run_dir} has no {RESUME_STATE} (it stopped before its first validation): the run starts over there.")
    return run_config(config, run_dir, spec=spec, resume=True)


# Keys that describe the machine a run is on, not the run: a resume elsewhere may differ in them.
MACHINE_KEYS = {"device", "gpu_id", "use_gpu", "local_rank", "single_spec", "world_size", "nproc", "offset", "ip",
                "port", "checkpoint_dir", "data_path"}


def check_config_unchanged(config: Config, run_dir: Path, spec: Mapping[str, Any]) -> None:
    """Refuse to resume a run whose ``config.yaml`` was edited since the run wrote it (a resume would
    silently continue with the old settings and write them back): name what changed and the fresh run."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return
    try:
        written = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        written = None
    if not isinstance(written, dict):
        raise ConfigError(f"'{path}' cannot be read as the run's configuration: put back the file the run wrote, or "
                          "start a fresh run.")
    now = {key: plain_value(value) for key, value in config.final_config_dict.items()}
    # keys the file does not hold are new in this version of recbole-ext: a run started before an upgrade resumes
    changed = sorted(key for key in written if key not in MACHINE_KEYS and written[key] != now.get(key))
    if changed:
        shown = "; ".join(f"{key}: {now.get(key)!r} -> {written.get(key)!r}" for key in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        flags = " ".join(f"--{key}={written.get(key)}" for key in changed[:3])
        files = " ".join(spec["config_files"])
        raise ConfigError(f"'{path}' was edited since the run wrote it ({shown}{more}); --resume continues a run "
                          "with the settings it started with, so it is refused. Undo the edit, or start a fresh run "
                          f"with the new settings: python run.py --model {spec['model']} --dataset {spec['dataset']}"
                          f"{' --config_files ' + files if files else ''} {flags}")


def check_resume_state(run_dir: Path) -> None:
    """Refuse, before any work, a resume state that cannot be read or whose best checkpoint is gone."""
    state_file = run_dir / RESUME_STATE
    if not state_file.is_file():
        return  # killed before its first validation: the run starts over in its directory
    try:
        state = load_trusted_checkpoint(state_file, map_location="cpu")
        best = run_dir / CHECKPOINT_DIR / state["saved_model_file"]
    except Exception as error:  # EOFError, RuntimeError, UnpicklingError, KeyError ... for damaged bytes
        raise ConfigError(f"'{state_file}' cannot be read ({type(error).__name__}): it is truncated or damaged, so "
                          f"the run cannot be resumed. Delete it to start the run over in '{run_dir}', or start "
                          "a fresh run.") from None
    if not best.is_file():
        raise ConfigError(f"The run's best checkpoint '{best}' is missing, so the run cannot be resumed: put it "
                          f"back, or delete '{state_file}' to start the run over.")


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
            f"{reason}\n" + (f"Resume with: {distributed.resume_command(run_dir)}\n" if resumable else ""))
        if isinstance(error, distributed.RankLost) and resumable:
            raise distributed.RankLost(f"{error}: the state after the last completed validation is kept; resume "
                                       f"with: {distributed.resume_command(run_dir)}") from None
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
        dataset = load_dataset(config, world)
        logger.info(dataset)
        data_notes = [*getattr(dataset, "filter_notes", []), *check_trainable(config, dataset)]
        for note in data_notes:
            logger.warning(note)
        train_data, valid_data, test_data = make_loaders(config, dataset)
        if world is not None:
            for loader in (train_data, valid_data, test_data):
                if loader:
                    distributed.shard_batches(loader, world)

        # Each rank its own seed (dropout ...); DDP starts every rank from rank 0's initial model.
        init_seed(config["seed"] + (world.rank if world else 0), config["reproducibility"])
        model = config.model_class(config, train_data._dataset).to(config["device"])
        logger.info(model)
        trainer_class = trainer_class_for(config)
        if world is not None:
            trainer_class = distributed.data_parallel(trainer_class, world)
        trainer = trainer_class(config, model)
        closing.callback(trainer.tensorboard.close)  # also when interrupted: its writer thread ends here

        curve = ValidationCurve(config["max_train_seconds"])
        finished = False
        resumed_from = None
        # Every torch generator training draws from besides the global one: loaders' shuffles and
        # negative samplers, a model's own (GRU4RecPaper's), the evaluation candidates'.
        generators = generators_of({"train_data": train_data, "valid_data": valid_data, "test_data": test_data,
                                    "model": model})
        if resume and distributed.broadcast_object((run_dir / RESUME_STATE).is_file(), world):
            finished, resumed_from = restore_training_state(trainer, curve, generators, run_dir / RESUME_STATE, world)
            logger.info(f"Resumed from {run_dir / RESUME_STATE}: epoch {resumed_from} done, "
                        f"{curve.already:.1f} s trained so far.")

        def after_validation(epoch_idx: int, valid_score: float) -> None:
            curve.add(epoch_idx, valid_score)  # first: the saved state holds this point
            over_cap = distributed.broadcast_object(curve.over_cap(), world)  # rank 0's clock decides
            stopped = trainer.cur_step > trainer.stopping_step or epoch_idx + 1 >= trainer.epochs or over_cap
            save_training_state(trainer, curve, generators, epoch_idx, stopped, over_cap, run_dir / RESUME_STATE,
                                world)
            if over_cap:
                curve.cap_reached = True
                raise TimeCapReached

        if not finished:
            try:
                with distributed.collective("training"):
                    trainer.fit(train_data, valid_data, saved=True, show_progress=config["show_progress"],
                                callback_fn=after_validation)
            except TimeCapReached:
                logger.info(f"Stopped: max_train_seconds={config['max_train_seconds']} reached.")
        best_valid_score, best_valid_result = trainer.best_valid_score, trainer.best_valid_result
        train_seconds = curve.elapsed()
        test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=config["show_progress"])

    epochs = len(trainer.train_loss_dict)
    memory_per_rank = distributed.gather_objects(
        (round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), proportional_set_size_mb()), world)
    peak_rss_per_rank, pss_per_rank = ([rank[i] for rank in memory_per_rank] for i in (0, 1))
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "eval_protocol": eval_protocol(config),
        # None when there was no validation part (e.g. a train/test-only split): no inf in the JSON.
        "best_valid_score": float(best_valid_score) if best_valid_result else None,
        "best_valid_result": floats(best_valid_result),
        "test_result": floats(test_result),
        "train_seconds": round(train_seconds, 3),
        "epochs": epochs,
        "seconds_per_epoch": round(train_seconds / max(epochs, 1), 3),
        "stopped_by_time_cap": curve.cap_reached,
        "valid_curve": curve.points,
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
        "seed": config["seed"],
        "data_notes": data_notes,
        "resumed": resumed_from is not None,
        "resumed_after_epoch": resumed_from,
        "output_dir": str(run_dir),
    }


def generators_of(owners: Mapping[str, Any]) -> dict[str, torch.Generator]:
    """The ``torch.Generator`` attributes of ``owners`` (of each submodule, for a module), by dotted name."""
    found = {}
    for name, owner in owners.items():
        parts = owner.named_modules(prefix=name) if isinstance(owner, torch.nn.Module) else [(name, owner)]
        for prefix, part in parts:
            for attribute, value in vars(part).items():
                if isinstance(value, torch.Generator):
                    found[f"{prefix}.{attribute}"] = value
    return found


def save_training_state(trainer: Any, curve: "ValidationCurve", generators: Mapping[str, torch.Generator],
                        epoch_idx: int, stopped: bool, cap_reached: bool, path: Path,
                        world: distributed.World | None = None) -> None:
    """Everything :func:`restore_training_state` needs, written atomically after each validation.

    With the model and optimizer go every random state the rest of training consumes: torch's,
    numpy's, Python's and CUDA's global generators and ``generators`` (:func:`generators_of`), of
    every rank (rank order), so a resumed run draws what the uninterrupted run would have drawn.
    Every rank calls this (it gathers the random states); rank 0 writes.
    """
    rng_per_rank = distributed.gather_objects(random_states(generators), world)
    if world is not None and not world.is_main:
        return
    state = {
        "epoch": epoch_idx,
        "stopped": stopped,
        "cur_step": trainer.cur_step,
        "best_valid_score": trainer.best_valid_score,
        "best_valid_result": trainer.best_valid_result,
        "train_loss_dict": trainer.train_loss_dict,
        "saved_model_file": Path(trainer.saved_model_file).name,
        "state_dict": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "curve_points": curve.points,
        "cap_reached": cap_reached,
        "seconds": curve.elapsed(),
        "rng_per_rank": rng_per_rank,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def random_states(generators: Mapping[str, torch.Generator]) -> dict[str, Any]:
    """This process's global random states and those of ``generators``."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "generators": {name: generator.get_state() for name, generator in generators.items()}}


def restore_training_state(trainer: Any, curve: "ValidationCurve", generators: Mapping[str, torch.Generator],
                           path: Path, world: distributed.World | None = None) -> tuple[bool, int]:
    """Load ``path`` (rank 0 reads it, every rank gets it) into ``trainer``, ``curve`` and ``generators``.

    Returns (whether training had ended, epochs done).
    """
    state = load_trusted_checkpoint(path, map_location="cpu") if world is None or world.is_main else None
    state = distributed.broadcast_object(state, world)
    saved_ranks = len(state["rng_per_rank"])
    if saved_ranks != (world.size if world else 1):
        raise ConfigError(f"{path} was saved by a run of {saved_ranks} process(es); this one has "
                          f"{world.size if world else 1}: resume with the same number of processes (torchrun "
                          "--nproc_per_node/--nnodes as before) to continue exactly.")
    trainer.model.load_state_dict(state["state_dict"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.start_epoch = state["epoch"] + 1
    trainer.cur_step = state["cur_step"]
    trainer.best_valid_score = state["best_valid_score"]
    trainer.best_valid_result = state["best_valid_result"]
    trainer.train_loss_dict = state["train_loss_dict"]
    trainer.saved_model_file = str(Path(trainer.checkpoint_dir) / state["saved_model_file"])
    curve.points = list(state["curve_points"])
    curve.already = float(state["seconds"])
    curve.cap_reached = bool(state["cap_reached"])
    rng = state["rng_per_rank"][world.rank if world else 0]
    torch.set_rng_state(rng["torch"].cpu())
    np.random.set_state(rng["numpy"])
    random.setstate(rng["random"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([r.cpu() for r in rng["cuda"]])
    saved = rng.get("generators", {})
    if set(saved) != set(generators):
        raise ConfigError(f"{path} was saved by a run with other random generators ({', '.join(sorted(saved)) or 'none'}; "
                          f"this run has {', '.join(sorted(generators)) or 'none'}): it cannot be resumed exactly. "
                          "Start a fresh run with the same settings instead.")
    for name, generator in generators.items():
        generator.set_state(saved[name].cpu() if generator.device.type == "cpu" else saved[name])
    return bool(state["stopped"]), int(state["epoch"]) + 1


class TimeCapReached(Exception):
    """Raised between epochs once ``max_train_seconds`` have passed (the best model is saved)."""


class ValidationCurve:
    """Validation score against training time, one point per validation, and the time cap.

    :meth:`add` and the cap check (:meth:`over_cap`) run after each validation (``Trainer.fit``'s
    ``callback_fn``, after the best checkpoint is saved), so stopping there loses nothing. The
    points make time-to-quality measurable: when did a run first reach a given validation score?
    ``already`` holds the seconds of the part of a resumed run before the restart.
    """

    def __init__(self, max_seconds: float | None = None):
        self.max_seconds = max_seconds
        self.start = time.perf_counter()
        self.already = 0.0
        self.points: list[dict[str, float]] = []
        self.cap_reached = False

    def elapsed(self) -> float:
        return self.already + time.perf_counter() - self.start

    def add(self, epoch_idx: int, valid_score: float) -> None:
        self.points.append({"epoch": epoch_idx + 1, "seconds": round(self.elapsed(), 3),
                            "valid_score": float(valid_score)})

    def over_cap(self) -> bool:
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds


def seconds_to_reach(curve: list[dict[str, float]], score: float) -> float | None:
    """Training seconds until the validation score first reached ``score`` (None: never)."""
    return next((point["seconds"] for point in curve if point["valid_score"] >= score), None)


def eval_protocol(config: Config) -> str:
    """A short, table-ready description of how the numbers were computed."""
    split = config["eval_args"]["split"]
    split_name = "leave-one-out" if split == {"LS": "valid_and_test"} else f"split {split}"
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:
        split_name = ("leave-one-out" if config["split_protocol"] in (None, "leave_one_out") else
                      f"user holdout ({config['holdout_user_num']} test users)")
    ours = describe_protocol(config)  # ranking_protocol full_masked / sampled_masked
    if ours is not None:
        return f"{split_name}, {ours}"
    test_mode = config["eval_args"]["mode"]["test"]
    if test_mode == "full":
        ranking = "full ranking (RecBole: seen items not masked)"
    elif test_mode.startswith("uni"):
        ranking = f"{test_mode[3:]} uniform negatives (RecBole: seen items may be sampled)"
    elif test_mode.startswith("pop"):
        ranking = f"{test_mode[3:]} popularity negatives (RecBole)"
    else:
        ranking = test_mode
    return f"{split_name}, {ranking}"


def trainer_class_for(config: Config) -> type:
    """The trainer of ``config``'s model: its own (e.g. one that knows more optimizers) or RecBole's,
    ranking in item chunks where the model and metrics allow (:func:`protocols.ranks_in_item_chunks`), training
    under ``precision`` (:func:`recbole_ext.training.precision.with_precision`)."""
    trainer_class = getattr(config.model_class, "trainer_class", None) or get_trainer(
        config["MODEL_TYPE"], config["model"])
    if protocols.ranks_in_item_chunks(config):
        trainer_class = protocols.item_chunked(trainer_class)
    if config["precision"] == "bf16":
        trainer_class = with_precision(trainer_class)
    return trainer_class


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


def plain_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return str(value)


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
