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

Speed: a review line is ~1.5 KB of review text around a few short fields. Each line is first
read by a fast path that finds the needed ``"key": value`` pairs with ``bytes.find`` and
never parses the review text; whenever the line is not plainly a flat object with each key once
and escape-free values, it falls back to ``json.loads``, so every valid JSON line gives the same
fields as ``json.loads``. A line that is broken only inside fields we do not use (e.g. the
review text) is therefore accepted; ``strict_json=True`` parses every line with ``json.loads``.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import gzip
import json
import zlib
from pathlib import Path
from typing import IO, Iterator

from .atomic import ConvertError, Report, Row, _progress, format_value

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
def _open_binary(path: Path) -> IO[bytes]:
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic == b"\x1f\x8b":
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as e:
        raise ConvertError(f"{path}: cannot open: {e}") from e


def iter_lines(path: Path, progress: bool | None = False) -> Iterator[tuple[int, bytes]]:
    """(line number, line without line ending) of a plain or gzip file, empty lines skipped.
    A truncated or corrupt gzip stream raises :class:`ConvertError` naming the last good line."""
    lineno = 0
    with _open_binary(path) as f:
        lines = _progress(f, Path(path).name, progress)
        try:
            for lineno, line in enumerate(lines, 1):
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield lineno, line
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
            raise ConvertError(
                f"{path}: compressed data is truncated or corrupt after line {lineno} ({e}); "
                "nothing was written"
            ) from e


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
_MISSING = object()


def _fast_fields(line: bytes, keys: tuple[bytes, ...]) -> list | None:
    """Values of ``keys`` in a flat JSON object line, or None when the line is not simple enough
    to be sure (then the caller uses json.loads). Strings come back as bytes (escape-free),
    numbers as int/float, true/false as bool."""
    if line[:1] != b"{" or line[-1:] != b"}" or line.count(b"{") != 1:
        return None
    out = []
    for pat in keys:
        i = line.find(pat)
        if i < 1 or line.find(pat, i + 1) >= 0 or line[i - 1] not in b" ,{":
            return None
        j = i + len(pat)
        if line[j : j + 1] == b'"':
            e = line.find(b'"', j + 1)
            value = line[j + 1 : e]
            if e < 0 or b"\\" in value:
                return None
            out.append(value)
        else:
            e = line.find(b",", j)
            e2 = line.find(b"}", j)
            if e < 0 or 0 <= e2 < e:
                e = e2
            token = line[j:e].strip()
            if token == b"true":
                out.append(True)
            elif token == b"false":
                out.append(False)
            elif token.isdigit():
                out.append(int(token))
            else:
                return None
    return out


# ----------------------------------------------------------------------------- rows
def _show(value: object) -> str:
    """repr of a value for a message; bytes shown as text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return repr(value)


def _id_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    if not text or text != text.strip():
        return None if not text.strip() else format_value(text.strip())
    if not text.isprintable() or '"' in text:
        text = format_value(text)
    return text


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


def iter_rows(
    path: str | Path,
    report: Report,
    time_field: str = "auto",
    min_rating: float | None = None,
    read_only: bool = False,
    strict_json: bool = False,
    schema: str | None = None,
    progress: bool | None = None,
) -> Iterator[Row]:
    """Rows (user_id, book_id, rating, timestamp) of a GoodReads file, in file order.

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
        return _iter_csv(path, report, min_rating, read_only, progress)
    if time_field not in TIME_FIELDS[schema]:
        raise ConvertError(
            f"{path}: time field {time_field!r} is not in the {schema} schema; "
            f"choose one of {', '.join(TIME_FIELDS[schema])}"
        )
    if read_only and schema != "interactions":
        raise ConvertError(f"{path}: read_only needs is_read, which the {schema} schema does not have")
    return _iter_json(path, report, schema, time_field, min_rating, read_only, strict_json, progress)


def _iter_json(path, report, schema, time_field, min_rating, read_only, strict_json, progress) -> Iterator[Row]:
    names = ["user_id", "book_id", "rating", time_field] + (["is_read"] if read_only else [])
    keys = tuple(f'"{n}": '.encode() for n in names)
    parse_time = parse_iso_day if time_field == "timestamp" else parse_date_added
    skip_empty = f"empty {time_field}"
    skip_unread = "not read (is_read false)"
    skip_rating = f"rating below {min_rating:g}" if min_rating is not None else ""
    lineno = 0
    try:
        for lineno, line in iter_lines(path, progress):
            values = None if strict_json else _fast_fields(line, keys)
            if values is None:
                try:
                    record = json.loads(line)
                except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                    report.bad_line(path, lineno, "malformed JSON", str(e))
                    continue
                if not isinstance(record, dict):
                    report.bad_line(path, lineno, "not a JSON object", _show(line[:60]))
                    continue
                values = [record.get(n, _MISSING) for n in names]
                missing = [n for n, v in zip(names, values) if v is _MISSING]
                if missing:
                    report.bad_line(path, lineno, "missing field", ", ".join(missing))
                    continue
            try:
                user = _id_text(values[0])
                book = _id_text(values[1])
            except UnicodeDecodeError:
                user = book = None
            if user is None or book is None:
                report.bad_line(path, lineno, "bad user_id or book_id", _show(line[:80]))
                continue
            rating = _number(values[2])
            if rating is None:
                report.bad_line(path, lineno, "bad rating", _show(values[2]))
                continue
            t = values[3]
            if isinstance(t, bytes):
                t = t.decode("utf-8", "replace")
            if t == "" or t is None:
                report.skip(skip_empty)
                continue
            try:
                ts = parse_time(t)
            except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
                report.bad_line(path, lineno, f"unparseable {time_field}", repr(t)[:60])
                continue
            if read_only:
                is_read = values[4]
                if not isinstance(is_read, bool):
                    report.bad_line(path, lineno, "bad is_read", _show(is_read))
                    continue
                if not is_read:
                    report.skip(skip_unread)
                    continue
            if min_rating is not None and rating < min_rating:
                report.skip(skip_rating)
                continue
            yield user, book, f"{rating:g}", str(ts)
    finally:
        report.lines_read = lineno


def _iter_csv(path, report, min_rating, read_only, progress) -> Iterator[Row]:
    lines = iter_lines(path, progress)
    lineno = 0
    try:
        lineno, header = next(lines)
        cols = _csv_header(header) or []
        ui, bi, ri = cols.index("user_id"), cols.index("book_id"), cols.index("rating")
        ii = cols.index("is_read") if "is_read" in cols else None
        if read_only and ii is None:
            raise ConvertError(f"{path}: read_only needs an is_read column")
        n = len(cols)
        skip_unread = "not read (is_read 0)"
        skip_rating = f"rating below {min_rating:g}" if min_rating is not None else ""
        for lineno, line in lines:
            parts = line.split(b",")
            if len(parts) != n:
                report.bad_line(path, lineno, "wrong number of fields", f"{len(parts)} instead of {n}")
                continue
            user, book, rating = parts[ui].strip(), parts[bi].strip(), parts[ri].strip()
            if not (user.isdigit() and book.isdigit()):
                report.bad_line(path, lineno, "bad user_id or book_id", _show(line[:80]))
                continue
            try:
                r = float(rating)
            except ValueError:
                report.bad_line(path, lineno, "bad rating", _show(rating))
                continue
            if read_only:
                flag = parts[ii].strip()
                if flag not in (b"0", b"1"):
                    report.bad_line(path, lineno, "bad is_read", _show(flag))
                    continue
                if flag == b"0":
                    report.skip(skip_unread)
                    continue
            if min_rating is not None and r < min_rating:
                report.skip(skip_rating)
                continue
            yield user.decode(), book.decode(), rating.decode(), str(lineno - 1)
    finally:
        report.lines_read = lineno
