"""Benchmark: our GoodReads converter against the seed's way, on a generated reviews file.

    python benchmarks/bench_convert.py                # 1,000,000 rows (about 1.3 GB of JSON)
    python benchmarks/bench_convert.py --rows 100000  # quicker
    python benchmarks/bench_convert.py --csv-scale 0.02                  # goodreads_interactions.csv, 4.6M rows
    python benchmarks/bench_convert.py --csv-scale 1 --skip-baseline     # its full shape, 228.6M rows (~4.4 GB)

``--csv-scale S`` times the other GoodReads file instead: ``goodreads_interactions.csv`` of
``benchmarks/make_synthetic.py --shape goodreads --scale S``, converted by ours and by pandas
(``read_csv``, a stable sort of the users in order of first appearance, ``to_csv``), checks that both
wrote the same bytes and prints the time per row and the full shape's time at that rate.

1. Generates a file shaped like ``goodreads_reviews_spoiler.json.gz`` (UCSD Book Graph) into a
   temporary folder: one JSON object per line with ``user_id``, ``timestamp`` (a day),
   ``review_sentences`` (10-20 sentences of 6-18 random words, some with escaped quotes and
   non-ASCII letters), ``rating``, ``has_spoiler``, ``book_id``, ``review_id``; the real file's
   proportions of users (1.4 per 100 rows, some with fewer than 10 reviews) and books
   (1.8 per 100 rows); each user's reviews together, as in the real file. gzip level 1.
2. Runs, each in its own subprocess that reports its own wall time, CPU time (all threads) and
   peak RSS (``VmHWM`` from ``/proc/self/status``):
   * **seed**: every line ``json.loads``-ed into a list, ``pandas.DataFrame``, keep users with
     >= 10 reviews, sort by (user, timestamp), written as the same ``.inter`` text as ours;
   * **ours (library)**: ``recbole_ext.convert.convert(..., min_user_inter=10)`` with only the
     converter modules imported;
   * **ours (CLI)**: ``python -m recbole_ext.convert goodreads ... --min-user-inter 10``, timed with
     its imports (the ``recbole_ext`` package import is lazy: no recbole or torch);
   * **RecBole**: ``create_dataset`` on the converted ``.inter`` (user_id, item_id, timestamp).
3. Checks that seed and ours wrote the same rows, and prints a table with the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recbole_ext.flags import either_style
from results_page import publish

MIN_USER_INTER = 10


# ----------------------------------------------------------------------------- generation
def generate(path: Path, n_rows: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(1, 10))) for _ in range(30_000)]
    vocab += ["caf\u00e9", "na\u00efve", '"quoted"', "it's", "\u2014", "b\u00fccher"]
    cum, total = [], 0.0
    for rank in range(len(vocab)):  # Zipf-like word frequencies
        total += 1.0 / (rank + 10)
        cum.append(total)
    pool = []
    for _ in range(20_000):
        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(6, 18))
        pool.append(json.dumps(" ".join(words).capitalize() + rng.choice(".!?")))
    n_users = max(1, round(n_rows * 18_892 / 1_378_033))
    n_books = max(1, round(n_rows * 25_475 / 1_378_033))
    # reviews per user: heavy-tailed, about 2% of users below 10
    sizes = [max(1, int(rng.lognormvariate(3.9, 0.9))) for _ in range(n_users)]
    scale = n_rows / sum(sizes)
    sizes = [max(1, round(s * scale)) for s in sizes]
    sizes[-1] += n_rows - sum(sizes)
    if sizes[-1] < 1:
        sizes[-1] = 1
    days = [f"{y}-{m:02d}-{d:02d}" for y in range(2007, 2018) for m in range(1, 13) for d in range(1, 29)]
    # 8,192 distinct review texts of 10-20 sentences (~10 MB, far beyond gzip's 32 KB window)
    reviews = [", ".join(f"[{1 if rng.random() < 0.05 else 0}, {s}]" for s in rng.choices(pool, k=rng.randint(10, 20)))
               for _ in range(8_192)]
    written = 0
    with gzip.open(path, "wb", compresslevel=1) as f:
        buf = []
        for size in sizes:
            user = f"{rng.getrandbits(128):032x}"
            for _ in range(size):
                buf.append(
                    f'{{"user_id": "{user}", "timestamp": "{days[rng.randrange(len(days))]}", '
                    f'"review_sentences": [{reviews[rng.randrange(8_192)]}], "rating": {rng.randrange(6)}, '
                    f'"has_spoiler": {"true" if rng.random() < 0.06 else "false"}, '
                    f'"book_id": "{rng.randrange(n_books) * 7 + 1000}", '
                    f'"review_id": "{rng.getrandbits(128):032x}"}}\n'
                )
                written += 1
                if len(buf) >= 20_000:
                    f.write("".join(buf).encode())
                    buf.clear()
        f.write("".join(buf).encode())
    return {"rows": written, "users": n_users, "books": n_books}


# ----------------------------------------------------------------------------- children
def _peak_rss_mb() -> float:
    """Peak RSS of this process since exec (VmHWM). getrusage's ru_maxrss would also count the
    parent's memory at fork time on Linux."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_seed(src: str, out: str) -> dict:
    import pandas as pd

    t0, c0 = time.perf_counter(), time.process_time()
    with gzip.open(src, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    df = pd.DataFrame(rows)
    df = df[["user_id", "book_id", "rating", "timestamp"]]
    counts = df.groupby("user_id")["user_id"].transform("size")
    df = df[counts >= MIN_USER_INTER]
    df = df.sort_values(["user_id", "timestamp"])
    df["timestamp"] = (pd.to_datetime(df["timestamp"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    df.columns = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    df.to_csv(out, sep="\t", index=False, lineterminator="\n")
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rows": len(df),
            "peak_rss_mb": _peak_rss_mb()}


def child_ours(src: str, out: str, min_user_inter: str = str(MIN_USER_INTER)) -> dict:
    from recbole_ext.convert import convert  # the package import is lazy: no recbole, no torch

    t0, c0 = time.perf_counter(), _cpu_seconds()
    report = convert("goodreads", src, out, name="bench", min_user_inter=int(min_user_inter), progress=False)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu_seconds() - c0,
            "rows": report.written["bench.inter"], "peak_rss_mb": _peak_rss_mb()}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished children (the converter's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def child_recbole(data_path: str, name: str) -> dict:
    from unittest import mock

    import recbole_ext.compat  # noqa: F401  (patches recbole for numpy 2, before it is imported)
    from recbole.config import Config
    from recbole.data import create_dataset

    config_dict = {"data_path": data_path, "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
                   "state": "WARNING", "show_progress": False}
    with mock.patch.object(sys, "argv", sys.argv[:1]):
        config = Config(model="BPR", dataset=name, config_dict=config_dict)
    t0, c0 = time.perf_counter(), time.process_time()
    ds = create_dataset(config)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rows": ds.inter_num,
            "peak_rss_mb": _peak_rss_mb()}


def child_csv_pandas(src: str, out: str) -> dict:
    """goodreads_interactions.csv the way a notebook would: pandas reads it whole, the row number is the
    time, a stable sort groups each user's rows in order of first appearance, ``to_csv`` writes them."""
    import numpy as np
    import pandas as pd

    t0, c0 = time.perf_counter(), time.process_time()
    df = pd.read_csv(src, usecols=["user_id", "book_id", "rating"], dtype=str)
    df["timestamp"] = np.arange(1, len(df) + 1)
    order = np.argsort(pd.factorize(df["user_id"])[0], kind="stable")
    df = df.iloc[order][["user_id", "book_id", "rating", "timestamp"]]
    df.columns = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    df.to_csv(out, sep="\t", index=False, lineterminator="\n")
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rows": len(df),
            "peak_rss_mb": _peak_rss_mb()}


def main_csv(args: argparse.Namespace, load_before: float) -> None:
    """``--csv-scale``: the goodreads_interactions.csv shape (make_synthetic.py) converted by ours and by pandas."""
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_convert_"))
    work.mkdir(parents=True, exist_ok=True)
    name = f"goodreads-csv-{args.csv_scale:g}".replace(".", "p")
    try:
        src = work / name / "goodreads_interactions.csv"
        if not src.is_file():
            subprocess.run([sys.executable, str(Path(__file__).with_name("make_synthetic.py")), "--shape", "goodreads",
                            "--format", "goodreads-csv", f"--scale={args.csv_scale}", "--output-dir", str(work),
                            "--name", name], check=True)
        ours = run_child("ours", str(src), str(work / "out"), "0")
        rows = [("ours: recbole_ext converter", ours)]
        same = None
        if not args.skip_baseline:
            pandas = run_child("csv-pandas", str(src), str(work / "pandas.inter"))
            same = (work / "pandas.inter").read_bytes() == (work / "out" / "bench" / "bench.inter").read_bytes()
            rows.insert(0, ("pandas: read_csv + stable sort by user + to_csv", pandas))
        lines = [f"goodreads_interactions.csv shape x {args.csv_scale:g} (benchmarks/make_synthetic.py, "
                 f"{src.stat().st_size / 2**20:,.0f} MiB, {ours['rows']:,} rows); "
                 f"same file written: {'not compared' if same is None else same}.", "",
                 "| converter | time (s) | CPU (s) | peak RSS (MiB) | µs per row | time vs pandas |",
                 "|---|---:|---:|---:|---:|---:|"]
        for label, r in rows:
            ratio = f"{rows[0][1]['seconds'] / r['seconds']:.1f}x" if same is not None else "-"
            lines.append(f"| {label} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:,.0f} | "
                         f"{r['seconds'] / ours['rows'] * 1e6:.2f} | {ratio} |")
        full_rows = 228_648_342
        lines += ["", f"At ours' µs per row the full shape ({full_rows:,} rows) would take "
                  f"{ours['seconds'] / ours['rows'] * full_rows:,.0f} s (target: 300 s)."
                  if args.csv_scale < 1 else f"The full shape: {ours['seconds']:,.0f} s (target: 300 s).",
                  "", "CPU: user + system seconds of the process and its worker processes (ours formats the plain "
                  "chunks in one worker per core); peak RSS: the main process."]
        print("\n" + "\n".join(lines))
        if same is False:
            sys.exit("pandas and ours wrote different files")
        if args.publish:
            publish("convert-goodreads-csv", "goodreads_interactions.csv conversion", "\n".join(lines), load_before,
                    command=f"python benchmarks/bench_convert.py --csv-scale {args.csv_scale:g}"
                    + (" --skip-baseline" if args.skip_baseline else ""),
                    headline=[(f"goodreads_interactions.csv shape x {args.csv_scale:g}, conversion",
                               f"{ours['seconds']:,.0f} s")])
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def run_child(*args: str) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    return result


def run_cli(src: Path, out: Path) -> dict:
    cmd = [sys.executable, "-m", "recbole_ext.convert", "goodreads", "--input", str(src),
           "--output-dir", str(out), "--name", "cli", "--min-user-inter", str(MIN_USER_INTER), "--no-progress"]
    wrapper = ("import resource, runpy, sys, time, json; sys.argv = ['recbole_ext.convert'] + sys.argv[1:]; t = time.perf_counter()\n"
               "c = time.process_time()\n"
               "try:\n    runpy.run_module('recbole_ext.convert', run_name='__main__')\n"
               "except SystemExit as e:\n    assert not e.code, e.code\n"
               "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
               "print(json.dumps({'seconds': time.perf_counter() - t, 'cpu_seconds': time.process_time() - c,\n"
               "                  'peak_rss_mb': int(hwm) / 1024}))")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd[3:]], capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        sys.exit(f"CLI failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - t0
    return result


def sorted_body(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        next(f)
        return sorted(f)


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    p.add_argument("--workdir", help="folder for the generated file and outputs (default: a temp dir, removed)")
    p.add_argument("--skip-recbole", action="store_true", help="do not time RecBole's create_dataset")
    p.add_argument("--skip-cli", action="store_true", help="do not time the python -m command")
    p.add_argument("--csv-scale", type=float, metavar="S",
                   help="instead: the goodreads_interactions.csv shape x S (1 = 228.6M rows), ours vs pandas")
    p.add_argument("--skip-baseline", action="store_true", help="--csv-scale: do not run pandas (it needs ~50 "
                   "bytes of memory per row)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    args = p.parse_args(either_style(p, sys.argv[1:]))
    load_before = os.getloadavg()[0]
    if args.child:
        kind, *rest = args.child
        result = {"seed": child_seed, "ours": child_ours, "recbole": child_recbole, "csv-pandas": child_csv_pandas}[kind](*rest)
        print(json.dumps(result))
        return
    if args.csv_scale:
        main_csv(args, load_before)
        return

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_convert_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        src = work / "goodreads_reviews_spoiler.json.gz"
        t0 = time.perf_counter()
        info = generate(src, args.rows)
        gen_s = time.perf_counter() - t0
        print(f"generated {info['rows']:,} rows ({info['users']:,} users, <= {info['books']:,} books), "
              f"{src.stat().st_size / 2**20:,.0f} MiB gzipped, in {gen_s:.1f} s", flush=True)

        seed = run_child("seed", str(src), str(work / "seed.inter"))
        ours = run_child("ours", str(src), str(work / "out"))
        same = sorted_body(work / "seed.inter") == sorted_body(work / "out" / "bench" / "bench.inter")
        rows = [("seed: json.loads + DataFrame + filter + sort", seed),
                ("ours: recbole_ext converter (library)", ours)]
        if not args.skip_cli:
            rows.append(("ours: python -m recbole_ext.convert (CLI)", run_cli(src, work / "out")))
        if not args.skip_recbole:
            rows.append(("RecBole create_dataset on our .inter", run_child("recbole", str(work / "out"), "bench")))

        lines = [f"{info['rows']:,} generated rows shaped like goodreads_reviews_spoiler.json.gz "
                 f"({src.stat().st_size / 2**20:,.0f} MiB gzipped); rows kept (users >= {MIN_USER_INTER}): "
                 f"seed {seed['rows']:,}, ours {ours['rows']:,}; same rows: {same}.", "",
                 "| step | time (s) | CPU (s) | peak RSS (MiB) | time vs seed | CPU vs seed | memory vs seed |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for label, r in rows:
            speed = f"{seed['seconds'] / r['seconds']:.1f}x faster" if r is not seed else "1.0x"
            cpu = f"{seed['cpu_seconds'] / r['cpu_seconds']:.1f}x less" if r is not seed else "1.0x"
            mem = f"{seed['peak_rss_mb'] / r['peak_rss_mb']:.1f}x less" if r is not seed else "1.0x"
            lines.append(f"| {label} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:,.0f} "
                         f"| {speed} | {cpu} | {mem} |")
        lines += ["", "time: wall clock inside the process, imports excluded (CLI: imports included); CPU: "
                  "user+system time of the process, all its threads (ours: and its worker processes); peak RSS: "
                  "whole process, imports included (not the workers')."]
        print("\n" + "\n".join(lines))
        if args.publish and same:
            publish("convert-goodreads", "GoodReads converter against the seed's pandas code", "\n".join(lines),
                    load_before, headline=[("GoodReads reviews conversion, ours vs the seed's pandas code",
                                            f"{seed['seconds'] / ours['seconds']:.1f}x faster, "
                                            f"{seed['peak_rss_mb'] / ours['peak_rss_mb']:.0f}x less memory")])
        if not same:
            sys.exit("seed and ours wrote different rows")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
