"""One process against N data-parallel processes (torchrun, gloo on the CPU / nccl on GPUs), same run, one table.

    python benchmarks/bench_ddp.py                                    # SASRecPaper, ML-100K, quickstart
    python benchmarks/bench_ddp.py --dataset ml1m --data_path atomic_data --config_files sasrec-ml1m-ce \\
        --processes 2 --epochs 2 --publish

Both sides train the same global batches from the same seed: ``one`` is a single process using all
``--processes`` threads, ``torchrun`` is ``--processes`` ranks of one thread each (on GPUs: one GPU
each; ``--threads`` changes the CPU threads per rank). It prints seconds per epoch, the test
metrics, the peak RSS of each rank, each rank's PSS at the end (RSS counts the pages the ranks
share, the dataset's arrays, in every rank; PSS splits them, so the ranks' PSS add up to what they
hold together) and the ratios. With dropout (the presets have it) the two
sides draw different masks, so their metrics agree only statistically; ``--set
hidden_dropout_prob=0 attn_dropout_prob=0`` (and a cross-entropy loss) makes them agree exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from recbole_ext.flags import either_style
from results_page import publish

RUN_PY = Path(__file__).resolve().parent.parent / "run.py"


def side_command(processes: int, args: argparse.Namespace, threads: int, out: Path) -> list[str]:
    flags = ["--model", args.model, "--dataset", args.dataset, f"--epochs={args.epochs}",
             f"--torch_threads={threads}", f"--output_dir={out}", "--show_progress=False", "--state=INFO",
             *(["--config_files", *args.config_files] if args.config_files else []),
             *([f"--data_path={args.data_path}"] if args.data_path else []),
             *(f"--{pair}" for pair in args.set)]
    if processes == 1:
        return [sys.executable, str(RUN_PY), *flags]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            str(RUN_PY), *flags]


def pss(result: dict) -> str:
    """Each rank's proportional set size (shared pages split among the ranks that map them) and their sum."""
    values = result["pss_mb_per_rank"]
    if None in values:
        return "n/a"
    return ", ".join(f"{m:.0f}" for m in values) + (f" ({sum(values):.0f})" if len(values) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="SASRecPaper")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data_path", type=Path, help="folder of the dataset's atomic files (bundled: none)")
    parser.add_argument("--config_files", nargs="*", default=["quickstart"])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each torchrun rank")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=["max_train_seconds=None"], metavar="KEY=VALUE",
                        help="configuration overrides (default: no time cap, so both sides train --epochs)")
    parser.add_argument("--out", type=Path, help="keep the two runs' directories here (default: a temporary one)")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))

    load_before = os.getloadavg()[0]
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-ddp-"))
    sides = {"one": (1, args.processes * args.threads), "torchrun": (args.processes, args.threads)}
    results = {}
    for name, (processes, threads) in sides.items():
        out = root / name
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(side_command(processes, args, threads, out), env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            print(f"error: the {name} side failed (exit {done.returncode}); its output is above.", file=sys.stderr)
            return 1
        results[name] = json.loads((out / "result.json").read_text())

    metric = next(iter(results["one"]["test_result"]))
    keys = [k for k in results["one"]["test_result"] if k.startswith(("ndcg@10", "hit@10"))] or [metric]
    lines = [f"{args.model} on {args.dataset} ({results['one']['eval_protocol']}), {args.epochs} epochs, the same "
             "global batches on both sides.", "",
             "| side | processes x threads | s / epoch | " + " | ".join(f"test {k}" for k in keys)
             + " | peak RSS MiB per rank | PSS MiB per rank at the end (sum) |",
             "|---|---|---|" + "---|" * len(keys) + "---|---|"]
    for name, (processes, threads) in sides.items():
        r = results[name]
        lines.append(f"| {name} | {processes} x {threads} | {r['seconds_per_epoch']:.2f} | "
                     + " | ".join(f"{r['test_result'][k]:.4f}" for k in keys)
                     + f" | {', '.join(f'{m:.0f}' for m in r['peak_rss_mb_per_rank'])} | {pss(r)} |")
    one, many = results["one"], results["torchrun"]
    lines += ["", f"torchrun / one: time per epoch {many['seconds_per_epoch'] / one['seconds_per_epoch']:.2f}x; "
              f"largest rank's peak RSS {max(many['peak_rss_mb_per_rank']) / one['peak_rss_mb']:.2f}x one process's; "
              + (f"the ranks' PSS together {sum(many['pss_mb_per_rank']) / one['pss_mb_per_rank'][0]:.2f}x one "
                 "process's; " if None not in (*many["pss_mb_per_rank"], *one["pss_mb_per_rank"]) else "")
              + "; ".join(f"{k} {many['test_result'][k] - one['test_result'][k]:+.4f}" for k in keys) + "."]
    table = "\n".join(lines)
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(table)
    if args.publish:
        publish(f"ddp-{args.dataset}", f"Data-parallel: 1 process against {args.processes} ({args.dataset})", table,
                load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
