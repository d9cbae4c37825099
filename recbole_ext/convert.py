"""Convert raw dataset files (MovieLens, GoodReads, Amazon, Steam, RSC15, Retailrocket) into RecBole atomic files.

Command::

    python -m recbole_ext.convert SOURCE --input PATH --output-dir DIR [--name NAME] [options]

SOURCE is one of :data:`~recbole_ext.data.converters.SOURCE_FILES` (``--help`` lists each with the file
it expects and where it is published): ``ml-100k``, ``ml-1m``, ``ml-10m``, ``ml-20m``, ``ml-25m``,
``ml-32m`` (a folder or the release's zip), ``goodreads`` (any UCSD Book Graph reviews/interactions
JSON lines file or ``goodreads_interactions.csv``), ``amazon`` (ratings CSV, 5-core reviews JSON, 2023
JSONL), ``steam`` (``steam_reviews.json.gz``), ``rsc15`` (``yoochoose-clicks.dat``) and ``retailrocket``
(``events.csv``); files gzip or plain. It writes ``DIR/NAME/NAME.inter`` (+ ``.item``, ``.user`` for
MovieLens) and prints what it read, wrote and skipped, with reasons.

Python::

    from recbole_ext.convert import convert
    report = convert("goodreads", "goodreads_reviews_spoiler.json.gz", "atomic_data",
                     min_user_inter=10)
    report = convert("amazon", "reviews_Beauty_5.json.gz", "atomic_data", name="beauty",
                     min_user_inter=5, min_item_inter=5)   # the SASRec paper's 5-core

Decisions (see docs/data.md, "Converting datasets"):

* ``.inter`` rows are sorted by (user, time, line): users in the order they first appear, each
  user's rows by time, equal times in the source's order (what the seed's stable
  ``sort_values([user, time])`` gives, and the order sequential models read).
* ids are written as they are in the source; RecBole re-indexes them (0 = padding).
* ``.item``/``.user`` keep only ids present in the ``.inter`` written.
* Bad lines (malformed, missing field, unparseable date) are skipped and counted by default
  (``on_error="skip"``), the first five shown with file and line; ``on_error="stop"`` stops at
  the first. File-level problems (missing, empty, truncated/corrupt gzip, wrong file for the
  source, nothing left to write, bad option) always stop. Nothing is renamed into place unless
  the whole conversion succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

from recbole_ext.data.converters import DEFAULT_NAMES, SOURCE_FILES, SOURCES, amazon, clicks, goodreads, movielens, steam
from recbole_ext.data.converters.atomic import (
    AtomicFileSet, ConvertError, NotGrouped, Report, batched, grouped_by_user, k_core, sorted_by_user_and_time,
    write_inter,
)
from recbole_ext.errors import RecboleExtError
from recbole_ext.flags import either_style
from recbole_ext.outputs import check_output_path

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def recbole_reserved_names() -> set[str]:
    """Dataset names RecBole 1.2.1 treats specially: every key of its ``url.yaml`` (download
    when the folder is missing) plus ``ml-100k`` (always the bundled copy)."""
    names = {"ml-100k"}
    spec = importlib.util.find_spec("recbole")
    if spec and spec.origin:
        url_yaml = Path(spec.origin).parent / "properties" / "dataset" / "url.yaml"
        if url_yaml.is_file():
            for line in url_yaml.read_text(encoding="utf-8").splitlines():
                key, sep, _ = line.partition(":")
                if sep and key and not key.startswith((" ", "#")):
                    names.add(key.strip())
    return names


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ConvertError(f"dataset name {name!r}: use letters, digits, '.', '_' and '-' only")
    if name.lower() in recbole_reserved_names():
        raise ConvertError(
            f"dataset name {name!r} is one RecBole treats specially (ml-100k always loads the copy "
            f"bundled with recbole; names in its url.yaml are downloaded when the folder is "
            f"missing): choose another --name, e.g. {name.replace('-', '')}-local"
        )
    return name


def _write_side(files: AtomicFileSet, filename: str, fields, rows: Iterable[tuple], kept: set[bytes],
                report: Report) -> None:
    keep = {key.decode() for key in kept}
    writer = None
    for row in rows:
        if row[0] not in keep:
            continue
        if writer is None:
            writer = files.open(filename, fields)
        writer.write_row(row)
    if writer is not None:
        report.written[filename] = writer.rows


def convert(
    source: str,
    input: str | Path,
    output_dir: str | Path,
    name: str | None = None,
    *,
    time_field: str = "auto",
    min_user_inter: int = 0,
    min_item_inter: int = 0,
    min_rating: float | None = None,
    read_only: bool = False,
    on_error: str = "skip",
    strict_json: bool = False,
    progress: bool | None = None,
    overwrite: bool = True,
) -> Report:
    """Convert one source; returns the :class:`Report` (``report.summary()`` is what the command
    prints). Raises :class:`ConvertError` for anything that stops the conversion; then no file
    of ``output_dir/name`` has been changed.

    Args:
        source: one of :data:`~recbole_ext.data.converters.SOURCES` (``"ml-1m"``, ``"amazon"``, ...).
        input: directory or zip (MovieLens), file (the others, gzip or plain).
        output_dir: files go to ``output_dir/name/name.inter`` etc.
        name: dataset name; default the source without dashes (``ml1m``, ``rsc15``), for GoodReads
            ``goodreads-reviews`` or ``goodreads-interactions`` (by detected schema).
        time_field: GoodReads: ``timestamp`` (reviews_spoiler) or ``date_added`` (default),
            ``date_updated``, ``read_at``, ``started_at``. ``auto`` = the schema's default.
        min_user_inter: keep only users with at least this many rows (after the other filters);
            0 or 1 keeps all. The GoodReads seed uses 10.
        min_item_inter: keep only items with at least this many rows; with it, both thresholds are
            applied again and again until nothing changes (the papers' k-core, e.g. 5 and 5).
        min_rating: keep rows with rating >= this (GoodReads: 0 means "not rated").
        read_only: GoodReads interactions: keep only ``is_read`` rows.
        on_error: ``"skip"`` (count bad lines, show the first five) or ``"stop"``.
        strict_json: parse every GoodReads JSON line with ``json.loads`` (no fast path).
        progress: tqdm bar on the GoodReads input; default only when stderr is a terminal.
        overwrite: replace existing ``name.inter`` / ``.item`` / ``.user`` files (the command refuses
            them unless ``--overwrite``); the new files are renamed over them only when complete.
    """
    if source not in SOURCES:
        raise ConvertError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if min_user_inter < 0 or min_item_inter < 0:
        raise ConvertError("min_user_inter and min_item_inter must be >= 0")
    input = Path(input)
    if source != "goodreads":
        if time_field not in ("auto", "timestamp", None, ""):
            raise ConvertError(f"{source} has only one time field: leave --time-field out")
        if read_only:
            raise ConvertError(f"read_only is a GoodReads option; {source} has no is_read")
        if min_rating is not None and source in ("steam", "rsc15", "retailrocket"):
            raise ConvertError(f"{source} has no rating: leave --min-rating out")
        name = name or DEFAULT_NAMES[source]
    schema = goodreads.detect_schema(input) if source == "goodreads" else None  # names a missing or unknown file
    name = name or goodreads.DEFAULT_NAMES[schema]
    check_name(name)
    out = Path(output_dir) / name
    existing = [out / f"{name}{suffix}" for suffix in (".inter", ".item", ".user") if (out / f"{name}{suffix}").exists()]
    if existing and not overwrite:
        raise ConvertError(f"{existing[0]} already exists and is never replaced without being asked: add --overwrite "
                           f"to replace the dataset's files, or give another --name or --output-dir.")

    def attempt(sort: bool) -> Report:
        report = Report(on_error=on_error, output_dir=str(out))
        items = users = None
        if source == "goodreads":
            report.notes.append(f"GoodReads schema detected: {schema}")
            rows = goodreads.iter_batches(input, report, time_field, min_rating, read_only, strict_json,
                                          schema=schema, progress=progress, formatted=not sort and min_item_inter <= 1)
        elif source in movielens.RELEASES:
            rows = batched(movielens.iter_rows(source, input, report, min_rating))
            items, users = MOVIELENS_SIDE_FILES[source]
        elif source == "amazon":
            rows = batched(amazon.iter_rows(input, report, min_rating))
        elif source == "steam":
            rows = batched(steam.iter_rows(input, report))
        elif source == "rsc15":
            rows = clicks.rsc15_rows(input, report)
        else:
            rows = clicks.retailrocket_rows(input, report)
        _write(out, name, rows, report, items, users, input, min_user_inter, min_item_inter, sort)
        return report

    # goodreads_interactions.csv's times are its row numbers: when each user's rows stand together (as
    # in the published file) it is already in (user, time, line) order and is written as read; a user
    # who comes back later stops that attempt (nothing renamed into place) and the input is read again
    # and sorted. No reference cycle is made here: the cyclic garbage collector, which would walk the
    # millions of row tuples again and again (a third of the time), is paused.
    with gc_paused():
        if source == "goodreads" and schema == "csv":
            try:
                return attempt(sort=False)
            except NotGrouped:
                pass
        return attempt(sort=True)


def _write(out: Path, name: str, rows: Iterable, report: Report, items, users, input: Path, min_user_inter: int,
           min_item_inter: int, sort: bool) -> None:
    """Write ``rows`` (and MovieLens' side files) into ``out``: all files renamed into place, or none."""
    with AtomicFileSet(out) as files:
        # (user, time, line): the order sequential models read
        rows = sorted_by_user_and_time(rows, out) if sort else grouped_by_user(rows)
        if min_item_inter > 1:
            rows, min_user_inter = k_core(rows, max(min_user_inter, 1), min_item_inter, report), 0
        kept_users, kept_items = write_inter(files, name, rows, report, min_user_inter)
        if not report.written[f"{name}.inter"]:
            if not report.lines_read:
                raise ConvertError(f"{input}: the ratings file is empty (0 lines read): nothing was written; give "
                                   "the folder or file of a complete download")
            removed = ", ".join([f"{n:,} bad ({reason})" for reason, n in report.bad.items()]
                                + [f"{n:,} skipped ({reason})" for reason, n in report.skipped.items()])
            raise ConvertError(f"{input}: no interaction left to write of {report.lines_read:,} lines read "
                               f"({removed or 'none kept'}); nothing was written")
        if items is not None:
            _write_side(files, f"{name}.item", movielens.ITEM_FIELDS, items(input, report), kept_items, report)
        if users is not None:
            _write_side(files, f"{name}.user", movielens.USER_FIELDS, users(input, report), kept_users, report)


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector (restored as it was, whatever happens)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


MOVIELENS_SIDE_FILES = {  # release -> (its .item rows, its .user rows or None)
    "ml-100k": (movielens.iter_ml100k_items, movielens.iter_ml100k_users),
    "ml-1m": (movielens.iter_ml1m_items, movielens.iter_ml1m_users),
    "ml-10m": (movielens.iter_ml10m_items, None),
    **{release: (movielens.csv_items(release), None) for release in ("ml-20m", "ml-25m", "ml-32m")},
}


def build_parser() -> argparse.ArgumentParser:
    sources = "\n".join(f"  {source:<13} {expects}\n  {'':<13} {where}" for source, (expects, where) in SOURCE_FILES.items())
    p = argparse.ArgumentParser(
        prog="python -m recbole_ext.convert",
        description="Convert raw dataset files into RecBole atomic files (DIR/NAME/NAME.inter, .item, .user).",
        epilog=f"sources, the file each expects, and where it is published:\n{sources}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", choices=SOURCES, help="which dataset the input is (listed below)")
    p.add_argument("--input", required=True, help="MovieLens directory or zip; the others' file (.gz or plain)")
    p.add_argument("--output-dir", required=True, help="parent folder, e.g. atomic_data")
    p.add_argument("--name", help="dataset name (default: the source without dashes, e.g. ml20m, rsc15; "
                   "goodreads-reviews or goodreads-interactions)")
    p.add_argument("--time-field", default="auto",
                   help="GoodReads: timestamp | date_added | date_updated | read_at | started_at (default: the schema's)")
    p.add_argument("--min-user-inter", type=int, default=0, metavar="N",
                   help="keep users with >= N interactions (the GoodReads seed: 10)")
    p.add_argument("--min-item-inter", type=int, default=0, metavar="M",
                   help="keep items with >= M interactions; with it both filters repeat to a fixed point "
                   "(k-core: the SASRec paper's Amazon and Steam use --min-user-inter 5 --min-item-inter 5)")
    p.add_argument("--min-rating", type=float, default=None, metavar="R", help="keep rows with rating >= R")
    p.add_argument("--read-only", action="store_true", help="GoodReads interactions: keep is_read rows only")
    p.add_argument("--on-error", choices=("skip", "stop"), default="skip",
                   help="bad lines: skip and count (default) or stop at the first")
    p.add_argument("--strict-json", action="store_true", help="parse every JSON line fully (slower)")
    p.add_argument("--overwrite", action="store_true", help="replace the dataset's files if they exist")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(either_style(parser, list(sys.argv[1:] if argv is None else argv)))
    try:
        check_output_path(args.output_dir, "--output-dir", directory=True)
        report = convert(
            args.source, args.input, args.output_dir, args.name,
            time_field=args.time_field, min_user_inter=args.min_user_inter, min_item_inter=args.min_item_inter,
            min_rating=args.min_rating, read_only=args.read_only, on_error=args.on_error,
            strict_json=args.strict_json, progress=args.progress, overwrite=args.overwrite,
        )
    except RecboleExtError as e:  # ConvertError and the output check's ConfigError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
