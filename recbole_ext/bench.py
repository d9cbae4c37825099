"""Benchmark tables: a grid of models x datasets x seeds through the pipeline, ready for a paper.

    python -m recbole_ext.bench --models SASRec GRU4Rec CaserPaper --datasets ml-100k \
        --seeds 3 --max_train_seconds 600 --out benchmarks/results/ml-100k

Each cell (model, dataset, seed) is one :func:`recbole_ext.training.pipeline.run` in a subprocess of its own
(true peak memory per run, no state shared between runs; ``--in_process`` runs them in this
process instead). The grid's folder holds::

    cells/<model>__<dataset>__seed<seed>/   the run's directory (result.json marks it finished)
    logs/<cell>.log                         the subprocess's output; failed/<cell>.txt for a failure
    results.md, results.csv, results.json   test metrics as mean +- std over the seeds, protocol,
                                            epochs, training seconds, seconds per epoch, peak
                                            memory, git commit and machine
    ndcg_vs_time.png                        test NDCG@10 against training seconds, one point per run

Running the same command again resumes the grid: a cell with a ``result.json`` is never re-run; an
interrupted or failed cell continues from its last completed validation epoch when it saved one
(:func:`recbole_ext.training.pipeline.resume`) under the same settings, else starts over. ``--tables_only`` rebuilds the tables from finished cells.

Per-cell options: ``--config_files`` for every cell, ``--model_config MODEL=FILE`` for one model,
``--set key=value`` for every cell and ``--set MODEL:key=value`` for one model, and
``--max_train_seconds`` (the pipeline's time cap: stop after the first validation past it).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recbole_ext.flags import either_style
from recbole_ext.outputs import RESUME_STATE, RUN_SPEC, check_output_path, read_result

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SEEDS = (2020, 2021, 2022)  # RecBole's default seed and the next two
ALL = "*"  # key of the per-model option dicts that applies to every model
METRIC_ORDER = [f"{m}@{k}" for m in ("hit", "ndcg") for k in (5, 10, 20)] + ["rmse", "mae"]


def cell_name(model: str, dataset: str, seed: int) -> str:
    return f"{model}__{dataset}__seed{seed}"


def cell_overrides(model: str, seed: int, overrides: Mapping[str, Mapping[str, Any]] | None,
                   max_train_seconds: float | None) -> dict[str, Any]:
    """The overrides of one cell: every model's, then this model's, then the seed and the cap."""
    overrides = overrides or {}
    merged = {"show_progress": False, **overrides.get(ALL, {}), **overrides.get(model, {}), "seed": seed}
    if max_train_seconds is not None:
        merged["max_train_seconds"] = max_train_seconds
    return merged


def cell_config_files(model: str, config_files: Mapping[str, Sequence[str | Path]] | None) -> list[str]:
    from recbole_ext.config import resolve_config_file

    config_files = config_files or {}
    return [str(resolve_config_file(p).resolve()) for p in [*config_files.get(ALL, []), *config_files.get(model, [])]]


# ------------------------------------------------------------------------------------------- grid
def run_grid(
    models: Sequence[str],
    datasets: Sequence[str],
    out_dir: str | Path,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    config_files: Mapping[str, Sequence[str | Path]] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    max_train_seconds: float | None = None,
    in_process: bool = False,
    cell_timeout: float | None = None,
    command: str | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run every unfinished cell of the grid, then write the tables and the plot; return the summary.

    ``config_files`` and ``overrides`` map a model name (or ``"*"``: every model) to config files
    and to ``{key: value}`` overrides. ``cell_timeout`` (seconds, subprocess mode) kills a cell
    that hangs; it is recorded as failed. ``jobs`` cells run at once (subprocess mode); on a
    small CPU give each run fewer threads (``torch_threads``).
    """
    from recbole_ext.config import build_config

    out = Path(out_dir).resolve()
    check_output_path(out, "--out", directory=True)
    for model in dict.fromkeys(models):  # every model, dataset, file and override checked before any cell runs
        for dataset in dict.fromkeys(datasets):
            build_config(model, dataset, cell_config_files(model, config_files),
                         cell_overrides(model, seeds[0], overrides, max_train_seconds))
    for sub in ("cells", "logs", "failed", "specs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    cells = [(m, d, s) for d in datasets for m in models for s in seeds]
    specs = {}
    for model, dataset, seed in cells:
        name = cell_name(model, dataset, seed)
        files = cell_config_files(model, config_files)
        specs[name] = {
            "model": model, "dataset": dataset, "config_files": files,
            "overrides": cell_overrides(model, seed, overrides, max_train_seconds),
            "config_sha256": {f: file_sha256(f) for f in files},
            "output_dir": str(out / "cells" / name),
        }
    check_finished_cells(out, specs)
    commit = git_commit()
    ran, skipped, todo = [], [], []
    for index, (name, spec) in enumerate(specs.items(), start=1):
        if read_result(Path(spec["output_dir"])) is not None:
            skipped.append(name)
        else:
            todo.append((f"[{index}/{len(cells)}] {name}", name, {**spec, "git_commit": commit}))

    def run_one(label: str, name: str, spec: dict[str, Any]) -> None:
        cell_dir = Path(spec["output_dir"])
        print(label + (" (resuming the interrupted run)" if can_resume(cell_dir, spec) else ""), flush=True)
        if not can_resume(cell_dir, spec):
            shutil.rmtree(cell_dir, ignore_errors=True)  # a partial directory that cannot be continued
        (out / "failed" / f"{name}.txt").unlink(missing_ok=True)
        error = run_cell_in_process(spec) if in_process else run_cell_subprocess(spec, out, name, cell_timeout)
        if error is not None:
            (out / "failed" / f"{name}.txt").write_text(error)
            print(f"    {name} failed: {error.strip().splitlines()[-1] if error.strip() else error}", flush=True)
        else:
            (cell_dir / "bench_cell.json").write_text(json.dumps(spec, indent=2) + "\n")
        ran.append(name)

    if jobs > 1 and not in_process:  # cells in parallel, each in its own subprocess
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(run_one, *job) for job in todo]:
                future.result()
    else:
        for job in todo:
            run_one(*job)
    summary = write_tables(out, cells, command=command)
    summary["ran"], summary["skipped"] = ran, skipped
    return summary


SETTINGS = ("model", "dataset", "config_files", "overrides", "config_sha256")


def check_finished_cells(out: Path, specs: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse to resume a grid whose finished cells were run with other settings (config files,
    their contents, overrides, time cap): their results would be mixed into the new tables."""
    stale = []
    for name, spec in specs.items():
        cell_dir = Path(spec["output_dir"])
        if read_result(cell_dir) is None:
            continue
        try:
            before = json.loads((cell_dir / "bench_cell.json").read_text())
        except (OSError, ValueError):
            before = {}
        now = json.loads(json.dumps(spec))  # the form it takes in bench_cell.json
        changed = [key for key in SETTINGS if key in before and before[key] != now[key]]
        if changed:
            stale.append(f"{name} ({', '.join(changed)})")
    if stale:
        from recbole_ext.errors import ConfigError

        raise ConfigError(
            f"{out} holds finished cells run with other settings: {'; '.join(stale)}. Resuming would mix "
            "them into the new tables: give a new --out, or delete those cells/ folders to re-run them."
        )


def file_sha256(path: str | Path) -> str:
    import hashlib

    from recbole_ext.errors import ConfigError

    if not Path(path).is_file():
        raise ConfigError(f"config file {path} not found: check --config_files / --model_config.")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def can_resume(cell_dir: Path, spec: Mapping[str, Any]) -> bool:
    """A killed cell whose run saved a resume state under the same settings continues from it."""

    try:
        before = json.loads((cell_dir / RUN_SPEC).read_text())
    except (OSError, ValueError):
        return False
    same = (before.get("model"), before.get("dataset"), before.get("config_files")) == (
        spec["model"], spec["dataset"], spec["config_files"])
    overrides = {k: v for k, v in before.get("overrides", {}).items() if k != "data_path"}
    wanted = {k: v for k, v in json.loads(json.dumps(spec["overrides"])).items() if k != "data_path"}
    return same and overrides == wanted and (cell_dir / RESUME_STATE).is_file()


def run_cell(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One cell through the pipeline: resumed when an interrupted run of it can be, else from scratch."""
    from recbole_ext.training.pipeline import resume, run

    if can_resume(Path(spec["output_dir"]), spec):
        return resume(spec["output_dir"])
    return run(spec["model"], spec["dataset"], spec["config_files"], spec["overrides"], spec["output_dir"])


def run_cell_in_process(spec: Mapping[str, Any]) -> str | None:
    """Run one cell here; the error text on failure, else None."""
    import traceback

    try:
        run_cell(spec)
    except Exception:  # noqa: BLE001  (a failing cell is recorded, the grid goes on)
        return traceback.format_exc()
    return None


def run_cell_subprocess(spec: Mapping[str, Any], out: Path, name: str, timeout: float | None) -> str | None:
    """Run one cell in a fresh Python (``python -m recbole_ext.bench --cell SPEC``); error text or None."""
    spec_file = out / "specs" / f"{name}.json"
    spec_file.write_text(json.dumps(spec, indent=2) + "\n")
    log_file = out / "logs" / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")) if p)}
    with open(log_file, "w") as log:
        try:
            code = subprocess.run([sys.executable, "-m", "recbole_ext.bench", "--cell", str(spec_file)],
                                  stdout=log, stderr=subprocess.STDOUT, env=env,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout} s (log: {log_file})\n"
    if code == 0 and read_result(Path(spec["output_dir"])) is not None:
        return None
    tail = log_file.read_text(errors="replace").splitlines()[-30:]
    return f"exit status {code} (log: {log_file})\n" + "\n".join(tail) + "\n"


# ----------------------------------------------------------------------------------------- tables
def write_tables(out: Path, cells: Iterable[tuple[str, str, int]], command: str | None = None) -> dict[str, Any]:
    """results.json, results.csv, results.md and ndcg_vs_time.png from the grid's finished cells."""
    out = Path(out)
    runs, failed = [], []
    for model, dataset, seed in cells:
        name = cell_name(model, dataset, seed)
        result = read_result(out / "cells" / name)
        if result is None:
            failed.append({"cell": name, "error": _failed_reason(out, name)})
            continue
        spec_file = out / "cells" / name / "bench_cell.json"
        spec = json.loads(spec_file.read_text()) if spec_file.is_file() else {}
        runs.append({"cell": name, "bench_model": model, "git_commit": spec.get("git_commit"),
                     **{k: v for k, v in result.items() if k != "valid_curve"}})
    rows = summarize(runs)
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "git_commit": sorted({r["git_commit"] for r in runs if r["git_commit"]}) or [git_commit()],
        "machine": machine(),
    }
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "summary": rows, "runs": runs, "failed": failed}, indent=2) + "\n")
    write_csv(rows, out / "results.csv")
    (out / "results.md").write_text(markdown(rows, meta, failed))
    plot(runs, out / "ndcg_vs_time.png")
    return {"summary": rows, "runs": runs, "failed": failed, "meta": meta, "out_dir": str(out)}


def _failed_reason(out: Path, name: str) -> str:
    path = out / "failed" / f"{name}.txt"
    if not path.is_file():
        return "not run"
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "failed"


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, dataset): every test metric as mean and sample std over the seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["bench_model"], r["dataset"]), []).append(r)
    rows = []
    for (model, dataset), group in groups.items():
        metrics = ordered_metrics({k for r in group for k in r["test_result"]})
        row: dict[str, Any] = {
            "model": model, "dataset": dataset, "seeds": sorted(r["seed"] for r in group),
            "eval_protocol": "; ".join(sorted({r["eval_protocol"] for r in group})),
            "metrics": {m: mean_std([r["test_result"][m] for r in group if m in r["test_result"]])
                        for m in metrics},
            "epochs": mean_std([r["epochs"] for r in group]),
            "train_seconds": mean_std([r["train_seconds"] for r in group]),
            "seconds_per_epoch": mean_std([r["seconds_per_epoch"] for r in group]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in group),
            "peak_gpu_mb": max((r.get("peak_gpu_mb") or 0 for r in group), default=0) or None,
            "stopped_by_time_cap": sum(bool(r.get("stopped_by_time_cap")) for r in group),
            "device": "; ".join(sorted({r["device"] for r in group})),
        }
        rows.append(row)
    return rows


def ordered_metrics(keys: Iterable[str]) -> list[str]:
    keys = set(keys)
    return [m for m in METRIC_ORDER if m in keys] + sorted(keys - set(METRIC_ORDER))


def mean_std(values: Sequence[float]) -> dict[str, float | None]:
    """Mean and sample standard deviation (None with one value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


def fmt(stat: Mapping[str, Any], digits: int = 4) -> str:
    text = f"{stat['mean']:.{digits}f}"
    return text if stat["std"] is None else f"{text} ± {stat['std']:.{digits}f}"


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    metrics = ordered_metrics({m for row in rows for m in row["metrics"]})
    header = ["model", "dataset", "n_seeds", "seeds", "eval_protocol"]
    header += [f"{m}_{part}" for m in metrics for part in ("mean", "std")]
    header += ["epochs_mean", "train_seconds_mean", "train_seconds_std", "seconds_per_epoch_mean",
               "peak_rss_mb_max", "peak_gpu_mb_max", "runs_stopped_by_time_cap", "device"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            values = [row["model"], row["dataset"], len(row["seeds"]), " ".join(map(str, row["seeds"])),
                      row["eval_protocol"]]
            for m in metrics:
                stat = row["metrics"].get(m)
                values += ["", ""] if stat is None else [_num(stat["mean"]), _num(stat["std"])]
            values += [_num(row["epochs"]["mean"]), _num(row["train_seconds"]["mean"]),
                       _num(row["train_seconds"]["std"]), _num(row["seconds_per_epoch"]["mean"]),
                       row["peak_rss_mb"], _num(row["peak_gpu_mb"]), row["stopped_by_time_cap"], row["device"]]
            writer.writerow(values)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def markdown(rows: list[dict[str, Any]], meta: Mapping[str, Any], failed: list[dict[str, str]]) -> str:
    """One table per metric set (ranking: HR/NDCG; rating: RMSE/MAE), then protocol and machine."""
    machine_text = ", ".join(f"{k} {v}" for k, v in meta["machine"].items())
    lines = [f"Generated {meta['date']} by `{meta['command'] or 'recbole_ext.bench'}`",
             f"(git {', '.join(meta['git_commit'])}; {machine_text}).", ""]
    by_metrics: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_metrics.setdefault(tuple(row["metrics"]), []).append(row)
    for metrics, group in by_metrics.items():
        header = ["Model", "Dataset", "Seeds", *[m.replace("hit@", "HR@").upper()
                                                  for m in metrics],
                  "Epochs", "Train s", "s / epoch", "Peak MiB", "Peak GPU MiB", "Capped"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in group:
            cells = [row["model"], row["dataset"], str(len(row["seeds"])),
                     *[fmt(row["metrics"][m]) for m in metrics],
                     f"{row['epochs']['mean']:.1f}", fmt(row["train_seconds"], 0),
                     f"{row['seconds_per_epoch']['mean']:.1f}", f"{row['peak_rss_mb']:.0f}",
                     "-" if row["peak_gpu_mb"] is None else f"{row['peak_gpu_mb']:.0f}",
                     f"{row['stopped_by_time_cap']}/{len(row['seeds'])}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    protocols = sorted({(row["dataset"], row["eval_protocol"]) for row in rows})
    lines += [f"Protocol ({dataset}): {protocol}." for dataset, protocol in protocols]
    lines.append("Mean ± sample standard deviation over the seeds; Capped: runs stopped by max_train_seconds.")
    if failed:
        lines += ["", "Cells without a result:"] + [f"- {f['cell']}: {f['error']}" for f in failed]
    return "\n".join(lines) + "\n"


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Test NDCG@10 against training seconds, one point per run (colour: model, marker: dataset)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in runs if "ndcg@10" in r["test_result"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    models = list(dict.fromkeys(r["bench_model"] for r in points))
    datasets = list(dict.fromkeys(r["dataset"] for r in points))
    markers = "osD^v<>P*X"
    for i, model in enumerate(models):
        for j, dataset in enumerate(datasets):
            sel = [r for r in points if r["bench_model"] == model and r["dataset"] == dataset]
            if sel:
                label = model if len(datasets) == 1 else f"{model} / {dataset}"
                ax.scatter([r["train_seconds"] for r in sel], [r["test_result"]["ndcg@10"] for r in sel],
                           color=f"C{i % 10}", marker=markers[j % len(markers)], label=label, alpha=0.8)
    ax.set_xlabel("training seconds")
    ax.set_ylabel("test NDCG@10")
    if points and max(r["train_seconds"] for r in points) > 20 * max(min(r["train_seconds"] for r in points), 1e-9):
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    if points:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------ command line
def parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``key=value`` (every model) and ``MODEL:key=value``; values are read as YAML (RecBole's loader)."""
    from recbole_ext.config import recbole_yaml_loader
    import yaml

    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set takes key=value or MODEL:key=value, not '{item}'")
        model, _, key = target.rpartition(":")
        overrides.setdefault(model or ALL, {})[key] = yaml.load(value, Loader=recbole_yaml_loader())
    return overrides


def parse_model_configs(items: Sequence[str], common: Sequence[str]) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {ALL: list(common)}
    for item in items:
        model, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --model_config takes MODEL=FILE, not '{item}'")
        files.setdefault(model, []).append(path)
    return files


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--models", nargs="+", help="model class names (ours or stock)")
    parser.add_argument("--datasets", nargs="+", default=["ml-100k"])
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=3, help="number of seeds, 2020, 2021, ... (default 3)")
    seeds.add_argument("--seed_list", type=int, nargs="+", help="explicit seeds")
    parser.add_argument("--out", type=Path, required=True, help="the grid's folder (resumed when it exists)")
    parser.add_argument("--config_files", nargs="+", default=[], metavar="YAML", help="config files for every cell")
    parser.add_argument("--model_config", action="append", default=[], metavar="MODEL=FILE",
                        help="a config file for one model's cells (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="[MODEL:]key=value",
                        help="an override for every cell or one model's cells (repeatable)")
    parser.add_argument("--max_train_seconds", type=float, help="training time cap per cell")
    parser.add_argument("--cell_timeout", type=float, help="kill a cell's subprocess after this many seconds")
    parser.add_argument("--jobs", type=int, default=1,
                        help="cells run at once, each in its own subprocess (default 1); with --set torch_threads=N")
    parser.add_argument("--in_process", action="store_true", help="run the cells in this process")
    parser.add_argument("--tables_only", action="store_true", help="only rebuild the tables from finished cells")
    parser.add_argument("--cell", type=Path, help=argparse.SUPPRESS)  # internal: run one cell's spec
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--cell" in argv:  # a cell's subprocess
        run_cell(json.loads(Path(argv[argv.index("--cell") + 1]).read_text()))
        return 0
    parser = build_parser()
    args = parser.parse_args(either_style(parser, argv))
    command = "python -m recbole_ext.bench " + " ".join(shlex.quote(a) for a in argv)
    summary = grid_from_args(args, command)
    if summary is None:
        return 2
    return 1 if summary["failed"] else 0


def grid_from_args(args: argparse.Namespace, command: str) -> dict[str, Any] | None:
    """Run (or, with ``--tables_only``, tabulate) the grid ``args`` describe and print its tables; the
    grid's summary (:func:`write_tables`), or None after printing a :class:`RecboleExtError`."""
    if not args.models:
        raise SystemExit("error: --models is required")
    seeds = seed_list(args)
    if args.tables_only:
        cells = [(m, d, s) for d in args.datasets for m in args.models for s in seeds]
        summary = write_tables(args.out.resolve(), cells, command=command)
    else:
        from recbole_ext.errors import RecboleExtError

        started = time.perf_counter()
        try:
            summary = run_grid(
                args.models, args.datasets, args.out, seeds,
                config_files=parse_model_configs(args.model_config, args.config_files),
                overrides=parse_sets(args.set), max_train_seconds=args.max_train_seconds,
                in_process=args.in_process, cell_timeout=args.cell_timeout, command=command, jobs=args.jobs,
            )
        except RecboleExtError as error:
            print(f"error: {error}", file=sys.stderr)
            return None
        print(f"ran {len(summary['ran'])} cells, skipped {len(summary['skipped'])} finished ones "
              f"in {time.perf_counter() - started:.0f} s")
    print((Path(summary["out_dir"]) / "results.md").read_text())
    return summary


def seed_list(args: argparse.Namespace) -> list[int]:
    return args.seed_list or [DEFAULT_SEEDS[0] + i for i in range(args.seeds)]


def git_commit() -> str:
    """Short commit of the checkout this package runs from, ``+dirty`` when tracked files differ from it;
    ``unknown`` for an installed copy (no git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).resolve().parent,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``), or None."""
    try:
        with open("/proc/cpuinfo") as lines:
            return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """The machine a measurement ran on: CPU, cores, memory, OS, Python, torch, GPU and the load average."""
    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    info["cpu_model"] = cpu_model()
    try:
        import psutil

        info["ram_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    info["os"] = platform.system() + " " + platform.release()
    info["python"] = platform.python_version()
    try:
        import torch

        info["torch"] = torch.__version__
        from recbole_ext.precision import cpu_computes_bf16

        info["cpu_bf16"] = cpu_computes_bf16()  # bfloat16 in hardware (AVX-512-bf16 / AMX): what precision auto uses
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        pass
    info["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return info


def headline_rows(rows: list[dict[str, Any]], budget: str = "") -> list[tuple[str, str]]:
    """(what, value) per model of a grid: test NDCG@10 (ranking) or RMSE (rating), mean over seeds."""
    found = []
    for row in rows:
        metric = "ndcg@10" if "ndcg@10" in row["metrics"] else "rmse" if "rmse" in row["metrics"] else None
        if metric:
            n_epochs = row["epochs"]["mean"]
            epochs = f", {n_epochs:g} epoch{'' if n_epochs == 1 else 's'}" + (" (capped)" if row["stopped_by_time_cap"] else "")
            found.append((f"{row['model']} on {row['dataset']}{budget}{epochs}, test {metric.upper()}",
                          fmt(row["metrics"][metric])))
    return found


if __name__ == "__main__":
    sys.exit(main())
