"""Steam reviews (Kang and McAuley, the SASRec paper's Steam) -> rows for a RecBole ``.inter`` file.

File: ``steam_reviews.json.gz`` ("Version 2: review data", https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data),
gzip or plain. Each line is one *Python literal* dict, not JSON (``{u'username': u'Chaos Syren', u'product_id':
u'725280', u'date': u'2017-12-17', ...}``): it is read with :func:`ast.literal_eval`, which accepts literals
only and never runs code (``eval`` is never used). Kept: ``username`` (user), ``product_id`` (item) and
``date`` (a day, written as Unix seconds at UTC midnight; a user's reviews of one day keep their line
order). There is no rating: ``rating`` is 1. The SASRec paper keeps users and items with at least 5
reviews: ``--min-user-inter 5 --min-item-inter 5``.
"""

from __future__ import annotations

import ast
import datetime as _dt
from pathlib import Path
from typing import Iterator

from .atomic import ConvertError, Report, Row, id_text
from .lines import iter_lines

KEYS = ("username", "product_id", "date")
_EPOCH = _dt.date(1970, 1, 1).toordinal()


def _day_seconds(text: str) -> int:
    """``"2017-12-17"`` -> Unix seconds of that day's UTC midnight (ValueError when not such a date)."""
    return (_dt.date.fromisoformat(text.strip()).toordinal() - _EPOCH) * 86400


def iter_rows(path: str | Path, report: Report) -> Iterator[Row]:
    """(username, product_id, 1, day in seconds) of every good line, in file order; bad lines counted."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"{path}: no such file (give steam_reviews.json.gz)")
    days: dict[str, str] = {}
    checked = False
    for lineno, line in iter_lines(path):
        report.lines_read += 1
        text = line.decode("utf-8", "replace")
        try:
            record = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
            if not checked:
                raise ConvertError(f"{path}:{lineno}: not a Python-literal dict ({type(e).__name__}): is this the "
                                   "Steam reviews file (steam_reviews.json.gz)?") from None
            report.bad_line(path, lineno, "malformed line", repr(text[:80]))
            continue
        if not isinstance(record, dict) or any(k not in record for k in KEYS):
            if not checked:
                raise ConvertError(f"{path}:{lineno}: no {', '.join(KEYS)} in the first record: is this the Steam "
                                   "reviews file (steam_reviews.json.gz)?")
            report.bad_line(path, lineno, "missing field", repr(text[:80]))
            continue
        checked = True
        user, item, date = id_text(record["username"]), id_text(record["product_id"]), record["date"]
        if user is None or item is None:
            report.bad_line(path, lineno, "missing or malformed id", repr(text[:80]))
            continue
        if not isinstance(date, str):
            report.bad_line(path, lineno, "unparseable date", repr(date))
            continue
        if date not in days:
            try:
                days[date] = str(_day_seconds(date))
            except ValueError:
                report.bad_line(path, lineno, "unparseable date", repr(date))
                continue
        yield user, item, "1", days[date]
