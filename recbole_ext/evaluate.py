"""Score any library's recommendations against an exported split, with the metrics our runs use.

    python -m recbole_ext.evaluate --split SPLIT.tsv --recommendations RECS.tsv [--phase test] [--k 5 10 20]
    recbole-ext-evaluate --split SPLIT.tsv --recommendations RECS.tsv --interactions INTER.tsv --output scores.json

``SPLIT.tsv`` is what ``recbole-ext-split`` writes: one row per evaluation target (``user_id``,
``phase``, ``item_id``, ..., ``history_length``, and ``negatives`` for a sampled protocol). Mostly
one target per user and phase: the phase's rows are the users evaluated, each counted once whatever
its recommendations hold. A split with several targets per user (``split_protocol: session``: every
next click of a session) names each target by ``user_id`` and ``history_length`` (the clicks before
it), and its recommendations carry that ``history_length`` column too (``recbole-ext-recommend
--phase`` writes it for every split).

``RECS.tsv`` (tab-separated, a header naming the columns; ``.csv`` files comma-separated) holds the
recommendations in the dataset's original ids:

- **full ranking** (a split without candidates): each user's top-K list, one row per item:
  ``user_id``, ``item_id`` and either ``rank`` (1 = best) or ``score`` (higher = better; equal scores
  keep the file's order). A list needs at least the largest K items; an item's place in its
  list is all that counts.
- **sampled candidates** (a split with a ``negatives`` column): one row per candidate of each user,
  ``user_id``, ``item_id``, ``score``: the target and each of its negatives. The target's rank is
  1 + the number of candidates scored strictly higher (ties go to the target, as in RecBole's
  top-k over ``[target, negatives]``); a candidate without a score counts as scored below all.

Metrics, one target per user (RecBole's definitions, averaged over the phase's targets and
rounded to ``--decimal_place`` digits, 4 as RecBole): ``hit@K`` (the target is in the top K),
``ndcg@K`` (``1 / log2(rank + 1)`` within K), ``mrr@K`` (``1 / rank`` within K) and ``recall@K``
(equal to ``hit@K`` with one target).

What is wrong in the lists is reported, one line per kind with its count: users of the phase with
no list (scored as misses), lists shorter than K, items listed twice (the later ones are
dropped), users not in the split's phase (ignored), and, given ``--interactions`` (the file
``recbole-ext-split --interactions`` writes), items the user had already seen before the target
(a list that is not masked for a protocol that masks) and items the dataset does not have. For a
sampled split: candidates without a score and scored items that are not candidates (ignored).
A file that cannot be read (a missing column, a rank that is not a whole number >= 1, a score
that is not a number) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from recbole_ext.errors import DataError, RecboleExtError
from recbole_ext.flags import either_style
from recbole_ext.outputs import check_output_path, write_atomically

PHASES = ("valid", "test")
DEFAULT_K = (5, 10, 20)
METRICS = ("hit", "ndcg", "mrr", "recall")


@dataclass(frozen=True)
class Target:
    item: str
    history_length: int
    candidates: tuple[str, ...] | None  # the target first, then its negatives (a sampled split)


@dataclass
class Problems:
    """What was wrong in the recommendations, by kind: (count, a few examples)."""

    found: dict[str, list] = field(default_factory=dict)

    def add(self, kind: str, example: str, count: int = 1) -> None:
        entry = self.found.setdefault(kind, [0, []])
        entry[0] += count
        if len(entry[1]) < 3:
            entry[1].append(example)

    def lines(self) -> list[str]:
        return [f"{kind}: {count} ({', '.join(examples)})" for kind, (count, examples) in self.found.items()]


def read_table(path: Path, what: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a TSV (a ``.csv`` file: comma-separated)."""
    if not path.is_file():
        raise DataError(f"{what} '{path}' does not exist: give the file's path.")
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    with open(path, encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle, delimiter=delimiter)) or [[]]
    if not header:
        raise DataError(f"{what} '{path}' is empty: it needs a header line and one row per line.")
    return [name.strip() for name in header], rows


Key = tuple[str, "int | None"]  # (user_id, history_length), or (user_id, None) when one target per user


def read_split(path: Path, phase: str) -> dict[Key, Target]:
    """The targets of ``phase`` in a split TSV, by (user, history length)."""
    header, rows = read_table(path, "--split")
    needed = ["user_id", "phase", "item_id", "history_length"]
    missing = [name for name in needed if name not in header]
    if missing:
        raise DataError(f"--split '{path}' has no column {', '.join(missing)}: give the TSV recbole-ext-split writes "
                        f"(columns {', '.join(needed)}, ...).")
    at = {name: header.index(name) for name in header}
    sampled = "negatives" in at
    targets: dict[Key, Target] = {}
    for number, row in enumerate(rows, start=2):
        if len(row) < len(header):
            raise DataError(f"--split '{path}' line {number}: {len(row)} fields where the header names {len(header)}.")
        if row[at["phase"]] != phase:
            continue
        key = (row[at["user_id"]], int(row[at["history_length"]]))
        if key in targets:
            raise DataError(f"--split '{path}' line {number}: user {key[0]} has two {phase} targets after "
                            f"{key[1]} interactions: give the TSV recbole-ext-split writes.")
        negatives = tuple(row[at["negatives"]].split()) if sampled else ()
        candidates = (row[at["item_id"]], *negatives) if sampled else None
        targets[key] = Target(row[at["item_id"]], key[1], candidates)
    if not targets:
        raise DataError(f"--split '{path}' has no {phase} target: choose --phase valid or test (the rows' phase column).")
    return targets


def read_recommendations(path: Path, sampled: bool) -> dict[Key, list[tuple[str, float]]]:
    """Each list's (item, key) in file order, by (user, history_length, or None without that column); key:
    the rank, or minus the score (smaller = better)."""
    header, rows = read_table(path, "--recommendations")
    if "user_id" not in header or "item_id" not in header:
        raise DataError(f"--recommendations '{path}' needs the columns user_id and item_id (and rank or score), "
                        f"not {', '.join(header)}.")
    by = "score" if sampled or "rank" not in header else "rank"
    if by not in header:
        raise DataError(f"--recommendations '{path}' has no {'score' if sampled else 'rank or score'} column"
                        f"{': a sampled split ranks the candidates by their scores' if sampled else ''}.")
    user_at, item_at, key_at = header.index("user_id"), header.index("item_id"), header.index(by)
    history_at = header.index("history_length") if "history_length" in header else None
    lists: dict[Key, list[tuple[str, float]]] = defaultdict(list)
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) <= max(user_at, item_at, key_at, history_at or 0):
            raise DataError(f"--recommendations '{path}' line {number}: {len(row)} fields where the header names "
                            f"{len(header)}.")
        text = row[key_at].strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if by == "rank" and not (value >= 1 and value == int(value)):
            raise DataError(f"--recommendations '{path}' line {number}: rank {text!r} is not a whole number >= 1.")
        if by == "score" and math.isnan(value):
            raise DataError(f"--recommendations '{path}' line {number}: score {text!r} is not a number.")
        history = None
        if history_at is not None:
            if not row[history_at].strip().isdigit():
                raise DataError(f"--recommendations '{path}' line {number}: history_length {row[history_at]!r} is not "
                                "a whole number >= 0.")
            history = int(row[history_at])
        lists[(row[user_at], history)].append((row[item_at], value if by == "rank" else -value))
    return lists


def matched(targets: dict[Key, Target], lists: dict[Key, list]) -> dict[Key, Target]:
    """``targets`` keyed as ``lists`` are: by (user, None) when the lists carry no history_length (refused
    when a user has several targets: which list is whose would be a guess)."""
    if not lists or next(iter(lists))[1] is not None:
        return targets
    users = [user for user, _ in targets]
    if len(set(users)) < len(users):
        raise DataError("the split has several targets per user (split_protocol session: every next click): the "
                        "recommendations need a history_length column naming each list's target, as "
                        "recbole-ext-recommend RUN_DIR --phase test writes it.")
    return {(user, None): target for (user, _), target in targets.items()}


def _label(key: Key) -> str:
    user, history = key
    return user if history is None else f"{user}@{history}"


def read_histories(path: Path) -> tuple[dict[str, list[str]], set[str]]:
    """Each user's items in their exact order, and every item, from ``recbole-ext-split --interactions``."""
    header, rows = read_table(path, "--interactions")
    if "user_id" not in header or "item_id" not in header or "position" not in header:
        raise DataError(f"--interactions '{path}' needs the columns user_id, item_id and position: give the file "
                        "recbole-ext-split --interactions writes.")
    user_at, item_at, position_at = header.index("user_id"), header.index("item_id"), header.index("position")
    placed: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        placed[row[user_at]].append((int(row[position_at]), row[item_at]))
    histories = {user: [item for _, item in sorted(items)] for user, items in placed.items()}
    return histories, {item for items in histories.values() for item in items}


def target_ranks(targets: dict[Key, Target], lists: dict[Key, list[tuple[str, float]]], k_max: int,
                 histories: dict[str, list[str]] | None = None, known: set[str] | None = None,
                 problems: Problems | None = None) -> dict[Key, float]:
    """Each target's rank (1 = first; ``inf`` when it is not ranked), with the problems found; ``targets``
    keyed as ``lists`` are (:func:`matched`)."""
    problems = problems if problems is not None else Problems()
    for key in sorted(set(lists) - set(targets), key=_label):
        problems.add("users not in the split's phase (ignored)", _label(key))
    ranks = {}
    for key, target in targets.items():
        user = _label(key)
        listed = lists.get(key)
        if not listed:
            problems.add("users of the phase without recommendations (scored as misses)", user)
            ranks[key] = math.inf
            continue
        ordered = [item for item, _ in sorted(listed, key=lambda entry: entry[1])]  # stable: file order on ties
        if len(set(ordered)) < len(ordered):
            problems.add("lists with an item twice (later ones dropped)", user)
        if target.candidates is not None:
            ranks[key] = _candidate_rank(user, target, listed, problems)
            continue
        ordered = list(dict.fromkeys(ordered))
        if len(ordered) < k_max:
            problems.add(f"lists shorter than {k_max} items", f"{user} ({len(ordered)})")
        if histories is not None:
            seen = set(histories.get(key[0], [])[: target.history_length]) - {target.item}
            if seen.intersection(ordered):
                problems.add("lists holding items the user saw before the target (not masked)", user)
        if known is not None:
            unknown = [item for item in ordered if item not in known]
            if unknown:
                problems.add("unknown items (not in the dataset)", f"{user}: {unknown[0]}", len(unknown))
        ranks[key] = ordered.index(target.item) + 1 if target.item in ordered else math.inf
    return ranks


def _candidate_rank(user: str, target: Target, listed: list[tuple[str, float]], problems: Problems) -> float:
    scores: dict[str, float] = {}
    for item, key in listed:
        scores.setdefault(item, -key)  # the first score of an item listed twice
    candidates = set(target.candidates)
    outside = [item for item in scores if item not in candidates]
    if outside:
        problems.add("scored items that are not candidates (ignored)", f"{user}: {outside[0]}", len(outside))
    unscored = [item for item in target.candidates if item not in scores]
    if unscored:
        problems.add("candidates without a score (ranked below all)", f"{user}: {unscored[0]}", len(unscored))
    if target.item not in scores:
        return math.inf
    mine = scores[target.item]
    return 1 + sum(1 for item in candidates if item != target.item and scores.get(item, -math.inf) > mine)


def metrics(ranks: dict, ks: tuple[int, ...] = DEFAULT_K, decimal_place: int = 4) -> dict[str, float]:
    """hit / ndcg / mrr / recall at each K, averaged over the targets (RecBole's definitions).

    >>> metrics({"a": 1, "b": 3, "c": float("inf")}, ks=(2,))
    {'hit@2': 0.3333, 'ndcg@2': 0.3333, 'mrr@2': 0.3333, 'recall@2': 0.3333}
    """
    n = len(ranks)
    out = {}
    for name in METRICS:  # hit@5, hit@10, ..., ndcg@5, ...: RecBole's order
        for k in ks:
            inside = [rank for rank in ranks.values() if rank <= k]
            if name in ("hit", "recall"):
                total = float(len(inside))
            elif name == "ndcg":
                total = sum(1.0 / math.log2(rank + 1) for rank in inside)
            else:
                total = sum(1.0 / rank for rank in inside)
            out[f"{name}@{k}"] = round(total / n, decimal_place) if n else 0.0
    return out


def evaluate(split: Path, recommendations: Path, phase: str = "test", ks: tuple[int, ...] = DEFAULT_K,
             interactions: Path | None = None, decimal_place: int = 4) -> dict:
    """``{"metrics", "problems", "targets", "phase", "sampled"}`` of ``recommendations`` on ``split``."""
    targets = read_split(Path(split), phase)
    sampled = next(iter(targets.values())).candidates is not None
    lists = read_recommendations(Path(recommendations), sampled)
    targets = matched(targets, lists)
    histories, known = read_histories(Path(interactions)) if interactions else (None, None)
    problems = Problems()
    ranks = target_ranks(targets, lists, max(ks), histories, known, problems)
    return {"phase": phase, "sampled": sampled, "targets": len(targets),
            "metrics": metrics(ranks, tuple(ks), decimal_place), "problems": problems.lines(),
            "seen_items_checked": interactions is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="the TSV recbole-ext-split wrote")
    parser.add_argument("--recommendations", type=Path, required=True,
                        help="user_id, item_id, rank or score (TSV; .csv comma-separated)")
    parser.add_argument("--phase", choices=PHASES, default="test", help="the targets to score (default test)")
    parser.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_K), help="cut-offs (default 5 10 20)")
    parser.add_argument("--interactions", type=Path, help="recbole-ext-split --interactions FILE: also check seen and "
                        "unknown items")
    parser.add_argument("--decimal_place", type=int, default=4, help="digits of each metric (default 4, as RecBole)")
    parser.add_argument("--output", type=Path, help="also write the result as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(either_style(parser, list(sys.argv[1:] if argv is None else argv)))
    try:
        if min(args.k) < 1:
            raise DataError(f"--k {min(args.k)}: cut-offs are whole numbers >= 1 (e.g. --k 5 10 20).")
        if args.output:
            check_output_path(args.output, "--output", overwrite=args.overwrite)
        result = evaluate(args.split, args.recommendations, args.phase, tuple(sorted(set(args.k))), args.interactions,
                          args.decimal_place)
    except RecboleExtError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    what = "candidates" if result["sampled"] else "full ranking"
    print(f"{result['targets']} {args.phase} targets of {args.split} ({what}); recommendations {args.recommendations}")
    print("  ".join(f"{key} {value:.4f}" for key, value in result["metrics"].items()))
    for line in result["problems"]:
        print(f"problem: {line}")
    if not result["seen_items_checked"] and not result["sampled"]:
        print("note: seen and unknown items not checked (give --interactions, from recbole-ext-split --interactions)")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(args.output, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
