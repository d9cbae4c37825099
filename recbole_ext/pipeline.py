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
import resource
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import colorlog
import torch
import yaml

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_trainer, init_seed
from recbole.utils.logger import RemoveColorFilter, log_colors_config

from recbole_ext.config import build_config
from recbole_ext.loaders.user_sequences import swap_train_loader
from recbole_ext.evaluation import describe as describe_protocol
from recbole_ext.evaluation import protocol_dataloaders

DEFAULT_OUTPUT_ROOT = Path("outputs")


def run(
    model: str | type,
    dataset: str,
    config_files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Build the config (see :func:`recbole_ext.build_config`), train, evaluate; return the result."""
    config = build_config(model, dataset, config_files, overrides)
    return run_config(config, output_dir)


def run_config(config: Config, output_dir: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate the run ``config`` describes, inside its own output directory."""
    run_dir = Path(output_dir) if output_dir else new_run_dir(config)
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config["checkpoint_dir"] = str(run_dir / "checkpoint")
    write_config(config, run_dir / "config.yaml")

    if config["torch_threads"]:
        torch.set_num_threads(int(config["torch_threads"]))
    on_cuda = torch.device(config["device"]).type == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(config["device"])

    # RecBole writes its logs and tensorboard events relative to the working directory.
    with contextlib.chdir(run_dir), run_logger(config, run_dir / "run.log") as logger:
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        logger.info(dataset)
        train_data, valid_data, test_data = data_preparation(config, dataset)
        train_data = swap_train_loader(config, train_data)  # the model's own, e.g. one row per user
        valid_data, test_data = protocol_dataloaders(config, train_data, valid_data, test_data)

        init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        model = config.model_class(config, train_data._dataset).to(config["device"])
        logger.info(model)
        # A model may name its own trainer (e.g. one that knows more optimizers); else RecBole's.
        trainer_class = getattr(config.model_class, "trainer_class", None) or get_trainer(
            config["MODEL_TYPE"], config["model"])
        trainer = trainer_class(config, model)

        curve = ValidationCurve(config["max_train_seconds"])
        try:
            best_valid_score, best_valid_result = trainer.fit(
                train_data, valid_data, saved=True, show_progress=config["show_progress"],
                callback_fn=curve.record,
            )
        except TimeCapReached:
            logger.info(f"Stopped: max_train_seconds={config['max_train_seconds']} reached.")
            best_valid_score, best_valid_result = trainer.best_valid_score, trainer.best_valid_result
        train_seconds = curve.elapsed()
        test_result = trainer.evaluate(
            test_data, load_best_model=True, show_progress=config["show_progress"]
        )
        trainer.tensorboard.close()

    epochs = len(trainer.train_loss_dict)
    result = {
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
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # torch.cuda.max_memory_allocated of this run; None on the CPU.
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated(config["device"]) / 2**20, 1) if on_cuda else None,
        "device": str(config["device"]),
        "torch_threads": torch.get_num_threads(),
        "seed": config["seed"],
        "output_dir": str(run_dir),
    }
    (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


class TimeCapReached(Exception):
    """Raised between epochs once ``max_train_seconds`` have passed (the best model is saved)."""


class ValidationCurve:
    """Validation score against training time, one point per validation; enforces the time cap.

    Its :meth:`record` is ``Trainer.fit``'s ``callback_fn``, called after each validation (and after
    the best checkpoint is saved), so stopping there loses nothing. The points make time-to-quality
    measurable: when did a run first reach a given validation score?
    """

    def __init__(self, max_seconds: float | None = None):
        self.max_seconds = max_seconds
        self.start = time.perf_counter()
        self.points: list[dict[str, float]] = []
        self.cap_reached = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def record(self, epoch_idx: int, valid_score: float) -> None:
        seconds = self.elapsed()
        self.points.append({"epoch": epoch_idx + 1, "seconds": round(seconds, 3), "valid_score": float(valid_score)})
        if self.max_seconds is not None and seconds >= self.max_seconds:
            self.cap_reached = True
            raise TimeCapReached


def seconds_to_reach(curve: list[dict[str, float]], score: float) -> float | None:
    """Training seconds until the validation score first reached ``score`` (None: never)."""
    return next((point["seconds"] for point in curve if point["valid_score"] >= score), None)


def eval_protocol(config: Config) -> str:
    """A short, table-ready description of how the numbers were computed."""
    split = config["eval_args"]["split"]
    split_name = "leave-one-out" if split == {"LS": "valid_and_test"} else f"split {split}"
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


def new_run_dir(config: Config, root: Path = DEFAULT_OUTPUT_ROOT) -> Path:
    """``outputs/<model>-<dataset>-<time>-<random>``: unique even for runs started in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return root / f"{config['model']}-{config['dataset']}-{stamp}-{uuid.uuid4().hex[:6]}"


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
    console follows ``state``.
    """
    level = getattr(logging, str(config["state"] or "INFO").upper(), logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(level)
    console.setFormatter(
        colorlog.ColoredFormatter(
            "%(log_color)s%(asctime)-15s %(levelname)s  %(message)s", "%d %b %H:%M", log_colors=log_colors_config
        )
    )
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
