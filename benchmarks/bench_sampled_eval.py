"""Cost of one evaluation pass under ``sampled_masked`` (each history encoded once) against
``full_masked`` and against RecBole's sampled path (each row repeated 1 + n times, one encoder pass
per copy), on the same model and rows, in one run.

    python benchmarks/bench_sampled_eval.py --dataset ml1m [--old_rows 512]

SASRecPaper with ``configs/sasrec-paper-ml1m.yaml`` (untrained: the cost does not depend on the
weights). RecBole's path is timed on the first ``--old_rows`` rows and scaled to all rows (on a CPU
the whole pass takes minutes). Target (issue 14): sampled_masked at most 2x full_masked.
"""

from __future__ import annotations

import argparse
from typing import Any
import sys
import os
import time
from pathlib import Path

import torch
from recbole.data.interaction import Interaction
from recbole_ext.training.trainers import trainer_class_for
from recbole.utils import init_seed

from recbole_ext.flags import either_style
from recbole_ext.config import build_config
from recbole_ext.loading import load_dataset, make_loaders
from results_page import publish


def timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


@torch.no_grad()
def recbole_sampled_pass(trainer: Any, loader, rows: int) -> None:
    """What RecBole's ``_neg_sample_batch_eval`` computes: ``predict`` on every repeated row."""
    step = max(trainer.config["eval_batch_size"] // (1 + loader.n_neg), 1)
    for start in range(0, rows, step):
        index = list(range(start, min(start + step, rows)))
        interaction, _, _, _ = loader.collate_fn(index)
        candidates = loader.candidates(torch.as_tensor(index))
        repeated = interaction.repeat_interleave(candidates.shape[1])
        repeated.update(Interaction({loader._dataset.iid_field: candidates.flatten()}))
        trainer.model.predict(repeated.to(trainer.device))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml1m")
    parser.add_argument("--data_path", type=Path, default=Path("atomic_data"))
    parser.add_argument("--config_files", nargs="+", default=["sasrec-paper-ml1m"])
    parser.add_argument("--old_rows", type=int, default=512, help="rows RecBole's path is timed on")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="configuration overrides")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    load_before = os.getloadavg()[0]

    config = build_config("SASRecPaper", args.dataset, args.config_files,
                          {"data_path": str(args.data_path), "show_progress": False, "state": "WARNING",
                           **dict(kv.split("=", 1) for kv in args.set)})
    init_seed(config["seed"], config["reproducibility"])
    dataset = load_dataset(config)
    train, _, _ = make_loaders(config, dataset)
    model = config.model_class(config, train._dataset).to(config["device"])
    trainer = trainer_class_for(config)(config, model)
    loaders = {}
    for protocol in ("full_masked", "sampled_masked"):
        config["ranking_protocol"] = protocol
        loaders[protocol] = make_loaders(config, dataset)[1]
    rows = len(loaders["sampled_masked"].prefix.target)
    print(f"{args.dataset}: {rows} validation rows, {dataset.item_num - 1} items, device {config['device']}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    seconds = {}
    for protocol, loader in loaders.items():
        trainer.evaluate(loader, load_best_model=False)  # warm-up
        seconds[protocol] = min(timed(lambda: trainer.evaluate(loader, load_best_model=False))
                                for _ in range(args.repeats))
    old_rows = min(args.old_rows, rows)
    old = min(timed(lambda: recbole_sampled_pass(trainer, loaders["sampled_masked"], old_rows))
              for _ in range(args.repeats))
    seconds["recbole sampled path (scaled)"] = old * rows / old_rows
    full = seconds["full_masked"]
    lines = [f"One validation pass of {args.dataset} ({rows} rows, {dataset.item_num - 1} items), SASRecPaper "
             f"{' '.join(args.config_files)}, device {config['device']}; RecBole's path timed on {old_rows} rows "
             "and scaled.", "", "| evaluation | seconds | x full_masked |", "|---|---|---|"]
    lines += [f"| {name} | {value:.3f} | {value / full:.2f} |" for name, value in seconds.items()]
    print("\n".join(lines))
    if args.publish:
        publish(f"sampled-eval-{args.dataset}-{config['device'].type}",
                f"Sampled evaluation cost ({args.dataset}, {config['device'].type})", "\n".join(lines), load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
