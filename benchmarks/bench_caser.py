"""Benchmark: CaserPaper (d2l preset) against stock RecBole Caser with L = 5 on ML-100K, one run.

    python benchmarks/bench_caser.py                       # everything (about 30 min on 2 busy cores)
    python benchmarks/bench_caser.py --sweep 1 5 9 --sweep-epochs 2 --stock-minutes 2   # quicker

1. **CaserPaper**, the preset ``caser-d2l`` (k 10, L 5, d 16, d' 4, BPR, 1 negative, Adam lr
   0.04, 8 epochs, batch 4096): trained on sliding windows; seconds per epoch, test HR@10 /
   NDCG@10.
2. **Stock Caser**, RecBole's defaults (k 64, nh 8, nv 4, CE over all items, prefix rows) with
   ``MAX_ITEM_LIST_LENGTH: 5``, given CaserPaper's training time as ``max_train_seconds`` (the
   same time budget), then again to early stopping (capped by ``--stock-minutes``).
3. **What the d2l chapter reports, computed correctly**: the chapter's "hit rate" is hit@50 over
   a buggy candidate pool (the d2l chapter's); here HR@50 and AUC of the test item against every
   item the user never interacted with (train, validation or test).
4. **L sweep** (the chapter's exercise): the d2l preset with L = 1..9, ``--sweep-epochs`` each.

All runs share one protocol (``--protocol``, default ``full_masked``: full ranking with the
user's earlier items masked), the same seed and the project's pipeline; training
time is ``train_seconds`` of the result (training plus the per-epoch validation). Logs and result
JSON go to ``benchmarks/results/caser/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from recbole.utils import init_seed

from recbole_ext.flags import either_style
from recbole_ext import build_config
from recbole_ext.training.pipeline import run_config
from recbole_ext.loading import load_dataset, make_loaders
from results_page import publish
from recbole_ext.outputs import best_checkpoint

D2L = "caser-d2l"  # the preset
OUT = Path(__file__).resolve().parent / "results" / "caser"
QUIET = {"show_progress": False, "state": "WARNING"}
DATA = {"dataset": "ml-100k"}  # --dataset / --data_path (smoke tests use a tiny dataset)
PROTOCOL = {"ranking_protocol": "full_masked"}  # the project's masked full ranking, for every run



def hit_and_auc(scores: torch.Tensor, target: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """HR@k and AUC of each row's ``target`` [B] against every other item not masked in ``scores``.

    ``scores`` [B, n_items] has ``-inf`` at masked items (e.g. after ``full_masked``'s
    ``history_index``); item 0 (padding) never counts. Per row: ``hit`` = fewer than ``k``
    candidates score above the target; ``auc`` = share of candidates scored below it (ties half).
    This is what the d2l Caser chapter reports as "hit rate" (k = 50) and AUC, computed over the
    whole candidate pool instead of the chapter's buggy one. Returns two float tensors [B].
    """
    target_score = scores.gather(1, target.long().unsqueeze(1))  # [B, 1]
    candidates = torch.isfinite(scores)  # [B, I]
    candidates[:, 0] = False
    candidates.scatter_(1, target.long().unsqueeze(1), False)
    higher = ((scores > target_score) & candidates).sum(1)  # [B]
    ties = ((scores == target_score) & candidates).sum(1)  # [B]
    n_candidates = candidates.sum(1).clamp(min=1)  # [B]
    hit = (higher < k).float()
    auc = (n_candidates - higher - 0.5 * ties).double() / n_candidates
    return hit, auc.float()

def train(model: str, config_files: list, overrides: dict[str, Any], name: str) -> dict[str, Any]:
    """One pipeline run, then HR@50 / AUC against unseen items from its best checkpoint."""
    extra = {"data_path": DATA["data_path"]} if DATA.get("data_path") else {}
    config = build_config(model, DATA["dataset"], config_files, {**QUIET, **PROTOCOL, **extra, **overrides})
    started = time.perf_counter()
    shutil.rmtree(OUT / name, ignore_errors=True)  # one checkpoint per run directory
    result = run_config(config, OUT / name)
    result.update(unseen_metrics(config, Path(result["output_dir"])))
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(f"  {name}: {result['epochs']} epochs, {result['train_seconds']:.1f} s, "
          f"test NDCG@10 {result['test_result']['ndcg@10']:.4f}", flush=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


@torch.no_grad()
def unseen_metrics(config, run_dir: Path, k: int = 50) -> dict[str, float]:
    """HR@k and AUC of each test item against every item its user never interacted with.

    The test rows of ``ranking_protocol: full_masked`` mask the training and validation items;
    the test item is the user's last, so what is left is exactly the never-interacted items.
    """
    config["ranking_protocol"] = "full_masked"
    init_seed(config["seed"], config["reproducibility"])
    dataset = load_dataset(config)
    train_data, _, test_data = make_loaders(config, dataset)
    model = config.model_class(config, train_data._dataset).to(config["device"])
    checkpoint = torch.load(best_checkpoint(run_dir), map_location=config["device"], weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    hits, aucs = [], []
    for interaction, (rows, items), _, positive_i in test_data:
        scores = model.full_sort_predict(interaction.to(config["device"])).view(len(interaction), -1).cpu()
        scores[rows, items] = -torch.inf  # [B, I] seen items masked
        hit, auc = hit_and_auc(scores, positive_i, k)
        hits.append(hit)
        aucs.append(auc)
    return {f"unseen_hit@{k}": torch.cat(hits).mean().item(), "unseen_auc": torch.cat(aucs).mean().item()}


def row(label: str, result: dict[str, Any]) -> str:
    test = result["test_result"]
    return (f"| {label} | {result['epochs']} | {result['seconds_per_epoch']:.2f} | {result['train_seconds']:.1f} "
            f"| {test['hit@10']:.4f} | {test['ndcg@10']:.4f} | {result['unseen_hit@50']:.4f} | {result['unseen_auc']:.4f} |")


HEADER = ("| run | epochs | s/epoch | train s | HR@10 | NDCG@10 | HR@50 unseen | AUC unseen |\n"
          "|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8, help="CaserPaper epochs (d2l: 8)")
    parser.add_argument("--stock-minutes", type=float, default=10.0,
                        help="cap of stock Caser trained to early stopping (0: skip that run)")
    parser.add_argument("--sweep", type=int, nargs="*", default=list(range(1, 10)), help="values of L")
    parser.add_argument("--sweep-epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for every run (1: fastest on a shared 2-core machine)")
    parser.add_argument("--protocol", default="full_masked", choices=["full_masked", "sampled_masked", "recbole"],
                        help="ranking_protocol of every run (HR@50 / AUC always use full_masked)")
    parser.add_argument("--dataset", default="ml-100k", help="another dataset only for smoke tests")
    parser.add_argument("--data_path", help="folder holding DATASET/DATASET.inter")
    parser.add_argument("--out", type=Path, default=OUT, help="results folder (default benchmarks/results/caser)")
    parser.add_argument("--publish", action="store_true", help="write the tables into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    load_before = os.getloadavg()[0]
    OUT = args.out
    DATA.update(dataset=args.dataset, data_path=args.data_path)
    OUT.mkdir(parents=True, exist_ok=True)
    PROTOCOL["ranking_protocol"] = args.protocol
    torch.set_num_threads(args.threads)
    extra: list = []
    print(f"bench_caser {time.strftime('%Y-%m-%d %H:%M')} torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, ranking_protocol {args.protocol}", flush=True)

    ours = train("CaserPaper", [D2L, *extra], {"epochs": args.epochs}, "caserpaper_d2l")
    stock_overrides = {"MAX_ITEM_LIST_LENGTH": 5}
    same_time = train("Caser", extra, {**stock_overrides, "max_train_seconds": ours["train_seconds"]},
                      "stock_caser_same_time")
    runs = [("CaserPaper d2l preset", ours), ("stock Caser L=5, same time budget", same_time)]
    if args.stock_minutes > 0:
        full = train("Caser", extra, {**stock_overrides, "max_train_seconds": 60 * args.stock_minutes},
                     "stock_caser_early_stopping")
        runs.append((f"stock Caser L=5, early stopping (cap {args.stock_minutes:g} min)", full))

    lines = [f"Protocol: {ours['eval_protocol']}; {args.dataset}, seed {ours['seed']}, device {ours['device']}", "",
             *HEADER.splitlines(), *(row(label, result) for label, result in runs),
             "| d2l chapter as published (hit@50 over its buggy candidate pool) | 8 | | | | | 0.397 | 0.753 |"]
    ratio = same_time["train_seconds"] / ours["train_seconds"]
    lines += ["", f"NDCG@10 CaserPaper / stock (same time): "
              f"{ours['test_result']['ndcg@10'] / max(same_time['test_result']['ndcg@10'], 1e-12):.2f}x; "
              f"training time stock / CaserPaper: {ratio:.2f}x"]
    if args.sweep:
        sweep = [(f"L={L}", train("CaserPaper", [D2L, *extra],
                                  {"MAX_ITEM_LIST_LENGTH": L, "epochs": args.sweep_epochs}, f"sweep_L{L}"))
                 for L in args.sweep]
        lines += ["", f"L sweep: CaserPaper d2l preset, {args.sweep_epochs} epochs each", "",
                  *HEADER.splitlines(), *(row(label, result) for label, result in sweep)]
    print("\n" + "\n".join(lines))
    if args.publish:
        publish(f"caser-{args.dataset}", f"CaserPaper (d2l preset) against stock Caser ({args.dataset})",
                "\n".join(lines), load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
