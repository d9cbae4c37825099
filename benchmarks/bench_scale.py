"""GoodReads-sized data on one machine: generate, convert, load, train, evaluate; time and peak RSS of each.

    python benchmarks/bench_scale.py --work /tmp/scale                  # the full shape: 228.6M interactions
    python benchmarks/bench_scale.py --work /tmp/scale --scale 0.1 --steps 200 --publish

The full GoodReads interactions shape (``benchmarks/make_synthetic.py --shape goodreads``: 228.6M
interactions, 876k users, 2.36M books, Zipf-like popularity, long-tailed user lengths), or
``--scale`` of its users and interactions (all its books), goes through what a researcher runs,
each stage in a process of its own so that each has its own peak RSS:

``generate``  the raw ``goodreads_interactions.csv`` (skipped when the file is already there);
``convert``   ``python -m recbole_ext.convert goodreads`` (streaming) -> ``NAME.inter``;
``load``      :func:`recbole_ext.loading.load_dataset` + ``make_loaders`` of ``SASRecPaper`` with
              ``configs/sasrec-goodreads-tutorial.yaml`` (``user_holdout``, 1,000 test users), the
              first time (text parsed, binary cache written);
``train``     the same, then ``--steps`` training steps (Adam, batch 128, BCE) and the test users
              ranked under ``full_masked`` (every item, scored in item chunks so that no
              ``[rows x items]`` score matrix passes ``max_score_matrix_mb``)
              and under ``sampled_masked`` (1 + 100 candidates).

Prints one row per stage (seconds, peak RSS, bytes of peak RSS per interaction) and the training
steps per second and evaluation seconds, with the load average before it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recbole_ext.flags import either_style
from results_page import publish

HERE = Path(__file__).resolve().parent
MODEL, PRESET = "SASRecPaper", "sasrec-goodreads-tutorial"


def child(command: list[str], what: str) -> dict:
    """Run ``command``; its wall seconds and peak RSS (MiB, from ``wait4``) and its last stdout line."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"error: {what} failed (exit {process.returncode}): {' '.join(command)}")
    last = out.strip().splitlines()[-1] if out.strip() else "{}"
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "out": last}


def train_and_evaluate(name: str, data_path: str, steps: int, score_mb: float, test_users: int) -> dict:
    """The ``load`` (``steps`` 0) and ``train`` stages, in this process: a JSON-ready dict."""
    import resource


    from recbole_ext import build_config
    from recbole_ext.protocols import CandidateEvalDataLoader, ranks_in_item_chunks
    from recbole_ext.training.trainers import items_per_chunk
    from recbole_ext.training.trainers import trainer_class_for
    from recbole_ext.loading import load_dataset, make_loaders

    def rss_mb() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    overrides = {"data_path": data_path, "state": "WARNING", "show_progress": False,
                 "ranking_protocol": "full_masked", "max_score_matrix_mb": score_mb, "holdout_user_num": test_users}
    config = build_config(MODEL, name, [PRESET], overrides)
    started = time.perf_counter()
    dataset = load_dataset(config)
    train, _, test_full = make_loaders(config, dataset)
    result = {"load_seconds": round(time.perf_counter() - started, 1), "load_rss_mb": rss_mb(),
              "interactions": len(dataset.inter_feat), "users": dataset.user_num - 1, "items": dataset.item_num - 1}
    if not steps:
        return result
    test_view = test_full._dataset
    started = time.perf_counter()
    test_sampled = CandidateEvalDataLoader(config, test_view, int(config["ranking_neg_num"]), int(config["seed"]) + 2)
    result["sampled_candidates_seconds"] = round(time.perf_counter() - started, 1)

    # RecBole's trainer writes its logs relative to the working directory: keep them in scratch.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        from recbole.utils import init_seed

        config["checkpoint_dir"] = scratch
        init_seed(config["seed"], config["reproducibility"])  # the same model and batches every run
        model = config.model_class(config, train._dataset).to(config["device"])
        trainer = trainer_class_for(config)(config, model)
        model.train()
        done, started = 0, time.perf_counter()
        while done < steps:
            for batch in train:
                trainer.optimizer.zero_grad()
                loss = model.calculate_loss(batch.to(config["device"]))
                loss.backward()
                trainer.optimizer.step()
                done += 1
                if done == steps:
                    break
        seconds = time.perf_counter() - started
        result.update(steps=done, train_seconds=round(seconds, 1), steps_per_second=round(done / seconds, 2),
                      train_rss_mb=rss_mb(), score_rows_per_batch=test_full.step,
                      score_items_per_chunk=items_per_chunk(config, test_full.step, dataset.item_num)
                      if ranks_in_item_chunks(config) else dataset.item_num)
        for protocol, loader in (("full_masked", test_full), ("sampled_masked", test_sampled)):
            started = time.perf_counter()
            metrics = trainer.evaluate(loader, load_best_model=False, show_progress=False)
            result[f"{protocol}_seconds"] = round(time.perf_counter() - started, 1)
            result[f"{protocol}_ndcg@10"] = round(float(metrics["ndcg@10"]), 4)
            result[f"{protocol}_hit@10"] = round(float(metrics["hit@10"]), 4)
    result["peak_rss_mb"] = rss_mb()
    return result


def markdown(rows: list[dict], result: dict, args: argparse.Namespace, load_before: float) -> str:
    n = result["interactions"]
    lines = [f"GoodReads interactions shape x {args.scale:g}: {n:,} interactions after conversion, "
             f"{result['users']:,} users, {result['items']:,} items; `{MODEL}` with `{PRESET}` "
             f"(`user_holdout`, {args.test_users:,} test users); load average {load_before:.2f} before it started.", "",
             "| stage | seconds | peak RSS (MiB) | peak RSS / interaction (bytes) |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['stage']} | {row['seconds']:,.1f} | {row['peak_rss_mb']:,.0f} | "
                     f"{row['peak_rss_mb'] * 2**20 / n:,.0f} |")
    lines += ["", f"- training: {result['steps']} steps of batch 128 in {result['train_seconds']} s = "
              f"**{result['steps_per_second']} steps/s**",
              f"- test, `full_masked` over all {result['items']:,} items ({result['score_rows_per_batch']} rows x "
              f"{result['score_items_per_chunk']:,} items per score matrix, `max_score_matrix_mb` {args.score_mb:g}): "
              f"{result['full_masked_seconds']} s, "
              f"NDCG@10 {result['full_masked_ndcg@10']}, HR@10 {result['full_masked_hit@10']}",
              f"- test, `sampled_masked` (1 + 100): candidates drawn in {result['sampled_candidates_seconds']} s, "
              f"ranked in {result['sampled_masked_seconds']} s, NDCG@10 {result['sampled_masked_ndcg@10']}, "
              f"HR@10 {result['sampled_masked_hit@10']}",
              f"- largest stage peak RSS: {max(r['peak_rss_mb'] for r in rows) / 1024:,.1f} GiB (target at the full "
              "shape: 16 GiB)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for the raw file and the atomic files")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the shape's users and interactions")
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--score_mb", type=float, default=1024, help="max_score_matrix_mb (default 1024)")
    parser.add_argument("--test_users", type=int, default=1000, help="holdout_user_num (default 1000, the tutorial's)")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "DATA_PATH", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    if args.child:
        name, data_path, steps = args.child
        print(json.dumps(train_and_evaluate(name, data_path, int(steps), args.score_mb, args.test_users)))
        return 0

    load_before = os.getloadavg()[0]
    name = f"goodreads-synth-{args.scale:g}".replace(".", "p")
    raw = args.work / "raw" / name / "goodreads_interactions.csv"
    atomic = args.work / "atomic"
    rows = []
    if not raw.is_file():
        rows.append({"stage": "generate", **child(
            [sys.executable, str(HERE / "make_synthetic.py"), "--shape", "goodreads", "--format", "goodreads-csv",
             f"--scale={args.scale}", "--output-dir", str(args.work / "raw"), "--name", name], "generate")})
    rows.append({"stage": "convert", **child(
        [sys.executable, "-m", "recbole_ext.convert", "goodreads", "--input", str(raw), "--output-dir", str(atomic),
         "--name", name, "--no-progress"], "convert")})
    for cache in (atomic / name).glob(f"{name}.inter.cache*"):  # the load stage parses the text afresh
        subprocess.run(["rm", "-rf", str(cache)], check=True)
    me = [sys.executable, __file__, f"--score_mb={args.score_mb}", f"--test_users={args.test_users}", "--work", str(args.work), "--child", name, str(atomic)]
    load = child([*me, "0"], "load")
    rows.append({"stage": "load (text parsed, cache written)", **load})
    trained = child([*me, str(args.steps)], "train")
    rows.append({"stage": f"load (cache) + {args.steps} steps + test", **trained})
    result = {**json.loads(load["out"]), **json.loads(trained["out"])}
    table = markdown(rows, result, args, load_before)
    print(table)
    if args.publish:
        command = f"python benchmarks/bench_scale.py --work WORK --scale {args.scale:g} --steps {args.steps}"
        publish("scale", "GoodReads-sized data on this machine", table, load_before, command=command,
                headline=[(f"GoodReads shape x {args.scale:g}: peak RSS",
                           f"{max(r['peak_rss_mb'] for r in rows) / 1024:,.1f} GiB")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
