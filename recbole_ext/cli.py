"""The ``run`` command: train and evaluate one model on one dataset, RecBole-style.

``recbole-ext-run``, ``python -m recbole_ext.cli`` and the repository's ``run.py`` are this module::

    python run.py                                    # the quick-start job on the bundled ML-100K
    python run.py --model SASRec --dataset ml-100k --epochs=5
    python run.py --model M --dataset D --config_files a.yaml b.yaml --key=value --result_file out.json
    python run.py --model SASRec --dataset ml-100k --tune SASRec --algo random --max_evals 20

Any ``--key=value`` is a RecBole configuration override (it wins over the config files).
``python run.py --help`` lists the models and the datasets it can find.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from recbole_ext import MODELS, RecboleExtError, run
from recbole_ext.training.pipeline import resume
from recbole_ext.config import DEFAULT_DATA_PATH, available_datasets
from recbole_ext.compat import end_torchrun_rank
from recbole_ext.torchrun import launched, resume_command, this_rank
from recbole_ext.errors import (
    ConfigError, DataError, Interrupted, UnknownDatasetError, UnknownModelError, interrupt_on_signals,
)
from recbole_ext.flags import either_style
from recbole_ext.outputs import check_fresh_run_dir, check_output_path, write_atomically
from recbole_ext.models import stock_model_names
from recbole_ext.tuning import add_tuning_arguments, print_tuning_summary, tune_from_args

# The job `python run.py` runs with no arguments: offline, on the ML-100K copy bundled in recbole.
QUICKSTART = {
    "model": "SASRecPaper",
    "dataset": "ml-100k",
    "config_files": ["quickstart"],  # a preset of recbole_ext/configs, by name
}


def build_parser(with_listing: bool) -> argparse.ArgumentParser:
    epilog = None
    if with_listing:  # importing every RecBole model to list them takes a few seconds
        epilog = (
            f"our models: {', '.join(sorted(MODELS)) or '(none yet)'}\n"
            f"stock RecBole sequential models: "
            f"{', '.join(stock_model_names(('sequential_recommender',)))}\n"
            f"(any other stock RecBole model is accepted by its class name)\n"
            f"datasets found (bundled, and under {DEFAULT_DATA_PATH}): "
            f"{', '.join(available_datasets())}\n"
            "add datasets with: python -m recbole_ext.convert --help\n"
            "any --key=value is passed to RecBole's config, e.g. --epochs=5 --learning_rate=0.01"
        )
    parser = argparse.ArgumentParser(
        description="Train and evaluate a RecBole model (ours or stock) on a dataset.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", help=f"model class name (default {QUICKSTART['model']})")
    parser.add_argument("--dataset", help=f"dataset name (default {QUICKSTART['dataset']})")
    parser.add_argument("--config_files", nargs="+", default=[], metavar="YAML", help="config files, in order")
    parser.add_argument("--result_file", type=Path, help="also write the result JSON here")
    parser.add_argument("--overwrite", action="store_true", help="replace --result_file if it exists")
    parser.add_argument("--output_dir", type=Path, help="this run's output directory (default outputs/<run>)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue an interrupted run from its last completed epoch, in its own directory")
    add_tuning_arguments(parser)  # --tune FILE [--algo ...] [--max_evals N] [--tool hyperopt|ray]
    return parser


RANK_GRACE_SECONDS = 3.0  # a rank other than 0 waits this long before exiting on a mistake rank 0 reports


def parse_overrides(extra: list[str]) -> dict[str, str]:
    """``--key=value`` arguments as strings; RecBole's Config converts them as it does its own."""
    overrides = {}
    for arg in extra:
        key, sep, value = arg[2:].partition("=")
        if not arg.startswith("--") or not sep or not key:
            raise ConfigError(f"Unrecognised argument '{arg}': overrides are written --key=value (e.g. --epochs=5).")
        overrides[key] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    """The command's exit status; under ``torchrun`` the rank ends here instead, with that status
    (:func:`recbole_ext.compat.end_torchrun_rank`: torch 2.13's gloo threads can abort a rank that
    finished while Python shuts down)."""
    status = _main_with_errors(sys.argv[1:] if argv is None else argv)
    if launched():
        end_torchrun_rank(status)
    return status


def _main_with_errors(argv: list[str]) -> int:
    parser = build_parser(with_listing=any(a in ("-h", "--help") for a in argv))
    args, extra = parser.parse_known_args(either_style(parser, argv))
    # Under torchrun every rank runs this: a mistake known before training (a flag, a key, the data) is the
    # same on every rank, so rank 0 alone prints it; every rank exits 2. A stop prints rank 0's line, which
    # names the resume command. (torchrun then adds its own report of the failed ranks: docs/scaling.md.)
    speaks = this_rank() == 0
    try:
        with interrupt_on_signals():
            return _main(args, extra)
    except RecboleExtError as error:
        if speaks or not isinstance(error, (ConfigError, DataError, UnknownModelError, UnknownDatasetError)):
            print(f"error: {error}", file=sys.stderr, flush=True)
        else:  # torchrun stops the other ranks as soon as one exits: give rank 0 the time to print first
            time.sleep(RANK_GRACE_SECONDS)
        return 2
    except Interrupted as stop:
        where = (f": the state after the last completed validation is kept; resume with: "
                 f"{resume_command(stop.run_dir)}" if stop.run_dir else "; what was written so far is kept")
        if speaks:
            print(f"error: interrupted by {stop.signal_name}{where}", file=sys.stderr)
        return 128 + stop.signal_number


def _main(args: argparse.Namespace, extra: list[str]) -> int:
    overrides = parse_overrides(extra)
    if args.result_file:
        check_output_path(args.result_file, "--result_file", overwrite=args.overwrite)
    if args.resume:
        data_path = overrides.pop("data_path", None)  # the data moved: where it is now
        if args.model or args.dataset or args.config_files or overrides or args.tune or args.output_dir:
            raise ConfigError("--resume RUN_DIR continues a run with its own settings: give it alone "
                              "(with --result_file, or --data_path=DIR where its data moved, at most).")
        result = resume(args.resume, data_path=data_path)
    else:
        if not args.model and not args.dataset:  # the quick-start job, the user's flags on top
            print(f"No --model / --dataset: the quick-start job ({QUICKSTART['model']} on "
                  f"{QUICKSTART['dataset']}, preset {QUICKSTART['config_files'][0]}), with the flags given on top.")
            args.model, args.dataset = QUICKSTART["model"], QUICKSTART["dataset"]
            args.config_files = [*QUICKSTART["config_files"], *args.config_files]
        args.model, args.dataset = args.model or QUICKSTART["model"], args.dataset or QUICKSTART["dataset"]
        if args.tune:  # hyperparameter search: every trial is one run (recbole_ext/tuning.py)
            search = tune_from_args(args, overrides)
            print_tuning_summary(search)
            if not search["best"]:
                first = next((row["error"] for row in search["trials"] if row.get("error")), "no trial ran")
                first = str(first).strip().splitlines()[-1] if str(first).strip() else "no message"
                raise ConfigError(f"every trial of the search failed; the first: {first} (all errors: "
                                  f"{search['output_dir']}/trials/*/trial.json). Fix it and search again.")
            return 0
        if args.output_dir:
            check_fresh_run_dir(args.output_dir.resolve())
        result = run(args.model, args.dataset, config_files=args.config_files, overrides=overrides,
                     output_dir=args.output_dir)
    if this_rank() != 0:  # torchrun: rank 0 reports for all
        return 0
    if args.result_file:
        args.result_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(args.result_file, json.dumps(result, indent=2) + "\n")
    print_summary(result)
    return 0


def tune_main(argv: list[str] | None = None) -> int:
    """``recbole-ext-tune``: ``run.py`` with ``--tune FILE`` required."""
    argv = sys.argv[1:] if argv is None else argv
    if "--tune" not in argv and not any(a in ("-h", "--help") for a in argv):
        print("error: --tune FILE is required (a RecBole search-space file, e.g. SASRec, or a path)",
              file=sys.stderr)
        return 2
    return main(argv)


def print_summary(result: dict) -> None:
    print(f"\n{result['model']} on {result['dataset']} ({result['eval_protocol']})")
    resumed = f" (resumed after epoch {result['resumed_after_epoch']})" if result.get("resumed") else ""
    print(f"trained {result['epochs']} epochs in {result['train_seconds']:.1f} s on {result['device']}{resumed}")
    for note in result.get("data_notes", []):
        print(f"note: {note}")
    for split in ("best_valid_result", "test_result"):
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in result[split].items())
        print(f"{split.replace('_result', ''):>10}: {metrics}")
    print(f"outputs: {result['output_dir']}")


if __name__ == "__main__":
    sys.exit(main())
