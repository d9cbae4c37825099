"""SASRecPaper against stock SASRec on ML-100K (CPU), side by side in one run, same protocol.

    python benchmarks/bench_sasrec.py                          # stock capped at 30 min, ours at 10
    python benchmarks/bench_sasrec.py --stock-max-minutes 1 --ours-max-minutes 1   # smoke test

Both models are trained through the project's pipeline on RecBole's bundled ML-100K with the same
evaluation protocol (``ranking_protocol: full_masked``: all items ranked, the items the user saw
before the target masked) and early stopping on validation NDCG@10. Stock SASRec keeps RecBole's
defaults (one row per prefix, CE on the last position, batch 2048) and trains until its early
stopping or ``--stock-max-minutes``; SASRecPaper uses ``--ours-config`` (default
the preset ``sasrec-ml100k-cpu``) until its early stopping or ``--ours-max-minutes``.

Printed: seconds per epoch, best validation NDCG@10, test HR@10 / NDCG@10, and time-to-quality:
the training seconds (validation included) SASRecPaper needed to first reach stock SASRec's
best validation NDCG@10, against stock's whole training time (target: at most 1/10). The result
dicts are written to ``<--out>/bench_sasrec-<time>.json`` (default ``benchmarks/results``), the runs'
directories beside it.
"""

from __future__ import annotations

import argparse
import os
import json
import platform
import sys
import time
from pathlib import Path

import torch

from recbole_ext.flags import either_style
from recbole_ext import run
from recbole_ext.training.run_state import seconds_to_reach
from results_page import publish

RESULTS = Path(__file__).resolve().parent / "results"
PROTOCOL = {"ranking_protocol": "full_masked", "show_progress": False, "state": "INFO"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stock-max-minutes", type=float, default=30.0)
    parser.add_argument("--ours-max-minutes", type=float, default=10.0)
    parser.add_argument("--ours-config", default="sasrec-ml100k-cpu", help="a preset name or a YAML file")
    parser.add_argument("--epochs", type=int, default=300, help="upper bound on epochs for both")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--dataset", default="ml-100k", help="another dataset only for smoke tests")
    parser.add_argument("--data-path", default=None, help="folder holding DATASET/DATASET.inter")
    parser.add_argument("--order", choices=["ours-first", "stock-first"], default="ours-first")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for both runs")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    load_before = os.getloadavg()[0]

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = {**PROTOCOL, "epochs": args.epochs, "seed": args.seed, **dict(kv.split("=", 1) for kv in args.set)}
    if args.data_path:
        common["data_path"] = args.data_path
    jobs = {
        "stock": lambda: run("SASRec", args.dataset, overrides={**common, "max_train_seconds": 60 * args.stock_max_minutes},
                             output_dir=args.out / f"bench_sasrec-{stamp}-stock"),
        "ours": lambda: run("SASRecPaper", args.dataset, config_files=[args.ours_config],
                            overrides={**common, "max_train_seconds": 60 * args.ours_max_minutes},
                            output_dir=args.out / f"bench_sasrec-{stamp}-ours"),
    }
    order = ["ours", "stock"] if args.order == "ours-first" else ["stock", "ours"]
    results = {}
    for name in order:
        print(f"[bench_sasrec] training {name} ...", flush=True)
        results[name] = jobs[name]()
        r = results[name]
        print(f"[bench_sasrec] {name}: {r['epochs']} epochs in {r['train_seconds']:.0f} s, "
              f"best valid NDCG@10 {r['best_valid_score']:.4f}, test NDCG@10 {r['test_result']['ndcg@10']:.4f}", flush=True)

    stock, ours = results["stock"], results["ours"]
    target = stock["best_valid_score"]
    ours_ttq = seconds_to_reach(ours["valid_curve"], target)
    stock_ttq = seconds_to_reach(stock["valid_curve"], target)
    report = table(stock, ours, target, ours_ttq, stock_ttq)
    print(report)
    if args.publish:
        publish(f"sasrec-{args.dataset}", f"SASRecPaper against stock SASRec ({args.dataset})", report, load_before,
                headline=[(f"{args.dataset}: SASRecPaper vs stock SASRec, test NDCG@10",
                           f"{ours['test_result']['ndcg@10']:.4f} vs {stock['test_result']['ndcg@10']:.4f}")])
    out = args.out / f"bench_sasrec-{stamp}.json"
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine(), "stock": stock, "ours": ours,
                               "ours_seconds_to_stock_best": ours_ttq, "table": report}, indent=2) + "\n")
    print(f"results: {out}")
    return 0


def table(stock: dict, ours: dict, target: float, ours_ttq: float | None, stock_ttq: float | None) -> str:
    rows = [
        ("model", "SASRec (stock defaults)", "SASRecPaper"),
        ("epochs trained", f"{stock['epochs']}" + (" (time cap)" if stock["stopped_by_time_cap"] else " (early stop)"),
         f"{ours['epochs']}" + (" (time cap)" if ours["stopped_by_time_cap"] else " (early stop)")),
        ("training time (s)", f"{stock['train_seconds']:.0f}", f"{ours['train_seconds']:.0f}"),
        ("seconds per epoch", f"{stock['seconds_per_epoch']:.1f}", f"{ours['seconds_per_epoch']:.1f}"),
        ("best valid NDCG@10", f"{stock['best_valid_score']:.4f}", f"{ours['best_valid_score']:.4f}"),
        (f"seconds to valid NDCG@10 >= {target:.4f}", fmt(stock_ttq), fmt(ours_ttq)),
        ("test HR@10", f"{stock['test_result']['hit@10']:.4f}", f"{ours['test_result']['hit@10']:.4f}"),
        ("test NDCG@10", f"{stock['test_result']['ndcg@10']:.4f}", f"{ours['test_result']['ndcg@10']:.4f}"),
        ("peak RSS (MiB, process so far)", f"{stock['peak_rss_mb']:.0f}", f"{ours['peak_rss_mb']:.0f}"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"protocol: {ours['eval_protocol']} (both)"]
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    ratio = None if ours_ttq is None else stock["train_seconds"] / ours_ttq
    lines.append(
        f"time-to-quality: SASRecPaper reached stock's best valid NDCG@10 in {fmt(ours_ttq)} s, stock trained "
        f"{stock['train_seconds']:.0f} s -> " + ("never reached" if ratio is None else f"{ratio:.1f}x less time")
        + " (target >= 10x)"
    )
    lines.append(
        f"final test NDCG@10: SASRecPaper {ours['test_result']['ndcg@10']:.4f} vs stock {stock['test_result']['ndcg@10']:.4f} "
        f"({'at least as high' if ours['test_result']['ndcg@10'] >= stock['test_result']['ndcg@10'] else 'LOWER'})"
    )
    lines.append(f"seconds per epoch: stock / ours = {stock['seconds_per_epoch'] / max(ours['seconds_per_epoch'], 1e-9):.1f}x")
    return "\n".join(lines)


def fmt(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f}"


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"


if __name__ == "__main__":
    sys.exit(main())
