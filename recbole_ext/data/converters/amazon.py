"""Amazon product reviews (McAuley lab, UCSD) -> rows for a RecBole ``.inter`` file.

Three layouts, gzip or plain, told apart by the first line (the file name does not matter):

============== ======================================================== ===========================
layout          files (https://cseweb.ucsd.edu/~jmcauley/datasets/...)   one line
============== ======================================================== ===========================
``ratings``     2014 ``ratings_Beauty.csv``, 2018 ``Beauty.csv``          ``user,item,rating,time``
                (ratings only; no header)                                (time in seconds)
``reviews``     2014 ``reviews_Beauty_5.json.gz``, 2018                   JSON: ``reviewerID``,
                ``Beauty_5.json.gz`` (the 5-core review files)           ``asin``, ``overall``,
                                                                         ``unixReviewTime`` (s)
``2023``        2023 ``Beauty_and_Personal_Care.jsonl`` (Amazon Reviews   JSON: ``user_id``,
                2023, amazon-reviews-2023.github.io)                     ``parent_asin``, ``rating``,
                                                                         ``timestamp`` (ms)
============== ======================================================== ===========================

Times are written as Unix seconds (the 2023 milliseconds as ``seconds.mmm``). The SASRec paper's
Beauty and Games are the 2014 files with every user and item of at least 5 interactions:
``--min-user-inter 5 --min-item-inter 5`` repeats both filters to a fixed point
(:func:`~recbole_ext.data.converters.atomic.k_core`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .atomic import ConvertError, Report, Row, id_text
from .lines import iter_lines

LAYOUTS = ("ratings", "reviews", "2023")
FIELDS = {  # layout -> (user, item, rating, time) keys of a JSON line
    "reviews": ("reviewerID", "asin", "overall", "unixReviewTime"),
    "2023": ("user_id", "parent_asin", "rating", "timestamp"),
}
CSV_2023_HEADER = "user_id,parent_asin,rating,timestamp"  # the 2023 ratings-only CSV files (times in ms)


def detect_layout(path: Path) -> str:
    """The layout of ``path`` from its first non-empty line; a file of none of them stops with one line."""
    for _, line in iter_lines(path):
        if line.lstrip().startswith(b"{"):
            try:
                record = json.loads(line)
            except ValueError:
                record = {}
            for layout, keys in FIELDS.items():
                if isinstance(record, dict) and all(k in record for k in keys):
                    return layout
            raise ConvertError(f"{path}:1: a JSON line without {', '.join(FIELDS['reviews'])} (2014/2018 reviews) "
                               f"or {', '.join(FIELDS['2023'])} (2023): is this an Amazon review file?")
        text = line.decode("utf-8", "replace").strip()
        if text == CSV_2023_HEADER or len(text.split(",")) == 4:
            return "ratings"
        raise ConvertError(f"{path}:1: expected a ratings CSV line (user,item,rating,time) or a JSON review, got "
                           f"{text[:80]!r}: is this an Amazon review file?")
    raise ConvertError(f"{path}: the file is empty: nothing was written")


def iter_rows(path: str | Path, report: Report, min_rating: float | None = None) -> Iterator[Row]:
    """(user, item, rating, time in seconds) of every good line, in file order; bad lines are counted."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"{path}: no such file (give the Amazon ratings .csv or reviews .json[l][.gz])")
    layout = detect_layout(path)
    report.notes.append(f"Amazon layout detected: {layout}")
    millis = layout == "2023"
    keys = FIELDS.get(layout)
    for lineno, line in iter_lines(path):
        report.lines_read += 1
        if keys is None:
            text = line.decode("utf-8", "replace")
            if lineno == 1 and text.strip() == CSV_2023_HEADER:
                millis = True
                continue
            parts = text.split(",")
            if len(parts) != 4:
                report.bad_line(path, lineno, "wrong number of fields", f"{len(parts)} instead of 4")
                continue
            user, item, rating, time = parts
        else:
            try:
                record = json.loads(line)
            except ValueError as e:
                report.bad_line(path, lineno, "malformed JSON", str(e))
                continue
            if not isinstance(record, dict) or any(k not in record for k in keys):
                report.bad_line(path, lineno, "missing field", ", ".join(k for k in keys if k not in record)
                                if isinstance(record, dict) else "not an object")
                continue
            user, item, rating, time = (record[k] for k in keys)
        user, item = id_text(user), id_text(item)
        try:
            rating = float(rating)
            seconds = int(str(time).strip())
        except ValueError:
            report.bad_line(path, lineno, "unparseable field", repr(line[:80].decode("utf-8", "replace")))
            continue
        if user is None or item is None:
            report.bad_line(path, lineno, "missing or malformed id", repr(line[:80].decode("utf-8", "replace")))
            continue
        if min_rating is not None and rating < min_rating:
            report.skip(f"rating below {min_rating:g}")
            continue
        time_text = f"{seconds // 1000}.{seconds % 1000:03d}" if millis else str(seconds)
        yield user, item, f"{rating:g}", time_text
