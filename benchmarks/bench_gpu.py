"""GPU benchmark: stock SASRec / GRU4Rec / Caser against SASRecPaper / GRU4RecPaper / CaserPaper,
ML-100K and ML-1M, ``ranking_protocol: full_masked``, all in one run on one GPU.

    recbole-ext-convert ml-1m --input PATH/ml-1m --output-dir atomic_data     # once
    python benchmarks/bench_gpu.py --out benchmarks/results/gpu               # about 5 minutes

Every run is ``python -m recbole_ext.cli`` in a subprocess of its own, all of them at once
(``--jobs``), sharing the GPU; both sides of a family run under the same time cap
(``max_train_seconds``: stop after the first validation past it) or stop early. Printed per run,
and written to ``OUT/results.md`` and ``OUT/results.json``: seconds per epoch, epochs, training
seconds, best validation NDCG@10, the training seconds it took to first reach stock's best
validation NDCG@10 (and that time over stock's own), test NDCG@10 / HR@10, peak GPU memory
(``torch.cuda.max_memory_allocated``) and peak RSS. Targets (issue 14), per family on ML-1M:
stock's best validation reached in at most 1/5 of stock's time, test NDCG@10 at least stock's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recbole_ext.flags import either_style
from results_page import COMMIT_AT_START
from recbole_ext.training.run_state import seconds_to_reach
from results_page import publish

FAMILIES = (("SASRec", "SASRecPaper"), ("GRU4Rec", "GRU4RecPaper"), ("Caser", "CaserPaper"))
# Config files of each (dataset, model); stock models run at RecBole's defaults except Caser's
# window, set to the papers' L = 5 as CaserPaper's.
CONFIG_FILES = {
    ("ml-100k", "SASRecPaper"): ["sasrec-ml100k-gpu"],
    ("ml-100k", "GRU4RecPaper"): ["gru4rec-ml100k"],
    ("ml-100k", "CaserPaper"): ["caser-paper"],
    ("ml1m", "SASRecPaper"): ["sasrec-ml1m-ce"],
    ("ml1m", "GRU4RecPaper"): ["gru4rec-ml1m"],
    ("ml1m", "CaserPaper"): ["caser-ml1m"],
}
OVERRIDES = {"Caser": {"MAX_ITEM_LIST_LENGTH": 5}}
# Published ML-1M test NDCG@10 (leave-one-out, full ranking, seen items excluded) of each family: the
# anchors our runs are read against, printed beside the table and the headline.
PUBLISHED_ML1M = {
    "SASRec": "SASRec with cross-entropy 0.1821 (HR@10 0.3152; Klenitskiy & Vasilev 2023)",
    "GRU4Rec": "tuned GRU4Rec 0.1648 (HR@10 0.2811; Klenitskiy & Vasilev 2023), RecBole's benchmark 0.1545",
    "Caser": "RecBole's benchmark Caser 0.1061",
}
PUBLISHED_ML1M_SHORT = {"SASRec": "0.1821 (SASRec+CE)", "GRU4Rec": "0.1648 (tuned GRU4Rec)",
                        "Caser": "0.1061 (RecBole's Caser)"}


def run_one(model: str, dataset: str, cap: float, out: Path, threads: int, data_path: Path,
            presets: dict[str, str]) -> dict:
    name = f"{model}__{dataset}"
    args = [sys.executable, "-m", "recbole_ext.cli", "--model", model, "--dataset", dataset,
            "--output_dir", str(out / "runs" / name), "--result_file", str(out / "runs" / f"{name}.json"), "--overwrite"]
    config_files = [presets[model]] if model in presets else CONFIG_FILES.get((dataset, model))
    if config_files:
        args += ["--config_files", *config_files]
    settings = {"ranking_protocol": "full_masked", "max_train_seconds": cap, "torch_threads": threads,
                "show_progress": False, "state": "WARNING", "data_path": str(data_path), **OVERRIDES.get(model, {})}
    args += [f"--{key}={value}" for key, value in settings.items()]
    shutil.rmtree(out / "runs" / name, ignore_errors=True)  # this benchmark's own run directory: rerun afresh
    started = time.perf_counter()
    with open(out / "runs" / f"{name}.log", "w") as log:
        code = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT).returncode
    result_file = out / "runs" / f"{name}.json"
    if code != 0 or not result_file.is_file():
        tail = (out / "runs" / f"{name}.log").read_text(errors="replace").splitlines()[-5:]
        return {"model": model, "dataset": dataset, "error": f"exit {code}: " + " | ".join(tail)}
    result = json.loads(result_file.read_text())
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def compare(results: list[dict]) -> list[dict]:
    """One row per run, ours measured against stock of the same family and dataset."""
    by_key = {(r["dataset"], r["model"]): r for r in results}
    rows = []
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        for stock_name, ours_name in FAMILIES:
            stock = by_key.get((dataset, stock_name))
            for model in (stock_name, ours_name):
                r = by_key.get((dataset, model))
                if r is None:
                    continue
                row = {"dataset": dataset, "model": model, "error": r.get("error")}
                if not row["error"]:
                    row.update({
                        "s_per_epoch": r["seconds_per_epoch"], "epochs": r["epochs"],
                        "train_s": r["train_seconds"], "capped": r["stopped_by_time_cap"],
                        "best_valid_ndcg10": r["best_valid_result"].get("ndcg@10"),
                        "test_ndcg10": r["test_result"]["ndcg@10"], "test_hr10": r["test_result"]["hit@10"],
                        "peak_gpu_mb": r.get("peak_gpu_mb"), "peak_rss_mb": r["peak_rss_mb"], "device": r["device"],
                    })
                    if stock and not stock.get("error") and stock["valid_curve"]:
                        target = max(p["valid_score"] for p in stock["valid_curve"])
                        stock_time = seconds_to_reach(stock["valid_curve"], target)
                        reach = seconds_to_reach(r["valid_curve"], target)
                        row["s_to_stock_best"] = reach
                        row["time_ratio"] = None if reach is None else round(reach / stock_time, 3)
                        row["test_ndcg10_vs_stock"] = round(r["test_result"]["ndcg@10"]
                                                            - stock["test_result"]["ndcg@10"], 4)
                rows.append(row)
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"Generated {meta['date']} by `{meta['command']}` (git {meta['commit']}; {meta['device']}; "
             f"{meta['jobs']} runs at once; load average before {meta['load_before']}, after {meta['load_after']}; "
             f"wall {meta['wall_seconds']:.0f} s).", "",
             "| Dataset | Model | s / epoch | Epochs | Train s | Best valid NDCG@10 | s to stock's best valid "
             "| × stock's time | Test NDCG@10 | Test HR@10 | Peak GPU MiB | Peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["error"]:
            lines.append(f"| {row['dataset']} | {row['model']} | failed: {row['error'][:120]} |" + " |" * 10)
            continue

        def cell(key, spec=""):
            value = row.get(key)
            return "never" if value is None and key in ("s_to_stock_best", "time_ratio") else (
                "-" if value is None else format(value, spec))

        lines.append(f"| {row['dataset']} | {row['model']} | {cell('s_per_epoch', '.2f')} | {row['epochs']}"
                     f"{' (cap)' if row['capped'] else ''} | {cell('train_s', '.0f')} | "
                     f"{cell('best_valid_ndcg10', '.4f')} | {cell('s_to_stock_best', '.1f')} | "
                     f"{cell('time_ratio', '.3f')} | {cell('test_ndcg10', '.4f')} | {cell('test_hr10', '.4f')} | "
                     f"{cell('peak_gpu_mb', '.0f')} | {cell('peak_rss_mb', '.0f')} |")
    lines += ["", "Protocol: leave-one-out by time, full ranking with the items seen before the target masked "
              "(`ranking_protocol: full_masked`). s to stock's best valid: training seconds until the run's "
              "validation NDCG@10 first reached the best stock reached; × stock's time: that over the "
              "seconds stock took itself."]
    published = [f"{stock}: {PUBLISHED_ML1M[stock]}" for stock, ours in FAMILIES
                 if any(row["dataset"] == "ml1m" and row["model"] in (stock, ours) for row in rows)]
    if published:
        lines += ["", "Published ML-1M test NDCG@10 (same protocol): " + "; ".join(published) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu"))
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml1m"])
    parser.add_argument("--models", nargs="+", default=[m for family in FAMILIES for m in family])
    parser.add_argument("--cap_ml100k", type=float, default=60, help="max_train_seconds on ML-100K")
    parser.add_argument("--cap_ml1m", type=float, default=150, help="max_train_seconds on ML-1M")
    parser.add_argument("--jobs", type=int, default=12, help="runs at once (default: all twelve)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--data_path", type=Path, default=Path("atomic_data"))
    parser.add_argument("--preset", nargs="*", default=[], metavar="MODEL=PRESET",
                        help="another preset for a model (e.g. CaserPaper=caser-ml1m-ce); named in the results section")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    parser.add_argument("--section_suffix", default="", help="appended to the published section's name (e.g. alone), "
                        "so a run of other conditions does not replace the table of the same models")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    presets = dict(pair.split("=", 1) for pair in args.preset)
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    caps = {"ml-100k": args.cap_ml100k, "ml1m": args.cap_ml1m}
    cells = [(m, d) for d in args.datasets for m in args.models]
    load_before = os.getloadavg()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, m, d, caps.get(d, args.cap_ml1m), args.out, args.threads,
                               args.data_path.resolve(), presets) for m, d in cells]
        results = [f.result() for f in futures]
    meta = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": "python benchmarks/bench_gpu.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "commit": COMMIT_AT_START, "device": device_name(), "jobs": args.jobs,
        "load_before": " ".join(f"{x:.1f}" for x in load_before),
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "wall_seconds": time.perf_counter() - started,
    }
    rows = compare(results)
    text = markdown(rows, meta)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows, "runs": results}, indent=2) + "\n")
    print(text)
    if args.publish:
        device = "GPU" if "CPU" not in device_name() else "CPU"
        family_of = {model: stock for stock, ours in FAMILIES for model in (stock, ours)}
        def label(row: dict) -> str:  # the model and the preset it ran with
            preset = presets.get(row["model"]) or " ".join(CONFIG_FILES.get((row["dataset"], row["model"]), []))
            return f"{row['model']} {preset}".strip()

        stock_models = {stock for stock, _ in FAMILIES}
        beside = "".join(f", beside {model} {preset}" for model, preset in presets.items())  # tells runs apart

        alone = f", {args.section_suffix}, {args.threads} threads" if args.section_suffix else ""
        headline = [(f"{row['dataset']}, {label(row)} ({device}, cap {caps.get(row['dataset'], args.cap_ml1m):.0f} s{alone}"
                     f"{beside if row['model'] in stock_models else ''}), test NDCG@10",
                     f"{row['test_ndcg10']:.4f}" + (f"; published {PUBLISHED_ML1M_SHORT[family_of[row['model']]]}"
                                                    if row["dataset"] == "ml1m" else ""))
                    for row in rows if not row["error"]]
        families = [stock for stock, ours in FAMILIES if stock in args.models or ours in args.models]
        name = f"gpu-{'-'.join(args.datasets)}-{device.lower()}-{'-'.join(f.lower() for f in families)}"
        name += "".join(f"-{preset}" for preset in presets.values()) + (f"-{args.section_suffix}" if args.section_suffix else "")
        with_presets = "".join(f"; {model} {preset}" for model, preset in presets.items())
        publish(name, f"Stock against ours, same cap ({', '.join(args.datasets)}; {', '.join(families)}{with_presets}; "
                f"{device_name()})", text, load_before[0], headline=headline)
    return 1 if any(row["error"] for row in rows) else 0


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"


if __name__ == "__main__":
    sys.exit(main())
