"""GoodReads (UCSD Book Graph) raw files -> rows for a RecBole ``.inter`` file.

Four schemas, gzip or plain (detected from the first bytes, not the file name); the schema is
detected from the first valid record:

=================== ============================================== ==================== ==============
schema              files                                          time fields          default name
=================== ============================================== ==================== ==============
``reviews_spoiler`` ``goodreads_reviews_spoiler*.json.gz``         ``timestamp``        goodreads-reviews
                    (``"timestamp": "2017-08-30"``)                (a day, UTC midnight)
``reviews``         ``goodreads_reviews_dedup.json.gz``,           ``date_added``\\*,    goodreads-reviews
                    ``goodreads_reviews_<genre>.json.gz``          ``date_updated``,
                    (``"date_added": "Tue Aug 15 13:12:02 -0700    ``read_at``,
                    2017"``)                                       ``started_at``
``interactions``    ``goodreads_interactions_dedup.json.gz``,      as above             goodreads-interactions
                    ``goodreads_interactions_<genre>.json.gz``
                    (``is_read``, ``rating``, dates)
``csv``             ``goodreads_interactions.csv``                 none: timestamp =    goodreads-interactions
                    (``user_id,book_id,is_read,rating,is_reviewed``) data row number
=================== ============================================== ==================== ==============

(\\* default.) Times are written as Unix seconds (UTC). An empty time value (``read_at`` of a
book never finished is ``""``) is not an error: the row is skipped and counted.

Speed: a review line is ~1.5 KB of review text around a few short fields. gzip is inflated in a
background thread (:mod:`.lines`), in 2 MiB blocks cut at line ends. Each chunk of
lines is read by one ``findall`` of an anchored regular expression learnt from the first record
(:class:`_Shape`): it takes the simple ``"key": value`` pairs at the start and at the end of the
object and skips the review text in between without parsing it; what is left per line is a few
list comprehensions.
A line that is not plainly of that shape (or whose skipped value holds a colon right after a
quote or a blank, which could be a key) goes alone through the line-by-line path: the same
shape in Python, else ``json.loads``. So every valid JSON line gives the same fields as
``json.loads`` (tested on tricky lines); a line broken only inside a field we do not use (e.g.
the review text) is accepted; ``strict_json=True`` parses every line with ``json.loads``.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import itertools
import json
import operator
import re
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from .atomic import Batch, ConvertError, Report, Row, TextBatch, id_text
from .lines import iter_chunks, iter_lines

SCHEMAS = ("reviews_spoiler", "reviews", "interactions", "csv")
DATE_FIELDS = ("date_added", "date_updated", "read_at", "started_at")
TIME_FIELDS = {
    "reviews_spoiler": ("timestamp",),
    "reviews": DATE_FIELDS,
    "interactions": DATE_FIELDS,
    "csv": (),
}
DEFAULT_NAMES = {
    "reviews_spoiler": "goodreads-reviews",
    "reviews": "goodreads-reviews",
    "interactions": "goodreads-interactions",
    "csv": "goodreads-interactions",
}
CSV_NOTE = (
    "goodreads_interactions.csv has no time: the timestamp column is the data row number "
    "(1 = first row after the header), i.e. the order of the file is taken as the order of "
    "interactions; the source does not say that this order is chronological"
)
_SNIFF_LINES = 1000

_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_day_cache: dict[tuple[str, str, str], int] = {}
_iso_cache: dict[str, int] = {}


# ----------------------------------------------------------------------------- dates
def parse_date_added(text: str) -> int:
    """``"Tue Aug 15 13:12:02 -0700 2017"`` -> Unix seconds (UTC). The weekday is not checked.
    Raises ``ValueError`` on anything else."""
    parts = text.split()
    if len(parts) != 6:
        raise ValueError(text)
    _, mon, day, hms, tz, year = parts
    key = (year, mon, day)
    days = _day_cache.get(key)
    if days is None:
        if not (year.isdigit() and day.isdigit() and mon in _MONTHS):
            raise ValueError(text)
        days = _dt.date(int(year), _MONTHS[mon], int(day)).toordinal() - _EPOCH_ORDINAL
        if len(_day_cache) < 100_000:
            _day_cache[key] = days
    h, m, s = hms.split(":")
    if not (len(h) == len(m) == len(s) == 2 and (h + m + s).isdigit()):
        raise ValueError(text)
    hh, mm, ss = int(h), int(m), int(s)
    if hh > 23 or mm > 59 or ss > 60:
        raise ValueError(text)
    if len(tz) != 5 or tz[0] not in "+-" or not tz[1:].isdigit():
        raise ValueError(text)
    offset = int(tz[1:3]) * 3600 + int(tz[3:5]) * 60
    if tz[0] == "-":
        offset = -offset
    return days * 86400 + hh * 3600 + mm * 60 + ss - offset


def parse_iso_day(text: str) -> int:
    """``"2017-08-30"`` -> Unix seconds of that day's UTC midnight. ``ValueError`` otherwise."""
    ts = _iso_cache.get(text)
    if ts is None:
        if len(text) != 10:
            raise ValueError(text)
        ts = calendar.timegm(_dt.datetime.strptime(text, "%Y-%m-%d").timetuple())
        if len(_iso_cache) < 100_000:
            _iso_cache[text] = ts
    return ts


# ----------------------------------------------------------------------------- reading
# ----------------------------------------------------------------------------- schema
def _schema_of(record: object) -> str | None:
    if not isinstance(record, dict) or "user_id" not in record or "book_id" not in record:
        return None
    if "review_sentences" in record or ("timestamp" in record and "date_added" not in record):
        return "reviews_spoiler"
    if "review_text" in record:
        return "reviews"
    if "is_read" in record:
        return "interactions"
    return None


def _csv_header(line: bytes) -> list[str] | None:
    cols = [c.strip() for c in line.decode("utf-8", "replace").split(",")]
    if "user_id" in cols and "book_id" in cols and "{" not in line.decode("utf-8", "replace"):
        return cols
    return None


def detect_schema(path: str | Path) -> str:
    """Schema of the first valid record among the first lines; ConvertError when none is."""
    path = Path(path)
    if path.is_dir():
        raise ConvertError(f"{path} is a folder: --input takes the GoodReads file itself, e.g. "
                           f"{path / 'goodreads_reviews_spoiler.json.gz'} or {path / 'goodreads_interactions.csv'}")
    if not path.is_file():
        raise ConvertError(f"{path}: no such file")
    seen = 0
    first_line = None
    for lineno, line in iter_lines(path):
        first_line = first_line or line
        seen += 1
        if seen == 1 and _csv_header(line):
            return "csv"
        try:
            schema = _schema_of(json.loads(line))
        except ValueError:
            schema = None
        if schema:
            return schema
        if seen >= _SNIFF_LINES:
            break
    if first_line is None:
        raise ConvertError(f"{path}: file is empty (no lines)")
    raise ConvertError(
        f"{path}: no GoodReads record in the first {seen} non-empty lines (expected JSON lines with "
        f"user_id and book_id, or the goodreads_interactions.csv header); first line: "
        f"{first_line[:100]!r}; wrong file for this source?"
    )


# ----------------------------------------------------------------------------- fast path
# GoodReads files write every line with the same keys in the same order. The shape of the first
# record gives one anchored regular expression for the simple pairs before one "middle" key (the
# longest value we do not need: review_sentences, review_text) and one for the simple pairs after
# it, up to the closing brace. Simple values: strings without backslash, plain numbers,
# true/false/null. In valid JSON an unescaped quote followed by name": can only open a key, so the
# pairs matched are the object's own top-level keys. The middle value is accepted only when
# nothing in it looks like another key (a quote or a blank right before a colon). Any line that
# does not fit goes to json.loads, so results equal json.loads on every valid line.
_VALUE = rb'(?:"[^"\\]*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|true|false|null)'
_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
_MISSING = object()
_CACHE_MAX = 200_000


_TYPED = {str: rb'"([^"\\]*)"', int: rb"(0|-?[1-9][0-9]*)", bool: rb"(true|false)"}
# ids in the chunk pattern: printable ASCII without blank, quote or backslash (the checks that
# the line-by-line path makes in Python); any other id sends its line to that path
_ID = rb'"([!#-\[\]-~]+)"'


class _Shape:
    """One anchored regular expression for lines shaped like a sample record.

    The needed keys are captured by type (str: the text between the quotes; int; bool), the
    middle key's value by a greedy ``(.*)``, every other value must be a simple JSON value.
    :meth:`read` returns the needed raw values in ``names`` order, or None."""

    def __init__(self, record: dict, names: list[str], middle: str | None) -> None:
        parts, batch, group, self.index, self.middle = [], [], 0, {}, None
        for key, value in record.items():
            name = b'"' + key.encode() + b'": '
            if key == middle:
                group += 1
                self.middle = group
                parts.append(name + b"(.*)")
                batch.append(name + b"(.*)")
            elif key in names:
                group += 1
                self.index[key] = group
                parts.append(name + _TYPED[type(value)])
                is_id = key in names[:2] and type(value) is str
                batch.append(name + (_ID if is_id else _TYPED[type(value)]))
            else:
                parts.append(name + _VALUE)
                batch.append(name + _VALUE)
        self.pattern = re.compile(rb"\{" + b", ".join(parts) + rb"\}\Z")
        self.groups = tuple(self.index[n] for n in names)
        # The same shape for a whole chunk of lines (re.M): one tuple per line from findall; a
        # line that does not fit gives empty groups and itself in the last group.
        self.batch = re.compile(rb"^(?:\{" + b", ".join(batch) + rb"\}\r?|(.*))$", re.M)
        self.fields = itemgetter(*(g - 1 for g in self.groups))
        self.user = self.groups[0] - 1

    @classmethod
    def of(cls, record: dict, names: list[str]) -> "_Shape | None":
        if not all(_NAME.match(k) for k in record) or not all(n in record for n in names):
            return None
        if any(type(record[n]) not in _TYPED for n in names) or type(record[names[2]]) is not int:
            return None  # (a rating given as text or a float always takes json.loads)
        others = {k: len(json.dumps(v)) for k, v in record.items() if k not in names}
        middle = max(others, key=others.get) if others else None
        if middle is not None and others[middle] < 40:
            middle = None
        return cls(record, names, middle)

    def read(self, line: bytes) -> tuple | None:
        match = self.pattern.match(line)
        if match is None:
            return None
        if self.middle is not None and self.colon(match.group(self.middle)):
            return None
        return match.group(*self.groups)

    @staticmethod
    def colon(middle: bytes) -> bool:
        """Whether the middle value has a colon right after a quote or a blank (may be a key)."""
        colon = middle.find(b":")
        while colon >= 0:
            if colon == 0 or middle[colon - 1] in b'" \t\r':
                return True
            colon = middle.find(b":", colon + 1)
        return False


# ----------------------------------------------------------------------------- rows
def _show(value: object) -> str:
    """repr of a value for a message; bytes shown as text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return repr(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (str, bytes)):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def iter_rows(path: str | Path, report: Report, *args, **kwargs) -> Iterator[Row]:
    """Rows (user_id, book_id, rating, timestamp) as text, in file order: :func:`iter_batches`
    one row at a time (same arguments)."""
    for batch in iter_batches(path, report, *args, **kwargs):
        for row in batch:
            yield tuple(field.decode() for field in row)


def iter_batches(
    path: str | Path,
    report: Report,
    time_field: str = "auto",
    min_rating: float | None = None,
    read_only: bool = False,
    strict_json: bool = False,
    schema: str | None = None,
    progress: bool | None = None,
    formatted: bool = False,
) -> Iterator[Batch | TextBatch]:
    """Rows (user_id, book_id, rating, timestamp) of a GoodReads file, in file order, in lists
    of UTF-8 encoded rows (one list per ~2 MiB of input; see :data:`~.atomic.Batch`).
    ``formatted``: the caller writes the rows as they come (no sort, no k-core), so the plain chunks of
    ``goodreads_interactions.csv`` may come as :class:`~.atomic.TextBatch`, formatted in worker processes.

    Options are checked against the detected schema before anything is read further
    (``ConvertError`` for a time field or ``read_only`` the schema does not have)."""
    path = Path(path)
    schema = schema or detect_schema(path)
    if time_field in ("auto", None, ""):
        time_field = TIME_FIELDS[schema][0] if TIME_FIELDS[schema] else "none"
    if schema == "csv":
        if time_field != "none":
            raise ConvertError(f"{path}: goodreads_interactions.csv has no time field ({time_field!r} asked)")
        report.notes.append(CSV_NOTE)
        return _iter_csv(path, report, min_rating, read_only, progress, formatted)
    if time_field not in TIME_FIELDS[schema]:
        raise ConvertError(
            f"{path}: time field {time_field!r} is not in the {schema} schema; "
            f"choose one of {', '.join(TIME_FIELDS[schema])}"
        )
    if read_only and schema != "interactions":
        raise ConvertError(f"{path}: read_only needs is_read, which the {schema} schema does not have")
    return _iter_json(path, report, schema, time_field, min_rating, read_only, strict_json, progress)


def _iter_json(path, report, schema, time_field, min_rating, read_only, strict_json, progress) -> Iterator[Batch]:
    names = ["user_id", "book_id", "rating", time_field] + (["is_read"] if read_only else [])
    shape: _Shape | None = None
    shape_tried = False
    parse_time = parse_iso_day if time_field == "timestamp" else parse_date_added
    skip_empty = f"empty {time_field}"
    skip_unread = "not read (is_read false)"
    skip_rating = f"rating below {min_rating:g}" if min_rating is not None else ""
    times: dict[bytes, bytes] = {}  # raw time text -> Unix seconds as text

    def time_of(t: bytes) -> bytes | None:
        ts = times.get(t)
        if ts is None and t:
            try:
                ts = str(parse_time(t.decode())).encode()
            except (ValueError, KeyError, OverflowError, UnicodeDecodeError):
                return None
            if len(times) >= _CACHE_MAX:
                times.clear()
            times[t] = ts
        return ts

    def one_line(lineno: int, line: bytes) -> tuple | None:
        """The row of one line, or None (skipped or bad: counted in ``report``)."""
        nonlocal shape, shape_tried
        if line[-1:] == b"\r":
            line = line[:-1]
        if not line or line.isspace():
            return None
        if shape is not None:
            # Fast path for the common clean line; anything unusual takes the general path
            # below, which holds every check and message.
            raw = shape.read(line)
            if raw is not None:
                u, b, r = raw[0], raw[1], raw[2]
                ts = time_of(raw[3])
                try:
                    user, book = u.decode(), b.decode()
                except UnicodeDecodeError:
                    user = book = ""
                if (ts is not None and user and book and user.isprintable() and book.isprintable()
                        and user.strip() == user and book.strip() == book):
                    if read_only and raw[4] == b"false":
                        report.skip(skip_unread)
                        return None
                    if min_rating is not None and float(r) < min_rating:
                        report.skip(skip_rating)
                        return None
                    return u, b, r, ts
        try:
            record = json.loads(line)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            report.bad_line(path, lineno, "malformed JSON", str(e))
            return None
        if not isinstance(record, dict):
            report.bad_line(path, lineno, "not a JSON object", _show(line[:60]))
            return None
        if shape is None and not strict_json and shape_tried is False:
            shape_tried = True
            shape = _Shape.of(record, names)
        values = [record.get(n, _MISSING) for n in names]
        missing = [n for n, v in zip(names, values) if v is _MISSING]
        if missing:
            report.bad_line(path, lineno, "missing field", ", ".join(missing))
            return None
        user = id_text(values[0])
        book = id_text(values[1])
        if user is None or book is None:
            report.bad_line(path, lineno, "bad user_id or book_id", _show(line[:80]))
            return None
        rating = _number(values[2])
        if rating is None:
            report.bad_line(path, lineno, "bad rating", _show(values[2]))
            return None
        t = values[3]
        if t == "" or t is None:
            report.skip(skip_empty)
            return None
        try:
            ts = parse_time(t)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
            report.bad_line(path, lineno, f"unparseable {time_field}", repr(t)[:60])
            return None
        if read_only:
            is_read = values[4]
            if not isinstance(is_read, bool):
                report.bad_line(path, lineno, "bad is_read", _show(is_read))
                return None
            if not is_read:
                report.skip(skip_unread)
                return None
        if min_rating is not None and rating < min_rating:
            report.skip(skip_rating)
            return None
        rating_text = str(int(rating)) if rating.is_integer() and abs(rating) < 1e15 else repr(rating)
        return user.encode(), book.encode(), rating_text.encode(), str(ts).encode()

    lineno = 0
    try:
        for before, n, chunk in iter_chunks(path, progress):
            lineno = before + n
            if shape is None:  # until the shape is known (or with strict_json): line by line
                rows = [one_line(i, line) for i, line in enumerate(chunk.split(b"\n", n)[:n], before + 1)]
                yield [row for row in rows if row is not None]
                continue
            # Whole chunk at once: one findall; the lines that do not fit the shape, whose middle
            # value has a suspicious colon, or whose time is not plain, go through one_line.
            found = shape.batch.findall(chunk)
            del found[n:]
            u = shape.user
            slow = [i for i, f in enumerate(found) if not f[u]]
            if shape.middle is not None:
                m = shape.middle - 1
                slow += [i for i, f in enumerate(found) if b":" in f[m] and f[u] and shape.colon(f[m])]
            rows = list(map(shape.fields, found))
            raw_times = [r[3] for r in rows]
            for t in set(raw_times).difference(times):
                time_of(t)
            stamps = list(map(times.get, raw_times))
            if None in stamps:
                slow += [i for i, (f, ts) in enumerate(zip(found, stamps)) if ts is None and f[u]]
            lines = chunk.split(b"\n", n)[:n] if slow else None
            slow = sorted(set(slow))  # file order: bad lines are reported in order
            if read_only or min_rating is not None:
                skip = set(slow)
                for i, r in enumerate(rows):
                    if i in skip:
                        continue
                    if read_only and r[4] == b"false":
                        report.skip(skip_unread)
                        rows[i] = None
                    elif min_rating is not None and float(r[2]) < min_rating:
                        report.skip(skip_rating)
                        rows[i] = None
            batch = [(r[0], r[1], r[2], ts) if r is not None else None for r, ts in zip(rows, stamps)]
            for i in slow:
                batch[i] = one_line(before + 1 + i, lines[i])
            yield [row for row in batch if row is not None] if slow or read_only or min_rating is not None else batch
    finally:
        report.lines_read = lineno


#: The header of goodreads_interactions.csv, and its data lines as the chunk-wide fast path reads them:
#: (user_id, book_id, rating), or with ``read_only`` (user_id, book_id, is_read, rating); a line of any
#: other form goes through the line-by-line path.
CSV_COLUMNS = ["user_id", "book_id", "is_read", "rating", "is_reviewed"]
_CSV_LINE = re.compile(rb"^(\d+),(\d+),[01],(\d+),[01]\r?$", re.M)
_CSV_LINE_READ = re.compile(rb"^(\d+),(\d+),([01]),(\d+),[01]\r?$", re.M)


def _iter_csv(path, report, min_rating, read_only, progress, formatted=False) -> Iterator[Batch | TextBatch]:
    """Rows of ``goodreads_interactions.csv`` in file order, one batch per ~2 MiB chunk of lines.

    A chunk whose every line is plainly ``digits,digits,0|1,digits,0|1`` under the standard header is
    read by one ``findall`` and its rows built by C-level ``map`` (no Python work per line: about 5x
    faster); any other chunk goes line by line (:func:`_csv_row`), which gives those lines the same
    rows and reports what is wrong with the others. With ``formatted`` (and no filter), the plain chunks
    are formatted as ``.inter`` lines by worker processes, one per core, a few chunks ahead
    (:func:`_format_chunk`): the second core works too. The header is read first, on its own, so that
    the workers are forked before the chunks' reading thread starts."""
    lineno = 0
    pool = None
    try:
        first = iter_lines(path)
        header = next(first, (0, b""))[1]
        first.close()  # its reading thread ends here: worker processes are forked from a single thread
        lineno = 1
        cols = _csv_header(header) or []
        missing = [name for name in ("user_id", "book_id", "rating") if name not in cols]
        if missing:
            raise ConvertError(f"{path}: the CSV header has no {', '.join(missing)} column (it reads "
                               f"{', '.join(cols) or 'nothing'}); the GoodReads interactions file starts with "
                               "user_id,book_id,is_read,rating,is_reviewed")
        if read_only and "is_read" not in cols:
            raise ConvertError(f"{path}: read_only needs an is_read column")
        fast = (_CSV_LINE_READ if read_only else _CSV_LINE) if cols == CSV_COLUMNS else None
        row_of = _csv_row(path, report, cols, min_rating, read_only)
        workers = _worker_count() if formatted and fast is _CSV_LINE and min_rating is None else 0
        pool = _worker_pool(workers) if workers else None
        chunks = iter_chunks(path, progress)
        _, _, chunk = next(chunks, (0, 0, b""))
        first_lines = chunk.partition(b"\n")[2]
        rest = [(1, first_lines.count(b"\n"), first_lines)] if first_lines else []
        jobs = itertools.chain(rest, chunks)
        done = _formatted_in(pool, jobs, workers) if pool is not None else ((job, None) for job in jobs)
        for (before, n, chunk), text in done:
            lineno = before + n
            if text is not None:
                yield text
                continue
            fields = fast.findall(chunk) if fast is not None else []
            if len(fields) == n:  # every line matched: the fast path
                stamps = map(b"%d".__mod__, range(before, before + n))  # the data row numbers
                if read_only:
                    rows = [(u, b, r, t) for (u, b, flag, r), t in zip(fields, stamps)
                            if _kept(report, (u, b, r), flag, min_rating, read_only)]
                else:
                    rows = list(map(operator.add, fields, zip(stamps)))  # (user, book, rating) + (time,)
                    if min_rating is not None:
                        rows = [row for row in rows if _kept(report, row, b"1", min_rating, False)]
                yield rows
                continue
            lines = chunk.split(b"\n", n)[:n]
            rows = (row_of(number, line.rstrip(b"\r")) for number, line in enumerate(lines, before + 1))
            yield [row for row in rows if row is not None]
    finally:
        report.lines_read = lineno
        if pool is not None:
            pool.terminate()
            pool.join()


_INTER_LINE = b"%s\t%s\t%s\t%d\n"  # user, book, rating, the data row number


def _format_chunk(job: tuple[int, int, bytes]) -> TextBatch | None:
    """A chunk of ``goodreads_interactions.csv`` (lines before it, lines in it, its bytes) as ``.inter`` lines,
    in a worker process; None when some line is not plain (the reading process reads it line by line)."""
    before, n, chunk = job
    fields = _CSV_LINE.findall(chunk)
    if len(fields) != n:
        return None
    text = b"".join(map(_INTER_LINE.__mod__, map(operator.add, fields, zip(range(before, before + n)))))
    runs = [(user, len(list(run))) for user, run in itertools.groupby(map(itemgetter(0), fields))]
    return TextBatch(text, runs, set(map(itemgetter(1), fields)))


def _worker_count() -> int:
    """Worker processes for :func:`_format_chunk`: one per core this process may use; 0 (format here) on one
    core, off Linux (the workers are forked) or inside a daemonic process (which may not start children)."""
    import multiprocessing
    import os
    import sys

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    usable = sys.platform.startswith("linux") and not multiprocessing.current_process().daemon
    return cores if usable and cores >= 2 else 0


def _worker_pool(workers: int):
    """``workers`` forked processes (fork: nothing is imported again, a script without a ``__main__`` guard
    is not run again), with no cyclic GC (it would walk every row tuple)."""
    import gc
    import multiprocessing

    return multiprocessing.get_context("fork").Pool(workers, initializer=gc.disable)


def _formatted_in(pool, jobs: Iterator[tuple[int, int, bytes]], workers: int) -> Iterator[tuple[tuple, TextBatch | None]]:
    """(job, :func:`_format_chunk` of it) in order, from the ``pool``'s ``workers`` kept a few chunks ahead (memory
    stays a few chunks)."""
    import collections

    window: collections.deque = collections.deque()
    for job in jobs:
        window.append((job, pool.apply_async(_format_chunk, (job,))))
        if len(window) > 2 * workers:
            job, result = window.popleft()
            yield job, result.get()
    while window:
        job, result = window.popleft()
        yield job, result.get()


def _kept(report: Report, row: tuple[bytes, ...], flag: bytes, min_rating: float | None, read_only: bool) -> bool:
    """Whether a well-formed row passes ``read_only`` and ``min_rating`` (what it fails is counted)."""
    if read_only and flag == b"0":
        report.skip("not read (is_read 0)")
        return False
    if min_rating is not None and float(row[2]) < min_rating:
        report.skip(f"rating below {min_rating:g}")
        return False
    return True


def _csv_row(path, report, cols, min_rating, read_only):
    """The line-by-line reader of one CSV line: its row, or None (a bad line reported, or a row filtered out)."""
    ui, bi, ri = cols.index("user_id"), cols.index("book_id"), cols.index("rating")
    ii = cols.index("is_read") if "is_read" in cols else None
    n = len(cols)

    def row_of(lineno: int, line: bytes) -> Row | None:
        if not line or line.isspace():
            return None
        parts = line.split(b",")
        if len(parts) != n:
            report.bad_line(path, lineno, "wrong number of fields", f"{len(parts)} instead of {n}")
            return None
        user, book, rating = parts[ui].strip(), parts[bi].strip(), parts[ri].strip()
        if not (user.isdigit() and book.isdigit()):
            report.bad_line(path, lineno, "bad user_id or book_id", _show(line[:80]))
            return None
        try:
            float(rating)
        except ValueError:
            report.bad_line(path, lineno, "bad rating", _show(rating))
            return None
        flag = parts[ii].strip() if read_only else b"1"
        if flag not in (b"0", b"1"):
            report.bad_line(path, lineno, "bad is_read", _show(flag))
            return None
        row = (user, book, rating, str(lineno - 1).encode())
        return row if _kept(report, row, flag, min_rating, read_only) else None

    return row_of
