"""A benchmark grid (``python -m recbole_ext.bench``) whose tables go into docs/results.md.

Takes every option of ``python -m recbole_ext.bench`` plus ``--publish NAME``: the grid's tables become
section NAME of docs/results.md, each model's test NDCG@10 (or RMSE) a headline row of the README::

    python benchmarks/bench_grid.py --models SASRec SASRecPaper --datasets ml-100k --seeds 3 \\
        --max_train_seconds 300 --out benchmarks/results/ml-100k-grid --publish ml-100k-grid
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from results_page import publish  # benchmarks/ is on the path of a script run from it

from recbole_ext import bench
from recbole_ext.flags import either_style


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = bench.build_parser()
    parser.add_argument("--publish", metavar="NAME", help="write the tables into docs/results.md as section NAME "
                        "(each model's test NDCG@10 or RMSE becomes a headline row)")
    args = parser.parse_args(either_style(parser, argv))
    command = "python benchmarks/bench_grid.py " + " ".join(shlex.quote(a) for a in argv)
    summary = bench.grid_from_args(args, command)
    if summary is None:
        return 2
    if args.publish:
        budget = f", {args.max_train_seconds:g} s budget" if args.max_train_seconds else ""
        text = (Path(summary["out_dir"]) / "results.md").read_text()
        publish(args.publish, f"Benchmark grid: {', '.join(args.datasets)}, {len(bench.seed_list(args))} seed(s){budget}",
                text, command=command, headline=bench.headline_rows(summary["summary"], budget))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
