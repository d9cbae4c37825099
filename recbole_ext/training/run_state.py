"""What a run changes as it trains and must survive a restart, in one object: :class:`RunState`.

It holds the validation curve (score against training seconds), the time cap, every random
generator training draws from, and the collectives these need under ``torchrun``. After each
validation (``Trainer.fit``'s ``callback_fn``, once the best checkpoint is saved) it records the
point, decides whether the time cap stops the run (rank 0's clock) and writes ``resume.pth``
atomically; ``--resume`` restores all of it, so a resumed run draws what the uninterrupted run
would have drawn. The checks that a run directory can be resumed at all live here too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from recbole_ext.compat import load_trusted_checkpoint
from recbole_ext.errors import ConfigError, RunError
from recbole_ext.outputs import CHECKPOINT_DIR, RESUME_STATE, save_atomically
from recbole_ext.training import distributed


class TimeCapReached(Exception):
    """Raised between epochs once ``max_train_seconds`` have passed (the best model is saved)."""


class RunState:
    """A run's validation curve, time cap and random generators; saved after every validation.

    ``generators``: every ``torch.Generator`` training draws from besides the global ones
    (:func:`generators_of`); ``path``: the run's ``resume.pth``; ``world``: the torchrun world
    (None for one process). ``points`` are ``{"epoch", "seconds", "valid_score"}``, one per
    validation; ``already`` the seconds trained before a resume.
    """

    def __init__(self, max_seconds: float | None, generators: Mapping[str, torch.Generator], path: Path,
                 world: distributed.World | None = None) -> None:
        self.max_seconds = max_seconds
        self.generators = dict(generators)
        self.path = path
        self.world = world
        self.start = time.perf_counter()
        self.already = 0.0
        self.points: list[dict[str, float]] = []
        self.cap_reached = False

    def elapsed(self) -> float:
        return self.already + time.perf_counter() - self.start

    def over_cap(self) -> bool:
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds

    def can_resume(self) -> bool:
        """Whether rank 0 finds a saved state to continue from."""
        return distributed.broadcast_object(self.path.is_file(), self.world)

    def after_validation(self, trainer: Any):
        """``Trainer.fit``'s ``callback_fn``: record the point, save the state, stop at the time cap."""
        def callback(epoch_idx: int, valid_score: float) -> None:
            self.points.append({"epoch": epoch_idx + 1, "seconds": round(self.elapsed(), 3),
                                "valid_score": float(valid_score)})  # first: the saved state holds this point
            over_cap = distributed.broadcast_object(self.over_cap(), self.world)  # rank 0's clock decides
            stopped = trainer.cur_step > trainer.stopping_step or epoch_idx + 1 >= trainer.epochs or over_cap
            self.save(trainer, epoch_idx, stopped, over_cap)
            if over_cap:
                self.cap_reached = True
                raise TimeCapReached
        return callback

    def save(self, trainer: Any, epoch_idx: int, stopped: bool, cap_reached: bool) -> None:
        """Everything :meth:`restore` needs, written atomically (rank 0) with every rank's random states.

        With the model and optimizer go torch's, numpy's, Python's and CUDA's global generators and
        :attr:`generators`, of every rank (rank order). Every rank calls this (it gathers the states).
        """
        rng_per_rank = distributed.gather_objects(random_states(self.generators), self.world)
        if self.world is not None and not self.world.is_main:
            return
        save_atomically(self.path, {
            "epoch": epoch_idx,
            "stopped": stopped,
            "cur_step": trainer.cur_step,
            "best_valid_score": trainer.best_valid_score,
            "best_valid_result": trainer.best_valid_result,
            "train_loss_dict": trainer.train_loss_dict,
            "saved_model_file": Path(trainer.saved_model_file).name,
            "state_dict": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "curve_points": self.points,
            "cap_reached": cap_reached,
            "seconds": self.elapsed(),
            "rng_per_rank": rng_per_rank,
        })

    def restore(self, trainer: Any) -> tuple[bool, int]:
        """Load :attr:`path` (rank 0 reads it, every rank gets it) into ``trainer`` and this state.

        Returns (whether training had ended, epochs done).
        """
        world = self.world
        state = load_trusted_checkpoint(self.path, map_location="cpu") if world is None or world.is_main else None
        state = distributed.broadcast_object(state, world)
        saved_ranks = len(state["rng_per_rank"])
        if saved_ranks != (world.size if world else 1):
            raise RunError(f"{self.path} was saved by a run of {saved_ranks} process(es); this one has "
                           f"{world.size if world else 1}: resume with the same number of processes (torchrun "
                           "--nproc_per_node/--nnodes as before) to continue exactly.")
        rng = state["rng_per_rank"][world.rank if world else 0]
        saved = rng.get("generators", {})
        if set(saved) != set(self.generators):
            raise RunError(f"{self.path} was saved by a run with other random generators "
                           f"({', '.join(sorted(saved)) or 'none'}; this run has "
                           f"{', '.join(sorted(self.generators)) or 'none'}): it cannot be resumed exactly. "
                           "Start a fresh run with the same settings instead.")
        trainer.model.load_state_dict(state["state_dict"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.start_epoch = state["epoch"] + 1
        trainer.cur_step = state["cur_step"]
        trainer.best_valid_score = state["best_valid_score"]
        trainer.best_valid_result = state["best_valid_result"]
        trainer.train_loss_dict = state["train_loss_dict"]
        trainer.saved_model_file = str(Path(trainer.checkpoint_dir) / state["saved_model_file"])
        self.points = list(state["curve_points"])
        self.already = float(state["seconds"])
        self.cap_reached = bool(state["cap_reached"])
        torch.set_rng_state(rng["torch"].cpu())
        np.random.set_state(rng["numpy"])
        random.setstate(rng["random"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([r.cpu() for r in rng["cuda"]])
        for name, generator in self.generators.items():
            generator.set_state(saved[name].cpu() if generator.device.type == "cpu" else saved[name])
        return bool(state["stopped"]), int(state["epoch"]) + 1


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


def random_states(generators: Mapping[str, torch.Generator]) -> dict[str, Any]:
    """This process's global random states and those of ``generators``."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "generators": {name: generator.get_state() for name, generator in generators.items()}}


def seconds_to_reach(curve: list[dict[str, float]], score: float) -> float | None:
    """Training seconds until the validation score first reached ``score`` (None: never).

    >>> seconds_to_reach([{"seconds": 1.0, "valid_score": 0.1}, {"seconds": 2.5, "valid_score": 0.3}], 0.2)
    2.5
    """
    return next((point["seconds"] for point in curve if point["valid_score"] >= score), None)


# ------------------------------------------------------------------ can this directory be resumed?
# Keys that describe the machine a run is on, not the run: a resume elsewhere may differ in them.
MACHINE_KEYS = {"device", "gpu_id", "use_gpu", "local_rank", "single_spec", "world_size", "nproc", "offset", "ip",
                "port", "checkpoint_dir", "data_path"}


def check_resume_state(run_dir: Path) -> None:
    """Refuse, before any work, a resume state that cannot be read or whose best checkpoint is gone."""
    state_file = run_dir / RESUME_STATE
    if not state_file.is_file():
        return  # killed before its first validation: the run starts over in its directory
    try:
        state = load_trusted_checkpoint(state_file, map_location="cpu")
        best = run_dir / CHECKPOINT_DIR / state["saved_model_file"]
    except Exception as error:  # EOFError, RuntimeError, UnpicklingError, KeyError ... for damaged bytes
        raise RunError(f"'{state_file}' cannot be read ({type(error).__name__}): it is truncated or damaged, so "
                       f"the run cannot be resumed. Delete it to start the run over in '{run_dir}', or start "
                       "a fresh run.") from None
    if not best.is_file():
        raise RunError(f"The run's best checkpoint '{best}' is missing, so the run cannot be resumed: put it "
                       f"back, or delete '{state_file}' to start the run over.")


def check_config_unchanged(final_config: Mapping[str, Any], run_dir: Path, spec: Mapping[str, Any]) -> None:
    """Refuse to resume a run whose ``config.yaml`` was edited since the run wrote it (a resume would
    silently continue with the old settings and write them back): name what changed and the fresh run.

    ``final_config``: the resolved configuration now, as :func:`plain_value` writes it."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return
    try:
        written = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        written = None
    if not isinstance(written, dict):
        raise RunError(f"'{path}' cannot be read as the run's configuration: put back the file the run wrote, or "
                       "start a fresh run.")
    now = {key: plain_value(value) for key, value in final_config.items()}
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


def plain_value(value: Any) -> Any:
    """A configuration value as YAML can hold it (objects RecBole keeps are written as text).

    >>> plain_value({"mode": ("full", 1), "device": object})
    {'mode': ['full', 1], 'device': "<class 'object'>"}
    """
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return str(value)
