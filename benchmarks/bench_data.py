"""Data path, RecBole's against ours, side by side: seconds until the loaders are ready and peak RSS.

    python -m recbole_ext.convert ml-1m --input PATH/ml-1m --output-dir atomic_data
    python benchmarks/bench_data.py --dataset ml1m --config_files sasrec-paper-ml1m
    python benchmarks/bench_data.py --dataset ml1m --config_files sasrec-paper-ml1m --sides run
    python benchmarks/make_synthetic.py --shape ml-20m --output-dir /tmp/synth
    python benchmarks/bench_data.py --dataset ml20m-synth --data_path /tmp/synth --config_files sasrec-paper-ml1m --sides ours run

Each side runs in its own process (peak RSS is per process): ``recbole`` is RecBole 1.2.1's
``create_dataset`` + ``data_preparation`` (float32 time, one prefix row per interaction), ``ours``
is :func:`recbole_ext.loading.load_dataset` + ``make_loaders`` (the sequence-native path; run
twice, so the second run reads the binary cache), ``run`` is a whole run of ours (``recbole_ext.run``:
load, one epoch, validation and test; ``--epochs`` to change) in a temporary output directory.
Prints a table and the ratios; a side that fails (e.g. RecBole out of memory) is a row saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from recbole_ext.flags import either_style
from results_page import publish


def measure(side: str, model: str, dataset: str, config_files: list[str], data_path: str, epochs: int) -> dict:
    from recbole_ext import build_config

    overrides = {"data_path": data_path, "state": "WARNING", "show_progress": False}
    start = time.perf_counter()
    if side == "run":
        import tempfile

        from recbole_ext import run

        with tempfile.TemporaryDirectory() as out:
            result = run(model, dataset, config_files, {**overrides, "epochs": epochs}, output_dir=Path(out) / "run")
        return {"side": side, "seconds": round(time.perf_counter() - start, 2), "train_batches": None,
                "train_seconds": result["train_seconds"], "test_result": result["test_result"],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    config = build_config(model, dataset, config_files, overrides)
    if side == "recbole":
        from recbole.data import create_dataset, data_preparation

        data = create_dataset(config)
        train, valid, test = data_preparation(config, data)
    else:
        from recbole_ext.loading import load_dataset, make_loaders

        data = load_dataset(config)
        train, valid, test = make_loaders(config, data)
    seconds = time.perf_counter() - start
    return {"side": side, "seconds": round(seconds, 2), "train_batches": len(train),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="SASRecPaper")
    parser.add_argument("--config_files", nargs="*", default=[])
    parser.add_argument("--data_path", default="atomic_data")
    parser.add_argument("--sides", nargs="*", default=["recbole", "ours", "ours"], choices=["recbole", "ours", "run"])
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the run side (default 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:]))
    load_before = os.getloadavg()[0]
    if args.child:
        print(json.dumps(measure(args.child, args.model, args.dataset, args.config_files, args.data_path, args.epochs)))
        return
    rows = []
    for side in args.sides:
        command = [sys.executable, __file__, "--child", side, "--dataset", args.dataset, "--model", args.model,
                   "--data_path", args.data_path, "--epochs", str(args.epochs), "--config_files", *args.config_files]
        started = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode:
            last = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
            rows.append({"side": side, "seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": None,
                         "train_batches": None, "failed": last[:200]})
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    lines = [f"{args.model} on {args.dataset} {' '.join(args.config_files)}; each side in its own process.", "",
             "| side | run | s (loaders ready; run: whole run) | peak RSS MiB | train batches | note |",
             "|---|---|---|---|---|---|"]
    for k, row in enumerate(rows, start=1):
        note = row.get("failed") or (f"train {row['train_seconds']} s, test {row['test_result']}" if row["side"] == "run" else "")
        lines.append(f"| {row['side']} | {k} | {row['seconds']} | {row['peak_rss_mb']} | {row['train_batches']} | {note} |")
    base = next((r for r in rows if r["side"] == "recbole" and not r.get("failed")), None)
    ratios = [(row["seconds"] / base["seconds"], row["peak_rss_mb"] / base["peak_rss_mb"])
              for row in rows if base and row["side"] == "ours" and not row.get("failed")]
    lines += [""] + [f"ours / recbole (run {k}): time {t:.3f}, peak RSS {m:.3f}" for k, (t, m) in enumerate(ratios, 1)]
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print("\n".join(lines))
    if args.publish:
        ours = [row for row in rows if row["side"] == "ours" and not row.get("failed")]
        headline = []
        if base and ours:
            best = min(ours, key=lambda row: row["seconds"])
            headline = [(f"{args.dataset}: data ready, ours vs RecBole's path",
                         f"{best['seconds']} s / {best['peak_rss_mb']:,.0f} MiB vs {base['seconds']} s / "
                         f"{base['peak_rss_mb']:,.0f} MiB")]
        publish(f"data-{args.dataset}", f"Data path: RecBole's against ours ({args.dataset})", "\n".join(lines),
                load_before, headline=headline)

if __name__ == "__main__":
    main()
