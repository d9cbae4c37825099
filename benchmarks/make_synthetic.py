"""Synthetic RecBole atomic files of a real dataset's shape, for the scaling benchmarks.

    python benchmarks/make_synthetic.py --shape ml-20m --output-dir /tmp/synth      # -> /tmp/synth/ml20m-synth/
    python benchmarks/bench_data.py --dataset ml20m-synth --data_path /tmp/synth --config_files sasrec-paper-ml1m

Shapes (interactions, users, items, fewest interactions per user):
  ml-20m      20,000,263 / 138,493 / 26,744 / 20     (MovieLens 20M)
  goodreads   228,648,342 / 876,145 / 2,360,650 / 1  (UCSD Book Graph, goodreads_interactions.csv)
  tiny        20,000 / 500 / 300 / 5                  (the smoke test's)

How the file is drawn (numpy's PCG64, ``--seed``, default 0; the same seed and shape give the
same bytes):
- users' lengths are long-tailed: the minimum plus a share of the remaining interactions
  proportional to a Pareto(1.2) weight, so the total is exact;
- items follow a Zipf-like popularity, p(rank r) proportional to 1 / r^``--zipf`` (default 1.0),
  the ranks shuffled over the item ids; a user may see an item more than once;
- each user starts at a uniform time in 2000-2015 and moves on by exponential gaps (mean one
  hour, whole seconds, so a few timestamps tie);
- rows are written sorted by (user, time), as the converters write, in chunks of users: memory
  stays a few hundred MB at any shape.
Every id is a token (``u<k>``, ``i<k>``); columns ``user_id:token item_id:token timestamp:float``.
``--format goodreads-csv`` writes the raw file our GoodReads converter reads instead,
``<name>/goodreads_interactions.csv`` (``user_id,book_id,is_read,rating,is_reviewed``, integer ids,
each user's rows in time order, no time column: the converter takes the row number as the time);
``--scale`` keeps that share of the shape's interactions and users (all its items).
Nothing here is derived from a licensed file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from recbole_ext.flags import either_style
from recbole_ext.outputs import atomic_path

SHAPES = {  # name: (interactions, users, items, minimum per user)
    "ml-20m": (20_000_263, 138_493, 26_744, 20),
    "goodreads": (228_648_342, 876_145, 2_360_650, 1),
    "tiny": (20_000, 500, 300, 5),
}
START, END = 946_684_800, 1_420_070_400  # 2000-01-01 .. 2015-01-01 UTC
USERS_PER_CHUNK = 20_000


def user_lengths(rng: np.random.Generator, interactions: int, users: int, minimum: int) -> np.ndarray:
    """Long-tailed lengths, each >= ``minimum``, summing to ``interactions`` exactly."""
    extra = interactions - users * minimum
    if extra < 0:
        raise SystemExit(f"error: {users} users of at least {minimum} need {users * minimum} interactions, "
                         f"more than {interactions}: lower the minimum or raise the interactions.")
    weights = rng.pareto(1.2, users) + 1e-3
    shares = extra * weights / weights.sum()
    lengths = minimum + np.floor(shares).astype(np.int64)
    short = interactions - int(lengths.sum())  # 0 <= short < users: one more for the largest remainders
    lengths[np.argsort(shares - np.floor(shares))[::-1][:short]] += 1
    return lengths


FORMATS = ("atomic", "goodreads-csv")


def write(shape: str, output_dir: Path, seed: int = 0, zipf: float = 1.0, name: str | None = None,
          file_format: str = "atomic", scale: float = 1.0) -> Path:
    """Write ``<output_dir>/<name>/<name>.inter`` (default name ``<shape>-synth`` without dashes), or
    ``<output_dir>/<name>/goodreads_interactions.csv`` with ``file_format="goodreads-csv"``."""
    interactions, users, items, minimum = SHAPES[shape]
    if not 0 < scale <= 1:
        raise SystemExit(f"error: --scale {scale}: give a share of the shape in (0, 1].")
    interactions, users = max(int(interactions * scale), minimum), max(int(users * scale), 1)
    name = name or shape.replace("-", "") + "-synth"
    rng = np.random.default_rng(seed)
    lengths = user_lengths(rng, interactions, users, minimum)
    popularity = 1.0 / np.arange(1, items + 1, dtype=np.float64) ** zipf
    cdf = np.cumsum(popularity[rng.permutation(items)])
    cdf /= cdf[-1]
    csv = file_format == "goodreads-csv"
    path = output_dir / name / ("goodreads_interactions.csv" if csv else f"{name}.inter")
    path.parent.mkdir(parents=True, exist_ok=True)
    written, started = 0, time.monotonic()
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write("user_id,book_id,is_read,rating,is_reviewed\n" if csv else "user_id:token\titem_id:token\ttimestamp:float\n")
        for first in range(0, users, USERS_PER_CHUNK):
            chunk = lengths[first:first + USERS_PER_CHUNK]
            owner = np.repeat(np.arange(first, first + len(chunk)), chunk)  # [n]
            item = np.minimum(np.searchsorted(cdf, rng.random(len(owner))), items - 1)
            gaps = np.rint(rng.exponential(3600.0, len(owner))).astype(np.int64)
            starts = rng.integers(START, END, len(chunk))
            offsets = np.cumsum(chunk) - chunk  # each user's first row in the chunk
            clock = np.cumsum(gaps)
            clock -= np.repeat(clock[offsets], chunk)  # each user's clock starts at 0
            stamp = np.repeat(starts, chunk) + clock
            if csv:  # rating 0 = shelved, not rated (as in the real file); reviewed only if rated
                rating = np.where(rng.random(len(owner)) < 0.6, rng.integers(1, 6, len(owner)), 0)
                reviewed = (rating > 0) & (rng.random(len(owner)) < 0.1)
                out.write("".join(f"{u},{i},{int(r > 0)},{r},{int(v)}\n" for u, i, r, v in zip(
                    owner.tolist(), item.tolist(), rating.tolist(), reviewed.tolist())))
            else:
                out.write("".join(f"u{u}\ti{i}\t{t}\n" for u, i, t in zip(owner.tolist(), item.tolist(), stamp.tolist())))
            written += len(owner)
            print(f"\r{written:,} / {interactions:,} rows ({time.monotonic() - started:.0f} s)",
                  end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--output-dir", "--output_dir", type=Path, required=True, dest="output_dir")
    parser.add_argument("--seed", type=int, default=0, help="numpy PCG64 seed (default 0)")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent (default 1.0)")
    parser.add_argument("--name", help="dataset name (default <shape>-synth without dashes, e.g. ml20m-synth)")
    parser.add_argument("--format", choices=FORMATS, default="atomic", dest="file_format",
                        help="atomic: NAME.inter (default); goodreads-csv: the raw goodreads_interactions.csv")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the shape's interactions and users (default 1)")
    args = parser.parse_args(either_style(parser, sys.argv[1:] if argv is None else argv))
    path = write(args.shape, args.output_dir, args.seed, args.zipf, args.name, args.file_format, args.scale)
    print(f"wrote {path} ({path.stat().st_size / 2**20:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
