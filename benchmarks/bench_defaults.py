"""Documented defaults against each model's best ML-100K preset, in one run.

    python benchmarks/bench_defaults.py --out benchmarks/results/defaults     # about 20 minutes on 2 cores

``python run.py --model M --dataset ml-100k`` with no preset trains each of our models with its
documented default set (``recbole_ext/properties/<M>.yaml``, ranking_protocol full_masked); the
other column is the model's best ML-100K preset. Each run is one grid cell in a subprocess of its
own (``--jobs`` at once, ``torch_threads`` 1 each), to early stopping or ``--cap`` seconds. Target
(issue 15): the defaults end within 10% of the preset's test NDCG@10.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recbole_ext.flags import either_style
from recbole_ext.bench import can_resume, run_cell_subprocess
from results_page import git_commit
from recbole_ext.config import resolve_config_file
from recbole_ext.outputs import read_result
from results_page import publish

BEST_PRESETS = {"SASRecPaper": "sasrec-ml100k-cpu", "CaserPaper": "caser-paper", "GRU4RecPaper": "gru4rec-ml100k"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/defaults"))
    parser.add_argument("--models", nargs="+", default=list(BEST_PRESETS))
    parser.add_argument("--cap", type=float, default=1500, help="max_train_seconds per run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dataset", default="ml-100k", help="another dataset only for smoke tests")
    parser.add_argument("--data_path", help="folder holding DATASET/DATASET.inter")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of every run")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    out = args.out.resolve()
    for sub in ("cells", "logs", "specs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    specs = []
    for model in args.models:
        for label, files in (("defaults", []), (BEST_PRESETS[model], [BEST_PRESETS[model]])):
            name = f"{model}__{label}"
            specs.append((name, {
                "model": model, "dataset": args.dataset, "output_dir": str(out / "cells" / name),
                "config_files": [str(resolve_config_file(f)) for f in files],
                "overrides": {"ranking_protocol": "full_masked", "max_train_seconds": args.cap, "torch_threads": 1,
                              "show_progress": False, "state": "WARNING",
                              **({"data_path": str(Path(args.data_path).resolve())} if args.data_path else {}),
                              **dict(kv.split("=", 1) for kv in args.set)},
            }))
    for name, spec in specs:  # a finished or foreign cell directory is run again from scratch
        if not can_resume(Path(spec["output_dir"]), spec):
            shutil.rmtree(spec["output_dir"], ignore_errors=True)
    load_before = os.getloadavg()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        errors = list(pool.map(lambda item: run_cell_subprocess(item[1], out, item[0], None), specs))
    results = {name: read_result(Path(spec["output_dir"])) for name, spec in specs}
    lines = [f"Generated {dt.datetime.now():%Y-%m-%d %H:%M} by `python benchmarks/bench_defaults.py "
             f"{' '.join(argv if argv is not None else sys.argv[1:])}` (git {git_commit()}; {os.cpu_count()} cores, "
             f"{args.jobs} runs at once, 1 torch thread each; load average before "
             f"{' '.join(f'{x:.1f}' for x in load_before)}, after {' '.join(f'{x:.1f}' for x in os.getloadavg())}).",
             "", "| Model | Config | Epochs | Train s | Best valid NDCG@10 | Test NDCG@10 | Test HR@10 | "
             "Test NDCG@10 / preset's |", "|---|---|---|---|---|---|---|---|"]
    for model in args.models:
        preset = results.get(f"{model}__{BEST_PRESETS[model]}")
        for label in ("defaults", BEST_PRESETS[model]):
            r = results.get(f"{model}__{label}")
            if r is None:
                lines.append(f"| {model} | {label} | failed (see {out / 'logs'}) |" + " |" * 5)
                continue
            ratio = f"{r['test_result']['ndcg@10'] / preset['test_result']['ndcg@10']:.3f}" if preset else "-"
            lines.append(f"| {model} | {'no preset (documented defaults)' if label == 'defaults' else label} | "
                         f"{r['epochs']}{' (cap)' if r['stopped_by_time_cap'] else ''} | {r['train_seconds']:.0f} | "
                         f"{r['best_valid_result']['ndcg@10']:.4f} | {r['test_result']['ndcg@10']:.4f} | "
                         f"{r['test_result']['hit@10']:.4f} | {ratio} |")
    lines += ["", "ML-100K bundled with RecBole, leave-one-out by time, ranking_protocol full_masked, seed 2020."]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    if args.publish:
        publish("defaults-ml-100k", "Documented defaults against the best ML-100K presets", text, load_before[0])
    return 1 if any(errors) else 0


if __name__ == "__main__":
    sys.exit(main())
