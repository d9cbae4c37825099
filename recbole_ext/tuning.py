"""Hyperparameter search for our models and stock ones, through the project's pipeline.

RecBole's ``HyperTuning`` (hyperopt: ``exhaustive``, ``random`` or ``bayes``) drives the search; its
search-space files are used unchanged::

    learning_rate loguniform -8,-5        # natural-log bounds: exp(-8) .. exp(-5)
    dropout_prob choice [0.2,0.5]
    hidden_size choice [32,64]
    weight_decay uniform 0,0.001
    n_layers quniform 1,3,1

Stock RecBole's ``objective_function`` resolves models by name inside recbole only (ours fail) and
its ``run_hyper.py --tool Ray`` asks for a GPU per trial. Here every trial is one
:func:`recbole_ext.training.pipeline.run_config` call with the trial's parameters as overrides, in its own
directory, and the same trials can run through Ray Tune (CPU or GPU per trial, in parallel on one
machine or on a cluster). Outputs of a search in ``output_dir``::

    trials/<trial>/      the trial's run directory (run.log, checkpoint/, result.json) + trial.json
    trials.csv, trials.md, trials.json
                         every trial: parameters, status (ok / failed + error), best validation
                         metric, test metrics, training seconds, epochs
    best_params.yaml     the best trial's parameters: ``--config_files best_params.yaml`` reuses them

A trial that raises is recorded as ``failed`` with its error (traceback in ``trials/<trial>/error.txt``)
and the search goes on.

Command line (``recbole-ext-tune``, or ``python run.py`` with ``--tune``)::

    python run.py --model SASRec --dataset ml-100k --tune SASRec \
        [--algo exhaustive|random|bayes] [--max_evals N] [--tool hyperopt|ray] [--key=value ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from recbole_ext import compat  # before recbole is used

from recbole.trainer.hyper_tuning import HyperTuning

from recbole_ext.config import PACKAGE_DIR, build_config, resolve_config_file, resolve_search_space
from recbole_ext.errors import ConfigError
from recbole_ext.training.pipeline import plain_value, run_config
from recbole_ext.outputs import DEFAULT_OUTPUT_ROOT, check_output_path

ALGOS = ("exhaustive", "random", "bayes")
TOOLS = ("hyperopt", "ray")
SPACE_TYPES = ("choice", "uniform", "quniform", "loguniform")
# hyperopt's loss for a failed trial: finite (no_progress_loss computes best * 0.0) and never best.
FAILED_LOSS = 1e30


# ----------------------------------------------------------------------------------- search space
def read_space(params_file: str | Path) -> dict[str, tuple[str, list[Any]]]:
    """``{name: (type, values)}`` of a RecBole search-space file, parsed as RecBole parses it.

    ``choice`` values are the evaluated list; the other types give their float bounds (and ``q``).
    Lines with fewer than three fields (blank lines, comments without spaces) are skipped as
    RecBole skips them; a line starting with ``#`` is a comment here.
    """
    path = resolve_search_space(params_file)
    space: dict[str, tuple[str, list[Any]]] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.strip().split(" ")
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        name, kind, value = fields[0], fields[1], "".join(fields[2:])
        if name in first_line:  # RecBole would keep the last line silently
            raise ConfigError(f"{path}:{number}: '{name}' is already searched on line {first_line[name]}: keep one "
                              "line per parameter (merge the values into one choice list).")
        first_line[name] = number
        try:
            if kind == "choice":
                values = list(eval(value))  # RecBole's syntax: a Python list literal
            elif kind in ("uniform", "loguniform", "quniform"):
                values = [float(v) for v in value.split(",")]
                if len(values) != (3 if kind == "quniform" else 2):
                    raise ValueError(f"{kind} takes {'low,high,q' if kind == 'quniform' else 'low,high'}")
            else:
                raise ValueError(f"unknown type '{kind}' (use one of {', '.join(SPACE_TYPES)})")
        except Exception as error:  # noqa: BLE001  (eval of a user's list literal can raise anything)
            raise ConfigError(f"{path}:{number}: cannot read '{line.strip()}': {error}") from None
        space[name] = (kind, values)
    if not space:
        raise ConfigError(f"Search-space file '{path}' holds no 'name type values' line.")
    return space


def hyperopt_space(params_file: str | Path) -> dict[str, Any]:
    """The hyperopt space RecBole's ``HyperTuning`` builds from ``params_file`` (after our checks)."""
    read_space(params_file)
    filtered = _without_comments(params_file)
    try:
        return HyperTuning._build_space_from_file(filtered)
    finally:
        os.unlink(filtered)


def _without_comments(params_file: str | Path) -> str:
    lines = [line for line in Path(params_file).read_text(encoding="utf-8").splitlines()
             if not line.strip().startswith("#")]
    with tempfile.NamedTemporaryFile("w", suffix=".hyper", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return f.name


# ------------------------------------------------------------------------------------------ trials
def run_trial(
    model: str | type,
    dataset: str,
    params: Mapping[str, Any],
    trial_dir: str | Path,
    config_files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one trial in ``trial_dir``; never raises for a failing run.

    Returns (and writes to ``trial_dir/trial.json``) the trial's row: ``trial``, ``status``
    (``ok`` or ``failed``), ``params``, ``valid_metric``, ``valid_score_bigger``,
    ``best_valid_score``, ``best_valid_result``, ``test_result``, ``train_seconds``, ``epochs``,
    ``output_dir``, ``error``, ``loss`` (what the search minimises), ``started_at``, ``finished_at``.
    """
    trial_dir = Path(trial_dir).resolve()
    trial_dir.mkdir(parents=True, exist_ok=True)
    params = {key: plain_value(_python_scalar(value)) for key, value in params.items()}
    row: dict[str, Any] = {
        "trial": trial_dir.name, "status": "failed", "params": params, "valid_metric": None,
        "valid_score_bigger": True, "best_valid_score": None, "best_valid_result": {},
        "test_result": {}, "train_seconds": None, "epochs": None, "output_dir": str(trial_dir),
        "error": None, "loss": FAILED_LOSS, "started_at": time.time(), "finished_at": None,
    }
    started = time.perf_counter()
    try:
        config = build_config(model, dataset, config_files, {**(overrides or {}), **params})
        row["valid_metric"] = str(config["valid_metric"]).lower()
        row["valid_score_bigger"] = bool(config["valid_metric_bigger"])
        result = run_config(config, trial_dir)
        if result["best_valid_score"] is None:
            raise ConfigError(
                "the run has no validation part, so trials cannot be compared without touching the "
                "test set: use a split with a validation part (e.g. --config_files rating-split-tune)."
            )
        row.update(
            status="ok", best_valid_score=result["best_valid_score"],
            best_valid_result=result["best_valid_result"], test_result=result["test_result"],
            train_seconds=result["train_seconds"], epochs=result["epochs"],
        )
        score = result["best_valid_score"]
        row["loss"] = -score if row["valid_score_bigger"] else score
    except Exception as error:  # noqa: BLE001  (a failing trial is recorded, the search goes on)
        row["error"] = f"{type(error).__name__}: {error}"
        (trial_dir / "error.txt").write_text(traceback.format_exc())
        if row["train_seconds"] is None:
            row["train_seconds"] = round(time.perf_counter() - started, 3)
    row["finished_at"] = time.time()
    (trial_dir / "trial.json").write_text(json.dumps(row, indent=2) + "\n")
    return row


def _python_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_python_scalar(v) for v in value]
    return value


class _PipelineHyperTuning(HyperTuning):
    """RecBole's ``HyperTuning`` whose trials go through :func:`run_trial` (failures included)."""

    def __init__(self, trial_fn, seed: int, **kwargs):
        super().__init__(objective_function=None, **kwargs)
        self.trial_fn = trial_fn
        self.seed = seed
        self.rows: list[dict[str, Any]] = []

    def trial(self, params):
        import hyperopt

        row = self.trial_fn(params, len(self.rows))
        self.rows.append(row)
        status = hyperopt.STATUS_OK if row["status"] == "ok" else hyperopt.STATUS_FAIL
        return {"loss": row["loss"], "status": status}

    def run(self):
        from hyperopt import fmin
        from hyperopt.exceptions import AllTrialsFailed

        try:
            fmin(self.trial, self.space, algo=self.algo, max_evals=int(self.max_evals),
                 early_stop_fn=self.early_stop_fn, rstate=np.random.default_rng(self.seed),
                 show_progressbar=False, return_argmin=False)
        except AllTrialsFailed:
            pass  # every trial's row holds its error; the caller reports them


# ------------------------------------------------------------------------------------------ search
def tune(
    model: str | type,
    dataset: str,
    params_file: str | Path,
    algo: str = "exhaustive",
    max_evals: int = 100,
    early_stop: int = 10,
    tool: str = "hyperopt",
    config_files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    search_seed: int = 2020,
    ray_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Search ``params_file``'s space; return ``{"trials", "best", "output_dir", "files"}``.

    ``algo``: ``exhaustive`` tries every combination of the ``choice`` parameters (``max_evals`` is
    ignored, as in RecBole); ``random`` and ``bayes`` (TPE) draw ``max_evals`` trials. ``early_stop``
    (hyperopt only; RecBole's default 10) stops after that many trials without improvement, 0 never.
    ``tool="ray"`` runs the trials through Ray Tune, see :func:`ray_search` for ``ray_options``.
    """
    if algo not in ALGOS:
        raise ConfigError(f"Unknown search algorithm '{algo}': use one of {', '.join(ALGOS)}.")
    if tool not in TOOLS:
        raise ConfigError(f"Unknown tuning tool '{tool}': use one of {', '.join(TOOLS)}.")
    if max_evals < 1:
        raise ConfigError(f"--max_evals {max_evals}: a search needs at least one trial (e.g. --max_evals 20).")
    if early_stop < 0:
        raise ConfigError(f"--early_stop {early_stop}: give 0 (never stop early) or a number of trials.")
    model_name = model if isinstance(model, str) else model.__name__
    config = build_config(model, dataset, config_files, overrides)  # fail fast on a bad model/dataset/config
    params_file = resolve_search_space(params_file)  # and on a missing search space, before any output
    read_space(params_file)  # and on a space that cannot be read or names a parameter twice
    out = Path(output_dir) if output_dir else DEFAULT_OUTPUT_ROOT / (
        f"tune-{model_name}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}")
    out = out.resolve()
    check_output_path(out, "--output_dir", directory=True)
    if (out / "trials").is_dir() and any((out / "trials").iterdir()):
        raise ConfigError(f"--output_dir '{out}' already holds a search (trials/), which is never overwritten: "
                          "give a new --output_dir.")
    trials_dir = out / "trials"
    trials_dir.mkdir(parents=True, exist_ok=True)
    config_files = [str(resolve_config_file(p).resolve()) for p in config_files]
    overrides = dict(overrides or {})
    # Ray runs each trial in a working directory of its own: a relative data_path would point there.
    overrides["data_path"] = str(Path(config["data_path"]).resolve().parent)
    if tool == "hyperopt":
        space = hyperopt_space(params_file)
        total = search_size(params_file) if algo == "exhaustive" else max_evals
        # each trial's log (model, epochs) goes to its folder; the console gets one line per trial
        trial_overrides = {"state": "WARNING", "show_progress": False, **overrides}
        finished: list[dict[str, Any]] = []

        def trial_fn(params: dict[str, Any], index: int) -> dict[str, Any]:
            row = run_trial(model, dataset, params, trials_dir / f"{index:04d}", config_files, trial_overrides)
            finished.append(row)
            print(trial_line(row, len(finished), total, finished), flush=True)
            return row

        search = _PipelineHyperTuning(
            trial_fn, seed=search_seed, space=space, algo=algo, max_evals=max_evals,
            early_stop=early_stop if early_stop > 0 else sys.maxsize,
        )
        search.run()
        rows = search.rows
    else:
        rows = ray_search(model, dataset, params_file, algo, max_evals, trials_dir, config_files,
                          overrides, search_seed, **(ray_options or {}))
    files = write_trials(rows, out, model_name, dataset)
    ok = [row for row in rows if row["status"] == "ok"]
    best = min(ok, key=lambda row: row["loss"]) if ok else None
    return {"trials": rows, "best": best, "output_dir": str(out), "files": files}


def search_size(params_file: str | Path) -> int:
    """Trials of an exhaustive search: the product of the ``choice`` lists' lengths."""
    size = 1
    for kind, values in read_space(params_file).values():
        size *= len(values) if kind == "choice" else 1
    return size


def trial_line(row: Mapping[str, Any], done: int, total: int, rows: list[Mapping[str, Any]]) -> str:
    """``trial 3/8 (0002): {params} -> valid ndcg@10 0.1234 in 61 s; best so far 0.1301 (0000)``."""
    params = ", ".join(f"{key}={value}" for key, value in row["params"].items())
    head = f"trial {done}/{total} ({row['trial']}): {params}"
    if row["status"] != "ok":
        return f"{head} -> failed: {str(row['error']).splitlines()[-1][:160] if row['error'] else 'no message'}"
    ok = [r for r in rows if r["status"] == "ok"]
    best = min(ok, key=lambda r: r["loss"])
    return (f"{head} -> valid {row['valid_metric']} {row['best_valid_score']:.4f} in {row['train_seconds']:.0f} s; "
            f"best so far {best['best_valid_score']:.4f} ({best['trial']})")


# -------------------------------------------------------------------------------------------- ray
def ray_search(
    model: str | type,
    dataset: str,
    params_file: str | Path,
    algo: str,
    max_evals: int,
    trials_dir: Path,
    config_files: list[str],
    overrides: dict[str, Any],
    search_seed: int = 2020,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    max_concurrent_trials: int | None = None,
) -> list[dict[str, Any]]:
    """The same trials through Ray Tune's ``Tuner``: ``{cpu: cpus_per_trial, gpu: gpus_per_trial}`` each.

    Locally (``address=None``) Ray starts with ``num_cpus`` CPUs (default: all), no dashboard, in a
    temporary directory of its own, and is shut down afterwards; ``address="auto"`` or
    ``"ray://host:10001"`` joins a running cluster (recbole-ext must be importable on its nodes).
    ``exhaustive`` maps ``choice`` to ``tune.grid_search``; ``random`` samples with Ray's basic
    variant generator; ``bayes`` is hyperopt's TPE through Ray's ``HyperOptSearch``.
    """
    ray, tune = import_ray()

    space = read_space(params_file)
    started_here = not ray.is_initialized()
    temp_dir = None
    if started_here:
        # Workers must import recbole_ext (and run its compat patches), installed or not.
        python_path = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")) if p)
        if address is None:
            os.environ["PYTHONPATH"] = python_path  # inherited by the local raylet and its workers
            temp_dir = tempfile.mkdtemp(prefix="rbx-ray-", dir="/tmp")  # short: Ray's socket paths
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     _temp_dir=temp_dir, configure_logging=False)
        else:
            compat.ray_client_auth_like_ray_start()
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": python_path}})
    try:
        if algo == "bayes":
            from ray.tune.search.hyperopt import HyperOptSearch

            search_alg = HyperOptSearch(space=hyperopt_space(params_file), metric="loss", mode="min",
                                        random_state_seed=search_seed)
            param_space, num_samples = {}, max_evals
        else:
            from ray.tune.search.basic_variant import BasicVariantGenerator

            search_alg = BasicVariantGenerator(random_state=search_seed)
            param_space = {name: _ray_domain(kind, values, grid=algo == "exhaustive")
                           for name, (kind, values) in space.items()}
            num_samples = 1 if algo == "exhaustive" else max_evals
        trainable = tune.with_resources(
            tune.with_parameters(_ray_trial, model=model, dataset=dataset, trials_dir=str(trials_dir),
                                 config_files=config_files,
                                 overrides={"state": "WARNING", "show_progress": False, **overrides}),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
        )
        total = search_size(params_file) if algo == "exhaustive" else max_evals
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(search_alg=search_alg, num_samples=num_samples,
                                        max_concurrent_trials=max_concurrent_trials),
            run_config=tune.RunConfig(name="ray", storage_path=str(trials_dir.parent), verbose=0,
                                      callbacks=[_trial_lines_callback(total)]),
        )
        tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
            if temp_dir:
                shutil.rmtree(temp_dir, ignore_errors=True)
    # Each trial wrote its row next to its run; a trial Ray itself lost has no row and is reported.
    return [json.loads(path.read_text()) for path in sorted(trials_dir.glob("*/trial.json"))]


def _ray_domain(kind: str, values: list[Any], grid: bool):
    from ray import tune

    if kind == "choice":
        return tune.grid_search(values) if grid else tune.choice(values)
    if kind == "uniform":
        return tune.uniform(*values)
    if kind == "loguniform":  # RecBole's bounds are natural logs
        return tune.loguniform(math.exp(values[0]), math.exp(values[1]))
    low, high, q = values
    return tune.quniform(low, high, q)


def _ray_trial(params: dict[str, Any], model, dataset, trials_dir, config_files, overrides) -> None:
    """One Ray Tune trial (runs in a Ray worker): the pipeline in ``trials_dir/<trial id>``."""
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    # RecBole sets CUDA_VISIBLE_DEVICES from gpu_id: the GPUs Ray gave this trial ("": none, the CPU).
    overrides = {**overrides, "gpu_id": ",".join(str(gpu) for gpu in ray.get_gpu_ids())}
    trial_id = tune.get_context().get_trial_id()
    row = run_trial(model, dataset, params, Path(trials_dir) / trial_id, config_files, overrides)
    tune.report({"loss": row["loss"], "ok": row["status"] == "ok", "row": json.dumps(row, default=str)})


def _trial_lines_callback(total: int):
    """A Ray Tune callback printing :func:`trial_line` for each finished trial, on the driver."""
    from ray import tune

    class TrialLines(tune.Callback):
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if "row" not in result:
                return
            row = json.loads(result["row"])
            self.rows.append(row)
            print(trial_line(row, len(self.rows), total, self.rows), flush=True)

    return TrialLines()


def import_ray():
    """``(ray, ray.tune)``, or a clear error naming the install command when Ray is missing or too old."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ConfigError("--tool ray needs Ray Tune: pip install \"recbole-ext[ray]\" "
                          "(or use --tool hyperopt, which needs nothing more).") from None
    if not all(hasattr(tune, name) for name in ("RunConfig", "report", "get_context")):
        raise ConfigError(f"Ray {ray.__version__} is too old for recbole-ext's Ray Tune API: "
                          "pip install -U \"ray[tune]>=2.40\".")
    return ray, tune


# ----------------------------------------------------------------------------------------- tables
def write_trials(rows: list[dict[str, Any]], out: Path, model: str, dataset: str) -> dict[str, str]:
    """Write trials.csv, trials.md, trials.json and (when a trial succeeded) best_params.yaml."""
    out = Path(out)
    param_names = list(dict.fromkeys(name for row in rows for name in row["params"]))
    metric_names = list(dict.fromkeys(name for row in rows for name in row["test_result"]))
    valid_metric = next((row["valid_metric"] for row in rows if row["valid_metric"]), "valid score")
    header = ["trial", "status", *param_names, f"valid {valid_metric}",
              *[f"test {m}" for m in metric_names], "train_seconds", "epochs", "error"]
    table = [
        [row["trial"], row["status"], *[_cell(row["params"].get(p)) for p in param_names],
         _cell(row["best_valid_score"]), *[_cell(row["test_result"].get(m)) for m in metric_names],
         _cell(row["train_seconds"]), _cell(row["epochs"]), row["error"] or ""]
        for row in rows
    ]
    files = {"csv": out / "trials.csv", "md": out / "trials.md", "json": out / "trials.json"}
    with open(files["csv"], "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *table])
    lines = [f"# Tuning {model} on {dataset}: {len(rows)} trials, "
             f"{sum(row['status'] == 'ok' for row in rows)} ok", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in line) + " |"
              for line in table]
    files["md"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    files["json"].write_text(json.dumps({"model": model, "dataset": dataset, "trials": rows}, indent=2) + "\n")
    ok = [row for row in rows if row["status"] == "ok"]
    if ok:
        best = min(ok, key=lambda row: row["loss"])
        files["best"] = out / "best_params.yaml"
        comment = (f"# Best of {len(rows)} trials for {model} on {dataset}: trial {best['trial']}, "
                   f"valid {best['valid_metric']} {best['best_valid_score']:.4f}.\n"
                   "# Use with: python run.py --model M --dataset D --config_files <this file>\n")
        files["best"].write_text(comment + yaml.safe_dump(best["params"], sort_keys=False))
    return {kind: str(path) for kind, path in files.items()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):  # 4 decimals for metrics; 1e-05 stays 1e-05 (a weight decay), not 0.0000
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


# ------------------------------------------------------------------------------------ command line
def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The tuning flags, shared by ``run.py`` and ``recbole-ext-tune``."""
    group = parser.add_argument_group("hyperparameter search (with --tune)")
    group.add_argument("--tune", type=Path, metavar="FILE",
                       help="a RecBole search-space file, or a shipped one by name (e.g. SASRec)")
    group.add_argument("--algo", choices=ALGOS, default="exhaustive", help="search algorithm (default exhaustive)")
    group.add_argument("--max_evals", type=int, default=100, help="trials for random / bayes (default 100)")
    group.add_argument("--early_stop", type=int, default=10,
                       help="hyperopt: stop after N trials without improvement (default 10, RecBole's; 0: never)")
    group.add_argument("--tool", choices=TOOLS, default="hyperopt", help="run trials in-process or through Ray Tune")
    group.add_argument("--ray_address", help="Ray cluster address (default: start Ray locally)")
    group.add_argument("--num_cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    group.add_argument("--cpus_per_trial", type=float, default=1, help="Ray: CPUs per trial (default 1)")
    group.add_argument("--gpus_per_trial", type=float, default=0, help="Ray: GPUs per trial (default 0)")
    group.add_argument("--search_seed", type=int, default=2020, help="seed of the search itself")


def tune_from_args(args: argparse.Namespace, overrides: dict[str, Any]) -> dict[str, Any]:
    return tune(
        args.model, args.dataset, args.tune, algo=args.algo, max_evals=args.max_evals,
        early_stop=args.early_stop, tool=args.tool, config_files=args.config_files, overrides=overrides,
        output_dir=args.output_dir, search_seed=args.search_seed,
        ray_options={"address": args.ray_address, "num_cpus": args.num_cpus,
                     "cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial},
    )


def print_tuning_summary(result: dict[str, Any]) -> None:
    rows = result["trials"]
    print(f"\n{len(rows)} trials, {sum(r['status'] == 'ok' for r in rows)} ok; table: {result['files']['md']}")
    for row in rows:
        if row["status"] != "ok":
            print(f"  trial {row['trial']} failed: {row['error']}")
    best = result["best"]
    if best:
        print(f"best: trial {best['trial']} valid {best['valid_metric']} {best['best_valid_score']:.4f} "
              f"params {best['params']}")
        print(f"best parameters: {result['files']['best']}")
