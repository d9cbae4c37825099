"""recbole-ext against its peers on one exported split, every library's lists scored by ``recbole_ext.evaluate``.

    python benchmarks/bench_peers.py --dataset ml1m --data_path atomic_data --budget 900 --threads 1
    python benchmarks/bench_peers.py --dataset ml-100k --budget 120 --libraries ours recbole rectools replay --publish peers-ml100k

1. The split of ``--preset`` (default ``sasrec-ml1m-ce``) is exported once with ``recbole-ext-split``:
   ``split.tsv`` (every validation and test target) and ``interactions.tsv`` (every interaction in
   its exact order, with its phase).
2. Each library trains in its own process, on the same threads (``--threads``) and the same
   wall-clock training budget (``--budget`` seconds), with the preset's architecture and training
   hyperparameters where they map (below), and writes its top-K lists for the validation and test
   targets (history: everything before the target, seen items filtered: the ``full_masked``
   protocol). ``recbole_ext.evaluate`` scores every list against ``split.tsv``.
3. Printed (and published with ``--publish NAME``): per library, seconds per epoch, epochs in the
   budget, peak RSS, validation and test NDCG@10 / HR@10, and the ratios to ours. A peer's epochs are
   its whole ones and its seconds per epoch run to the last whole epoch's end (an epoch cut by the
   budget counts in neither; ``benchmarks/peers/peer_run.py``); ours stop after an epoch's validation.

Libraries (``--libraries``):

- ``ours``: SASRecPaper with the preset, early stopping on validation NDCG@10 inside the budget,
  the best epoch's model (a validation pass per epoch is inside its training seconds). Its
  evaluator scores equal its run's own ``test_result`` (checked and printed).
- ``recbole``: stock RecBole ``SASRec`` through the same data path (our split, exact order), the
  preset's architecture; RecBole trains one row per prefix (128 rows per batch, not 128 users) with
  CE on the last position, post-LayerNorm blocks and GELU (its own model), validation every epoch. The
  time cap stops a run after an epoch's validation, and on ML-1M one epoch (~1M prefix rows) outlasts a
  900 or 1,800 s budget: leave it out there (its ML-1M row is in docs/results.md#gpu-ml1m-cpu-sasrec).
- ``rectools``: RecTools 0.19 ``SASRecModel`` in a virtualenv of its own (``benchmarks/peers/rectools.txt``,
  created under ``--venvs`` on first use: RecTools pins pandas < 3 and numpy < 2), trained by
  ``benchmarks/peers/rectools_sasrec.py`` on the ``train`` rows until the budget; the last epoch's
  model (no early stopping, no validation inside the budget; the preset's ``epochs`` as its upper bound).
- ``rectools-flat``: RecTools 0.19's fast-transformers ``FlatSASRecNet`` (same virtualenv), a bare network
  trained by ``benchmarks/peers/rectools_flat_sasrec.py`` with the package's own sequence builder and
  Lightning wrapper (``UniSRecLightning``, softmax loss) until the budget; the last epoch's model. Its
  feed-forward is 4x wider than the preset's (its block's own), GELU, pre-LayerNorm.
- ``replay``: RePlay 0.22 ``SasRec`` in a virtualenv of its own (``benchmarks/peers/replay.txt``), trained
  by ``benchmarks/peers/replay_sasrec.py`` with Lightning until the budget, every item of the
  dataset in its vocabulary (as ours); the last epoch's model; seen items masked before its top K.

What maps from the preset (also published under each table: :func:`mapping_table`):

| SASRecPaper (preset) | RecBole SASRec | RecTools SASRecModel, FlatSASRecNet | RePlay SasRec |
|---|---|---|---|
| n_layers | n_layers | n_blocks | block_count |
| n_heads | n_heads | n_heads | head_count |
| hidden_size (feed-forward as wide) | hidden_size, inner_size | n_factors (FlatSASRecNet's feed-forward 4x as wide) | hidden_size |
| hidden_dropout_prob, attn_dropout_prob | the same | dropout_rate (one rate) | dropout_rate (one rate) |
| MAX_ITEM_LIST_LENGTH | the same | session_max_len | max_seq_len |
| loss_type CE | loss_type CE | loss "softmax" | loss_type "CE" |
| learning_rate, Adam | learning_rate, Adam | lr, Adam (betas 0.9 / 0.98) | lr, Adam (betas 0.9 / 0.98) |
| train_batch_size (users) | train_batch_size (prefix rows) | batch_size (users) | batch_size (users) |
| pre-LayerNorm blocks, embedding scale, left padding | does not map: post-LN, GELU | does not map: their own blocks | does not map: its own blocks |
| early stopping on validation NDCG@10 | the same | none: trains to the budget | none: trains to the budget |
| precision auto (bf16 where the CPU computes it) | float32 | float32 | float32 |
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from results_page import publish

from recbole_ext.config import build_config
from recbole_ext.evaluate import evaluate
from recbole_ext.flags import either_style
from recbole_ext.loading import load_dataset
from recbole_ext.split import write_interactions, write_split

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
LIBRARIES = ("ours", "recbole", "rectools", "rectools-flat", "replay")
PEER_RUNNERS = {  # library -> (its virtualenv: benchmarks/peers/<venv>.txt, its runner under benchmarks/peers/)
    "rectools": ("rectools", "rectools_sasrec.py"),
    "rectools-flat": ("rectools", "rectools_flat_sasrec.py"),
    "replay": ("replay", "replay_sasrec.py"),
}
K = 20  # list length written by every library; the table reads @10


def run_ours_or_recbole(library: str, args: argparse.Namespace, config, out: Path) -> dict:
    """Train through ``recbole_ext.cli`` in its own process, then write the run's valid / test lists."""
    run_dir = out / library
    if library == "ours":
        command = ["--model", "SASRecPaper", "--config_files", args.preset]
    else:
        command = ["--model", "SASRec", *[f"--{key}={config[key]}" for key in (
            "n_layers", "n_heads", "hidden_size", "hidden_dropout_prob", "attn_dropout_prob", "MAX_ITEM_LIST_LENGTH",
            "learning_rate", "train_batch_size", "epochs", "stopping_step", "ranking_protocol")],
            f"--inner_size={config['hidden_size']}", "--loss_type=CE", "--train_neg_sample_args=None"]
    command = [sys.executable, "-m", "recbole_ext.cli", *command, "--dataset", args.dataset, "--output_dir", str(run_dir),
               f"--max_train_seconds={args.budget}", f"--torch_threads={args.threads}", "--show_progress=False",
               "--state=WARNING", *common_flags(args)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    result = json.loads((run_dir / "result.json").read_text())
    for phase in ("valid", "test"):
        subprocess.run([sys.executable, "-m", "recbole_ext.recommend", str(run_dir), "--phase", phase, "--k", str(K),
                        "--output", str(out / f"{library}-{phase}.csv")], check=True, stdout=subprocess.DEVNULL)
    return {"library": "recbole-ext (SASRecPaper)" if library == "ours" else "RecBole 1.2.1 (SASRec)",
            "epochs": result["epochs"], "train_seconds": result["train_seconds"],
            "seconds_per_epoch": result["seconds_per_epoch"], "peak_rss_mb": result["peak_rss_mb"],
            "valid": out / f"{library}-valid.csv", "test": out / f"{library}-test.csv",
            "own_test_result": result["test_result"], "own_valid_result": result["best_valid_result"]}


def common_flags(args: argparse.Namespace) -> list[str]:
    return ([f"--data_path={args.data_path}"] if args.data_path else []) + [f"--{kv}" for kv in args.set]


def peer_environment() -> dict[str, str]:
    """This process's environment without PYTHONPATH: a peer's virtualenv sees only what it installed."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def venv_python(name: str, venvs: Path) -> Path:
    """The virtualenv ``venvs/name`` with ``benchmarks/peers/<name>.txt`` installed (made on first use)."""
    python = venvs / name / "bin" / "python"
    stamp = venvs / name / "installed.txt"
    requirements = (PEERS / f"{name}.txt").read_text()
    if not python.is_file() or not stamp.is_file() or stamp.read_text() != requirements:
        print(f"creating {venvs / name} from benchmarks/peers/{name}.txt (a few minutes, once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venvs / name)], check=True, env=peer_environment())
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(PEERS / f"{name}.txt")], check=True,
                       env=peer_environment())
        stamp.write_text(requirements)
    return python


def peer_hparams(name: str, config) -> dict:
    """The preset's architecture and training hyperparameters in a peer's names (module docstring)."""
    if name.startswith("rectools"):
        return {"n_blocks": config["n_layers"], "n_heads": config["n_heads"], "n_factors": config["hidden_size"],
                "dropout_rate": config["hidden_dropout_prob"], "session_max_len": config["MAX_ITEM_LIST_LENGTH"],
                "loss": "softmax" if config["loss_type"] == "CE" else "BCE", "lr": config["learning_rate"],
                "batch_size": config["train_batch_size"]}
    return {"block_count": config["n_layers"], "head_count": config["n_heads"], "hidden_size": config["hidden_size"],
            "max_seq_len": config["MAX_ITEM_LIST_LENGTH"], "dropout_rate": config["hidden_dropout_prob"],
            "loss_type": "CE" if config["loss_type"] == "CE" else "BCE", "lr": config["learning_rate"],
            "batch_size": config["train_batch_size"]}


def run_peer(name: str, args: argparse.Namespace, config, out: Path) -> dict:
    """A peer's runner (``PEER_RUNNERS``) in the peer's own virtualenv."""
    venv, runner = PEER_RUNNERS[name]
    python = venv_python(venv, args.venvs)
    log = out / f"{name}.log"
    with log.open("w") as output:
        finished = subprocess.run([str(python), str(PEERS / runner), "--interactions", str(out / "interactions.tsv"),
                                   "--out", str(out / name), "--budget", str(args.budget), "--threads", str(args.threads),
                                   "--k", str(K), "--seed", str(config["seed"]), "--max_epochs", str(config["epochs"]),
                                   "--hparams", json.dumps(peer_hparams(name, config))],
                                  stdout=output, stderr=subprocess.STDOUT, env=peer_environment())
    if finished.returncode:
        raise SystemExit(f"bench_peers.py: {name}'s runner failed (exit {finished.returncode}); its output is in {log}")
    run = json.loads((out / name / "run.json").read_text())
    return {**run, "library": f"{run['library']} ({run['model']})", "valid": out / name / "valid.tsv",
            "test": out / name / "test.tsv"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data_path", help="the folder holding DATASET/DATASET.inter (default: RecBole's ml-100k)")
    parser.add_argument("--preset", default="sasrec-ml1m-ce", help="our preset; its architecture is mapped to the peers")
    parser.add_argument("--budget", type=float, default=900, help="training seconds per library (default 900)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per library (default 1)")
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--out", type=Path, help="default benchmarks/results/peers-<dataset>-<time>")
    parser.add_argument("--venvs", type=Path, default=HERE / "results" / "peer-venvs", help="the peers' virtualenvs")
    parser.add_argument("--set", action="append", default=[], metavar="key=value",
                        help="an override for ours and RecBole's runs and the split (smoke tests)")
    parser.add_argument("--publish", metavar="NAME", help="write the table into docs/results.md as section NAME")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    load_before = os.getloadavg()[0]
    out = args.out or HERE / "results" / f"peers-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    if args.data_path:
        overrides["data_path"] = args.data_path
    config = build_config("SASRecPaper", args.dataset, [args.preset], {"state": "WARNING", **overrides})
    dataset = load_dataset(config)
    targets = write_split(config, out / "split.tsv", dataset)
    interactions = write_interactions(config, out / "interactions.tsv", dataset)
    print(f"split: {targets} targets, {interactions} interactions ({out})", flush=True)

    rows = []
    for library in args.libraries:
        started = time.perf_counter()
        run = run_peer(library, args, config, out) if library in PEER_RUNNERS else run_ours_or_recbole(library, args, config, out)
        for phase in ("valid", "test"):
            scored = evaluate(out / "split.tsv", run[phase], phase, (10, 20), out / "interactions.tsv")
            run[f"{phase}_metrics"], run[f"{phase}_problems"] = scored["metrics"], scored["problems"]
        if "own_test_result" in run:  # the evaluator against the run's own numbers
            run["evaluator_matches_run"] = all(run["test_metrics"][key] == value for key, value in run["own_test_result"].items()
                                               if key in run["test_metrics"])
        print(f"{run['library']}: {run['epochs']} epochs, {run['seconds_per_epoch']:.1f} s/epoch, test NDCG@10 "
              f"{run['test_metrics']['ndcg@10']:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
        rows.append(run)
    table = render(rows, args, config)
    print(table)
    (out / "results.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    if args.publish:
        command = "python benchmarks/bench_peers.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        publish(args.publish, f"Peers on one split: {args.dataset}, {args.budget:g} s, {args.threads} thread(s)", table,
                load_before=load_before, command=command,
                headline=[(f"{args.dataset}, {args.budget:g} s, {args.threads} thread(s): {row['library']}, test NDCG@10",
                           f"{row['test_metrics']['ndcg@10']:.4f}") for row in rows])
    return 0


def render(rows: list[dict], args: argparse.Namespace, config) -> str:
    ours = next((row for row in rows if row["library"].startswith("recbole-ext")), None)
    values = (f"d {config['hidden_size']}, {config['n_layers']} blocks, {config['n_heads']} head(s), dropout "
              f"{config['hidden_dropout_prob']}, length {config['MAX_ITEM_LIST_LENGTH']}, batch "
              f"{config['train_batch_size']}, lr {config['learning_rate']}")
    lines = [f"Preset `{args.preset}` ({values}; every peer given the same where it maps) on {args.dataset}, "
             f"{args.budget:g} s of training per library, {args.threads} thread(s); every list scored by "
             "`recbole_ext.evaluate` (full ranking, seen items masked).", "",
             "| library | epochs | s/epoch | peak RSS MiB | valid NDCG@10 | valid HR@10 | test NDCG@10 | test HR@10 "
             "| s/epoch vs ours | test NDCG@10 vs ours |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio_time = f"{row['seconds_per_epoch'] / ours['seconds_per_epoch']:.2f}" if ours else "-"
        ratio_ndcg = (f"{row['test_metrics']['ndcg@10'] / ours['test_metrics']['ndcg@10']:.2f}"
                      if ours and ours["test_metrics"]["ndcg@10"] else "-")
        lines.append(f"| {row['library']} | {row['epochs']} | {row['seconds_per_epoch']:.1f} | {row['peak_rss_mb']:,.0f} "
                     f"| {row['valid_metrics']['ndcg@10']:.4f} | {row['valid_metrics']['hit@10']:.4f} "
                     f"| {row['test_metrics']['ndcg@10']:.4f} | {row['test_metrics']['hit@10']:.4f} "
                     f"| {ratio_time} | {ratio_ndcg} |")
    notes = [f"{row['library']}: " + "; ".join(row["test_problems"]) for row in rows if row["test_problems"]]
    notes += [f"{row['library']}: the evaluator {'reproduces' if row['evaluator_matches_run'] else 'DIFFERS FROM'} its "
              "run's own test_result" for row in rows if "evaluator_matches_run" in row]
    return "\n".join(lines + [""] + [f"- {note}" for note in notes] + ["", mapping_table()])


def mapping_table() -> str:
    """The module docstring's table of what maps from the preset to each peer."""
    rows = [line for line in __doc__.splitlines() if line.startswith("|")]
    return "What maps from the preset to each peer (`benchmarks/bench_peers.py`):\n\n" + "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
