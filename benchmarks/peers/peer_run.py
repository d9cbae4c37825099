"""What the peers' runners share: their command line and the run.json they write. Imports nothing of recbole_ext
(it runs inside a peer's virtualenv)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path
from types import ModuleType

import torch


def parse_arguments(description: str, hparams_help: str) -> argparse.Namespace:
    """The runners' flags; sets torch's threads and seed from them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--interactions", type=Path, required=True, help="recbole-ext-split --interactions FILE")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, required=True, help="training seconds")
    parser.add_argument("--max_epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--hparams", default="{}", help=hparams_help)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return args


def write_run(args: argparse.Namespace, library: str, model: str, epoch_ends: list[float], started: float,
              seconds: float) -> None:
    """``run.json``: whole epochs, training seconds, seconds per whole epoch (from the start to the last whole
    epoch's end: an epoch cut by the budget counts in neither), peak RSS, versions."""
    per_epoch = (epoch_ends[-1] - started) / len(epoch_ends) if epoch_ends else seconds
    (args.out / "run.json").write_text(json.dumps({
        "library": library, "model": model, "epochs": len(epoch_ends),
        "train_seconds": round(seconds, 3), "seconds_per_epoch": round(per_epoch, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch": torch.__version__, "threads": args.threads}, indent=2) + "\n")


def budget_trainer(lightning: ModuleType, args: argparse.Namespace, epoch_ends: list[float]):
    """``lightning``'s ``Trainer`` (the peer's package: ``lightning`` or ``pytorch_lightning``) on the CPU, stopping
    at ``args.budget`` seconds (``max_time``) or ``args.max_epochs``; the end time of every whole epoch is appended
    to ``epoch_ends``. An epoch cut by ``max_time`` is not counted (Lightning ends it with the same
    ``on_train_epoch_end`` as a whole one)."""

    class EpochClock(lightning.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.fit_loop.epoch_loop.batch_progress.current.completed >= trainer.num_training_batches:
                epoch_ends.append(time.perf_counter())

    return lightning.Trainer(max_epochs=args.max_epochs, max_time=dt.timedelta(seconds=args.budget),
                             accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
                             logger=False, enable_checkpointing=False, callbacks=[EpochClock()])


def fit_within_budget(lightning: ModuleType, model, loader,
                      args: argparse.Namespace) -> tuple[list[float], float, float]:
    """Train ``model`` with :func:`budget_trainer`; returns ``epoch_ends``, ``started`` and ``seconds`` for
    :func:`write_run`."""
    epoch_ends: list[float] = []
    trainer = budget_trainer(lightning, args, epoch_ends)
    started = time.perf_counter()
    trainer.fit(model, loader)
    return epoch_ends, started, time.perf_counter() - started
