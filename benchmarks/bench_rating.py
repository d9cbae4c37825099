"""Benchmark: rating prediction on ML-100K (RecBole's bundled copy), test RMSE of each preset.

    python benchmarks/bench_rating.py                          # every group (2-core CPU: about 1 h)
    python benchmarks/bench_rating.py --skip grid --skip tutorial-deep   # minutes
    python benchmarks/bench_rating.py --only tuned --epochs-scale 0.5    # one group, shorter runs

Every run uses the tutorial's protocol (Keras matrix-factorisation tutorial): one random 75/25 split of all 100,000
ratings (RecBole ``RS [0.75, 0.0, 0.25]``, ``group_by: none``, seed 2020), the global mean of the
training ratings added back to each prediction, test RMSE / MAE on the 25,000 held-out ratings.

Groups, in this order (``--only`` / ``--skip``); a table of test RMSE is printed after each:

* always first, the **training mean** alone (BiasedMF, 0 epochs, zero embeddings);
* ``tutorial-mf``: ``recbole_ext/configs/mf-keras-tutorial.yaml``, next to the tutorial's 1.0946;
* ``grid``: the tuned BiasedMF's ``embedding_size`` x ``reg_weight`` x ``learning_rate`` on the
  validation split ``recbole_ext/configs/rating-split-tune.yaml`` (10% of the training ratings held out, the
  same 25% test ratings), early stopping on validation RMSE; selection by validation RMSE only;
  the winner and its best epoch are compared with the committed ``recbole_ext/configs/biasedmf-tuned.yaml``;
* ``tuned``: ``recbole_ext/configs/*-tuned.yaml`` trained on the whole 75% for their fixed epochs;
* ``deep-check``: the tuned DeepMF presets on the validation split (their best epoch against the
  committed ``epochs``);
* ``tutorial-deep``: the tutorial's deep presets (65 epochs of a 2048-256 MLP: the long part),
  next to 0.943 and 0.944.

Runs are sequential, each with ``--threads`` torch threads (default 1: the machine is shared;
several threads on busy cores slow these small models down). Run directories and a JSON of all
results go to ``benchmarks/results/rating/``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from recbole_ext.flags import either_style
from recbole_ext import build_config, run
from recbole_ext.config import CONFIGS_DIR as CONFIGS
from recbole_ext.config import read_yaml
from results_page import publish

OUT = Path(__file__).resolve().parent / "results" / "rating"
QUIET = {"show_progress": False, "state": "WARNING"}
DATA = {"dataset": "ml-100k"}  # --dataset / --data_path (smoke tests use a tiny dataset)

# (label, model, preset, the tutorial's reported test RMSE for that model), in the order they run
TUTORIAL = [
    ("BiasedMF (tutorial preset)", "BiasedMF", "mf-keras-tutorial.yaml", 1.0946),
    ("DeepMF (tutorial preset)", "DeepMF", "deepmf-keras-tutorial.yaml", 0.943),
    ("DeepMF + occupation (tutorial preset)", "DeepMF", "deepmf-occupation-keras-tutorial.yaml", 0.944),
]
TUNED = [
    ("BiasedMF (tuned preset)", "BiasedMF", "biasedmf-tuned.yaml", 1.0946),
    ("DeepMF (tuned preset)", "DeepMF", "deepmf-tuned.yaml", 0.943),
    ("DeepMF + occupation (tuned preset)", "DeepMF", "deepmf-occupation-tuned.yaml", 0.944),
]
# The first grid (2026-11-22: K 64, 128 x reg_weight 0.05, 0.1, 0.2 x learning_rate 0.003, 0.01) chose
# K 64, reg 0.1, lr 0.003 (0.01 was worse in every cell, reg 0.2 gave 0.922-0.928); the second
# (2026-11-23: K 32, 64, 128 x reg 0.05, 0.1, 0.15) chose K 32, reg 0.1 (valid 0.9042); the third
# (K 16, 32, 48 x reg 0.075, 0.1, 0.125) chose K 16, reg 0.1 (valid 0.9030). This fourth one adds
# what classical MF tuning separates: no L2 on the biases (bias_reg_weight 0: valid 0.9007 against
# 0.9030 for the third winner), and a smaller step with smaller batches (lr 0.001, batch 256).
GRID = {"embedding_size": [8, 16, 32], "reg_weight": [0.08, 0.1, 0.12], "bias_reg_weight": [0.0],
        "learning_rate": [0.001], "train_batch_size": [256]}
TUNE_SPLIT = CONFIGS / "rating-split-tune.yaml"
ANCHOR = "anchor: biased MF / SVD on ML-100K random splits (issue 8)"


def one_run(name: str, model: str, config_files: list[Path], overrides: dict, epochs_scale: float = 1.0) -> dict:
    overrides = {**QUIET, **({"data_path": DATA["data_path"]} if DATA.get("data_path") else {}), **overrides}
    if epochs_scale != 1.0:
        epochs = build_config(model, DATA["dataset"], config_files, overrides)["epochs"]
        overrides["epochs"] = max(1, round(epochs * epochs_scale))
    started = time.time()
    shutil.rmtree(OUT / name, ignore_errors=True)  # this benchmark's own run directory, rerun from scratch
    result = run(model, DATA["dataset"], config_files, overrides, output_dir=OUT / name)
    result["wall_seconds"] = round(time.time() - started, 1)
    test, valid = result["test_result"], result["best_valid_result"]
    valid_text = f"best valid RMSE {valid['rmse']:.4f} at epoch {best_epoch(result)}, " if valid else ""
    print(f"  {name}: {valid_text}test RMSE {test['rmse']:.4f} MAE {test['mae']:.4f}, {result['epochs']} epochs, "
          f"{result['train_seconds']:.0f} s", flush=True)
    return result


def best_epoch(result: dict) -> int:
    """1-based epoch of the best validation point (the checkpoint RecBole keeps)."""
    return min(result["valid_curve"], key=lambda p: p["valid_score"])["epoch"]


def validate(name: str, model: str, preset: str, overrides: dict, max_epochs: int) -> dict:
    """``preset`` on the validation split, early stopping on valid RMSE: the row of a selection table."""
    result = one_run(name, model, [CONFIGS / preset, TUNE_SPLIT], {**overrides, "epochs": max_epochs, "stopping_step": 5})
    return {**overrides, "best_epoch": best_epoch(result), "valid_rmse": result["best_valid_result"]["rmse"],
            "test_rmse_not_used": result["test_result"]["rmse"], "train_seconds": result["train_seconds"]}


def run_grid(max_epochs: int) -> list[dict]:
    keys = list(GRID)
    rows = [validate("grid-" + "-".join(f"{k}{v}" for k, v in zip(keys, values)), "BiasedMF", "biasedmf-tuned.yaml",
                     dict(zip(keys, values)), max_epochs)
            for values in itertools.product(*GRID.values())]
    rows.sort(key=lambda r: r["valid_rmse"])
    print("\nGrid (BiasedMF, validation = 10% of the training ratings), best first:")
    print("| " + " | ".join(keys) + " | best epoch | valid RMSE | test RMSE (not used) | train s |")
    print("|---" * (len(keys) + 4) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + f" | {r['best_epoch']} | "
              f"{r['valid_rmse']:.4f} | {r['test_rmse_not_used']:.4f} | {r['train_seconds']:.0f} |")
    winner, preset = rows[0], read_yaml(CONFIGS / "biasedmf-tuned.yaml")
    same = all(preset.get(k) == winner[k] for k in keys) and preset.get("epochs") == winner["best_epoch"]
    print(f"winner: {({k: winner[k] for k in keys})}, best epoch {winner['best_epoch']}; committed preset: "
          f"{({k: preset.get(k) for k in keys})}, epochs {preset.get('epochs')}: "
          f"{'the same' if same else 'DIFFERENT: update recbole_ext/configs/biasedmf-tuned.yaml'}", flush=True)
    return rows


def check_deep_epochs(max_epochs: int) -> list[dict]:
    """The tuned DeepMF presets on the validation split: their committed epochs should be the best epoch."""
    rows = []
    for _, model, preset, _ in TUNED[1:]:
        row = validate("valid-" + preset.removesuffix(".yaml"), model, preset, {}, max_epochs)
        committed = read_yaml(CONFIGS / preset).get("epochs")
        print(f"  {preset}: best validation epoch {row['best_epoch']}, committed epochs {committed}", flush=True)
        rows.append({"preset": preset, "committed_epochs": committed, **row})
    return rows


def table(rows: list[tuple[str, dict, float | None]]) -> str:
    lines = ["| model (preset) | epochs | test RMSE | test MAE | tutorial's RMSE | beats tutorial | train s |",
             "|---|---|---|---|---|---|---|"]
    for label, result, reported in rows:
        rmse, mae = result["test_result"]["rmse"], result["test_result"]["mae"]
        beats = ("yes" if rmse < reported else "no") if reported else "-"
        lines.append(f"| {label} | {result['epochs']} | {rmse:.4f} | {mae:.4f} | {reported or '-'} | {beats} | "
                     f"{result['train_seconds']:.0f} |")
    lines.append(f"| {ANCHOR} | | 0.91-0.93 | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global OUT
    groups_all = ["tutorial-mf", "grid", "tuned", "deep-check", "tutorial-deep"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=groups_all, action="append",
                        help=f"run only these groups, repeatable (default, in this order: {' '.join(groups_all)})")
    parser.add_argument("--skip", choices=groups_all, action="append", default=[], help="leave these groups out")
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply the epochs of every test run (shorter runs; the table then differs from the presets)")
    parser.add_argument("--max-epochs", type=int, default=60, help="epoch bound of a validation run (early stopping)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--dataset", default="ml-100k", help="another dataset only for smoke tests")
    parser.add_argument("--data_path", help="folder holding DATASET/DATASET.inter")
    parser.add_argument("--out", type=Path, default=OUT, help="results folder (default benchmarks/results/rating)")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    load_before = os.getloadavg()[0]
    OUT = args.out
    DATA.update(dataset=args.dataset, data_path=args.data_path)
    groups = [g for g in groups_all if g in (args.only or groups_all) and g not in args.skip]
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"bench_rating: {' '.join(groups)}; epochs scale {args.epochs_scale}, {args.threads} thread(s), "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)

    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    baseline = one_run("global-mean", "BiasedMF", [], {"epochs": 0, "init_std": 0.0})
    rows = [("training mean only (no model)", baseline, None)]
    results["global-mean"] = baseline
    jobs = {"tutorial-mf": TUTORIAL[:1], "tuned": TUNED, "tutorial-deep": TUTORIAL[1:]}
    for group in groups:
        if group == "grid":
            results["grid"] = run_grid(args.max_epochs)
        elif group == "deep-check":
            results["deep-check"] = check_deep_epochs(args.max_epochs)
        else:
            for label, model, preset, reported in jobs[group]:
                result = one_run(preset.removesuffix(".yaml"), model, [CONFIGS / preset], {}, args.epochs_scale)
                results[preset] = result
                rows.append((label, result, reported))
        (OUT / "bench_rating.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"\n{TITLE}:")
        print(table(rows), flush=True)
    if args.publish:
        publish(f"rating-{args.dataset}", f"Rating prediction ({args.dataset}): {' '.join(groups)}",
                f"{TITLE}.\n\n{table(rows)}", load_before)
    return 0


TITLE = "Test RMSE on the tutorial's random 75/25 split of ML-100K (RecBole RS [0.75, 0, 0.25], seed 2020)"


if __name__ == "__main__":
    sys.exit(main())
