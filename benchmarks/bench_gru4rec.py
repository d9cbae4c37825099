"""GRU4RecPaper against stock RecBole GRU4Rec on ML-100K, one run each, same protocol, one process.

    python benchmarks/bench_gru4rec.py                       # stock until early stopping or 15 min
    python benchmarks/bench_gru4rec.py --stock-max-minutes 5 --ours-max-minutes 3 --threads 1

Both models: leave-one-out, ``ranking_protocol: full_masked`` (every item ranked, items seen
before the target masked), validation on NDCG@10 after every epoch. Stock GRU4Rec runs with
RecBole's defaults (CE over all items, embedding 64, hidden 128, Adam 1e-3, batch 2048) until
early stopping or ``--stock-max-minutes``; GRU4RecPaper with ``--ours-config`` (default
the preset ``gru4rec-ml100k``) until early stopping or ``--ours-max-minutes``. Prints a table:
seconds per epoch, best validation NDCG@10, test NDCG@10 / HR@10, and time-to-quality: the
training seconds each model needed to first reach stock's best validation NDCG@10
(:func:`recbole_ext.training.run_state.seconds_to_reach` over the pipeline's validation curve), with the
ratio. Results go to ``benchmarks/results/gru4rec_*.json``.
"""

from __future__ import annotations

import argparse
import json
import os
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

PROTOCOL = {"ranking_protocol": "full_masked", "show_progress": False, "state": "WARNING"}


def compare_gru_modes(batch: int = 64, length: int = 50, hidden: int = 100, repeats: int = 5) -> str:
    """Forward + backward time of one batch of chunks: ``nn.GRU`` over [B, L] vs a ``GRUCell`` stepped
    L times (the session-parallel loop of the official code). Same weights, same outputs."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(hidden, hidden, batch_first=True)
    cell = torch.nn.GRUCell(hidden, hidden)
    cell.load_state_dict({k[:-3]: v for k, v in gru.state_dict().items()})
    x = torch.randn(batch, length, hidden)

    def whole() -> torch.Tensor:
        return gru(x)[0]

    def stepped() -> torch.Tensor:
        h, outs = torch.zeros(batch, hidden), []
        for t in range(length):
            h = cell(x[:, t], h)
            outs.append(h)
        return torch.stack(outs, dim=1)

    assert torch.allclose(whole(), stepped(), atol=1e-5)
    times = {}
    for name, fn in (("nn.GRU over whole chunks", whole), ("GRUCell stepped per position", stepped)):
        fn().sum().backward()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            fn().sum().backward()
        times[name] = (time.perf_counter() - start) / repeats
    a, b = times.values()
    return (f"one batch of {batch} chunks x {length} positions, hidden {hidden}, forward + backward: "
            + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in times.items()) + f" ({b / a:.1f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stock-max-minutes", type=float, default=15.0, help="time cap of stock GRU4Rec")
    parser.add_argument("--ours-max-minutes", type=float, default=5.0, help="time cap of GRU4RecPaper")
    parser.add_argument("--ours-config", default="gru4rec-ml100k", help="a preset name or a YAML file")
    parser.add_argument("--epochs", type=int, default=300, help="epoch cap of both (early stopping usually ends first)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder (default benchmarks/results)")
    parser.add_argument("--dataset", default="ml-100k", help="another dataset only for smoke tests")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for both runs")
    parser.add_argument("--only-gru-modes", action="store_true", help="only time nn.GRU vs a stepped GRUCell")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    load_before = os.getloadavg()[0]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.only_gru_modes:
        print(compare_gru_modes())
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")

    results = {}
    for label, model, files, minutes in (
        ("stock GRU4Rec", "GRU4Rec", [], args.stock_max_minutes),
        ("GRU4RecPaper", "GRU4RecPaper", [args.ours_config], args.ours_max_minutes),
    ):
        overrides = {**PROTOCOL, "epochs": args.epochs, "max_train_seconds": minutes * 60,
                     **dict(kv.split("=", 1) for kv in args.set)}
        print(f"running {label} (cap {minutes} min) ...", flush=True)
        result = run(model, args.dataset, config_files=files, overrides=overrides,
                     output_dir=out / f"bench-gru4rec-{model}-{stamp}")
        results[label] = result
        print(f"  {label}: {result['epochs']} epochs, {result['train_seconds']:.0f} s, "
              f"best valid {result['best_valid_score']:.4f}, test ndcg@10 {result['test_result']['ndcg@10']:.4f}",
              flush=True)

    stock, ours = results["stock GRU4Rec"], results["GRU4RecPaper"]
    target = stock["best_valid_score"]
    rows = []
    for label, r in results.items():
        reach = seconds_to_reach(r["valid_curve"], target)
        rows.append((label, r, reach))
    header = ("| model | epochs | stopped by | s/epoch | best valid NDCG@10 | test NDCG@10 | test HR@10 | "
              "s to stock's best valid NDCG@10 |")
    lines = [header, "|---|---:|---|---:|---:|---:|---:|---:|"]
    for label, r, reach in rows:
        stopped = "time cap" if r["stopped_by_time_cap"] else "early stopping"
        lines.append(
            f"| {label} | {r['epochs']} | {stopped} | {r['seconds_per_epoch']:.1f} | {r['best_valid_score']:.4f} | "
            f"{r['test_result']['ndcg@10']:.4f} | {r['test_result']['hit@10']:.4f} | "
            f"{'never' if reach is None else f'{reach:.0f}'} |"
        )
    stock_reach, ours_reach = rows[0][2], rows[1][2]
    summary = [
        f"protocol: {ours['eval_protocol']}",
        f"test NDCG@10 ratio (ours / stock): {ours['test_result']['ndcg@10'] / stock['test_result']['ndcg@10']:.2f}",
        f"seconds per epoch ratio (stock / ours): {stock['seconds_per_epoch'] / ours['seconds_per_epoch']:.2f}",
    ]
    if ours_reach is not None:
        summary.append(f"time to stock's best valid NDCG@10 ({target:.4f}): ours {ours_reach:.0f} s vs stock "
                       f"{stock_reach:.0f} s = {ours_reach / stock_reach:.3f} of stock's time "
                       f"(target <= 0.2)")
    else:
        summary.append(f"GRU4RecPaper never reached stock's best valid NDCG@10 ({target:.4f})")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
               f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} at the end")
    summary.append(compare_gru_modes())
    text = "\n".join([*lines, "", *summary, f"machine: {machine}", f"command: {' '.join(sys.argv)}"])
    print("\n" + text)
    if args.publish:
        publish(f"gru4rec-{args.dataset}", f"GRU4RecPaper against stock GRU4Rec ({args.dataset})", text, load_before)
    (out / f"gru4rec_{stamp}.json").write_text(json.dumps(
        {"results": results, "table": text, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
