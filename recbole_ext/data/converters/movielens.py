"""MovieLens-100K and MovieLens-1M (GroupLens) raw files -> rows for RecBole atomic files.

ML-100K: ``u.data`` (user \\t item \\t rating \\t unix time), ``u.item`` (``|``-separated: id, title
with the year in parentheses, release date, video date, URL, 19 genre flags), ``u.user``
(id|age|gender|occupation|zip), from a directory or from ``ml-100k.zip``. All latin-1.

ML-1M: ``ratings.dat`` (user::item::rating::time), ``movies.dat`` (id::title (year)::genre|genre),
``users.dat`` (id::gender::age::occupation::zip), from a directory or from ``ml-1m.zip``. latin-1.
In ML-1M ``age`` and ``occupation`` are the source's codes (age bucket 1/18/25/.., occupation
0-20 as listed in its README); they are kept as codes.

ML-10M: ``ratings.dat`` (user::item::rating::time, half stars) and ``movies.dat``
(id::title (year)::genre|genre), from a directory or ``ml-10m.zip`` (folder ``ml-10M100K``); no users
file. ML-20M, ML-25M, ML-32M: ``ratings.csv`` (header ``userId,movieId,rating,timestamp``) and
``movies.csv`` (header ``movieId,title,genres``, CSV-quoted titles), from a directory or the
release's zip. These are UTF-8 (a byte that is not is read as latin-1); genre
``(no genres listed)`` gives an empty ``class``.

The ``.item`` and ``.user`` columns mirror the copy of ml-100k bundled with RecBole:
``movie_title:token_seq`` (title without the trailing year), ``release_year:token``,
``class:token_seq`` (genres); ``age, gender, occupation, zip_code`` as tokens. Text is written as
UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from .atomic import ConvertError, Report, Row

ITEM_FIELDS = (
    ("item_id", "token"),
    ("movie_title", "token_seq"),
    ("release_year", "token"),
    ("class", "token_seq"),
)
USER_FIELDS = (
    ("user_id", "token"),
    ("age", "token"),
    ("gender", "token"),
    ("occupation", "token"),
    ("zip_code", "token"),
)

#: u.genre of ML-100K, in flag order (used when u.genre is absent).
ML100K_GENRES = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy "
    "Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()

ENCODING = "latin-1"  # ML-100K and ML-1M
UTF8 = "utf-8"  # ML-10M and later, with errors="latin1_fallback"
codecs.register_error("latin1_fallback",  # a stray byte of an older encoding is read as latin-1, not refused
                      lambda e: (e.object[e.start:e.end].decode("latin-1"), e.end))
NO_GENRES = "(no genres listed)"


@dataclass(frozen=True)
class Release:
    """One MovieLens release: its files, their layout and where GroupLens publishes it."""

    name: str
    ratings: str
    movies: str
    users: str | None
    sep: str  # field separator of the ratings file
    header: str | None  # the ratings file's first line, when it has one
    encoding: str

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.ratings, self.movies, self.users) if f)


RELEASES = {
    "ml-100k": Release("ml-100k", "u.data", "u.item", "u.user", "\t", None, ENCODING),
    "ml-1m": Release("ml-1m", "ratings.dat", "movies.dat", "users.dat", "::", None, ENCODING),
    "ml-10m": Release("ml-10m", "ratings.dat", "movies.dat", None, "::", None, UTF8),
    **{name: Release(name, "ratings.csv", "movies.csv", None, ",", "userId,movieId,rating,timestamp", UTF8)
       for name in ("ml-20m", "ml-25m", "ml-32m")},
}
_YEAR_AT_END = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
_YEAR_IN_DATE = re.compile(r"(\d{4})\s*$")


def split_title(title: str) -> tuple[str, str]:
    """``"City of Lost Children, The (Cité des enfants perdus, La) (1995)"`` ->
    ``("City of Lost Children, The (Cité des enfants perdus, La)", "1995")``: only a final
    ``(YYYY)`` is the year; other parentheses stay in the title. No year -> ``(title, "")``."""
    title = title.strip()
    m = _YEAR_AT_END.match(title)
    if m:
        return m.group(1), m.group(2)
    return title, ""


class _Source:
    """A MovieLens release given as a directory, a zip, or one of its files."""

    def __init__(self, path: str | Path, names: tuple[str, ...], encoding: str = ENCODING) -> None:
        self.path = Path(path)
        self.names = names
        self.encoding = encoding
        if not self.path.exists():
            raise ConvertError(f"{self.path}: no such file or directory")
        if self.path.is_file() and not zipfile.is_zipfile(self.path):
            if self.path.name in names:  # one of the release's files: use its folder
                self.path = self.path.parent
            else:
                raise ConvertError(
                    f"{self.path}: expected a directory with {', '.join(names)} or the release zip"
                )
        if self.path.is_dir():
            self.zip_members: dict[str, str] | None = None
            if not (self.path / names[0]).is_file():
                raise ConvertError(f"{self.path}: no {names[0]} in this directory (wrong source?)")
        else:
            with zipfile.ZipFile(self.path) as zf:
                self.zip_members = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
            if names[0] not in self.zip_members:
                raise ConvertError(f"{self.path}: no {names[0]} in this zip (wrong source?)")

    def has(self, name: str) -> bool:
        if self.zip_members is None:
            return (self.path / name).is_file()
        return name in self.zip_members

    def label(self, name: str) -> str:
        return str(self.path / name) if self.zip_members is None else f"{self.path}!{name}"

    @contextmanager
    def open(self, name: str) -> Iterator[IO[str]]:
        if self.zip_members is None:
            with open(self.path / name, "r", encoding=self.encoding, errors=self.errors, newline="") as f:
                yield f
        else:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.zip_members[name]) as raw:
                yield io.TextIOWrapper(raw, encoding=self.encoding, errors=self.errors, newline="")

    @property
    def errors(self) -> str:
        return "strict" if self.encoding == ENCODING else "latin1_fallback"


def _lines(src: _Source, name: str, report: Report | None) -> Iterator[tuple[int, str]]:
    """Non-empty lines without their line ending, with 1-based line numbers.

    GroupLens ends every line of these files with a line break: a last line without one was cut
    short (a partial download or copy) and is reported as a bad line, not read as a valid row.
    """
    with src.open(name) as f:
        for lineno, line in enumerate(f, 1):
            if report is not None:
                report.lines_read += 1
            if not line.endswith("\n") and line.strip() and report is not None:
                report.bad_line(src.label(name), lineno, "last line has no line break (the file looks cut short)",
                                repr(line[:80]))
                continue
            line = line.rstrip("\r\n")
            if line.strip():
                yield lineno, line


def _check_first_line(label: str, line: str, sep: str, n_fields: int, kind: str) -> None:
    parts = line.split(sep)
    if len(parts) != n_fields or not parts[0].strip().isdigit():
        raise ConvertError(
            f"{label}:1: does not look like {kind} (expected {n_fields} {sep!r}-separated fields "
            f"starting with a numeric id, got {line[:80]!r}); wrong file for this source?"
        )


def _iter_ratings(
    src: _Source, name: str, sep: str, report: Report, min_rating: float | None, header: str | None = None
) -> Iterator[Row]:
    label = src.label(name)
    first = True
    for lineno, line in _lines(src, name, report):
        if header is not None and lineno == 1:
            if line.strip() != header:
                raise ConvertError(f"{label}:1: expected the header {header!r}, got {line[:80]!r}; wrong file for "
                                   "this source?")
            continue
        parts = line.split(sep)
        if first:
            _check_first_line(label, line, sep, 4, name)
            first = False
        if len(parts) != 4:
            report.bad_line(label, lineno, "wrong number of fields", f"{len(parts)} instead of 4")
            continue
        user, item, rating, ts = (p.strip() for p in parts)
        try:
            if not (user and item) or not (user.isdigit() and item.isdigit()):
                raise ValueError
            r = float(rating)
            int(ts)
        except ValueError:
            report.bad_line(label, lineno, "unparseable field", repr(line[:80]))
            continue
        if min_rating is not None and r < min_rating:
            report.skip(f"rating below {min_rating:g}")
            continue
        yield user, item, rating, ts


def iter_rows(release: str, path: str | Path, report: Report, min_rating: float | None = None) -> Iterator[Row]:
    """The ratings file of ``release`` (a key of :data:`RELEASES`) -> (user_id, item_id, rating, timestamp),
    in file order."""
    spec = RELEASES[release]
    src = _Source(path, spec.files, spec.encoding)
    return _iter_ratings(src, spec.ratings, spec.sep, report, min_rating, spec.header)


def iter_ml100k_rows(path: str | Path, report: Report, min_rating: float | None = None) -> Iterator[Row]:
    """``u.data`` -> (user_id, item_id, rating, timestamp), in file order."""
    return iter_rows("ml-100k", path, report, min_rating)


def iter_ml1m_rows(path: str | Path, report: Report, min_rating: float | None = None) -> Iterator[Row]:
    """``ratings.dat`` -> (user_id, item_id, rating, timestamp), in file order."""
    return iter_rows("ml-1m", path, report, min_rating)


def _genres100k(src: _Source) -> list[str]:
    if not src.has("u.genre"):
        return list(ML100K_GENRES)
    genres: dict[int, str] = {}
    for _, line in _lines(src, "u.genre", None):
        g, _, idx = line.rpartition("|")
        genres[int(idx)] = g
    return [genres[i] for i in range(len(genres))]


def _records(path: str | Path, files: tuple[str, ...], name: str, sep: str, n_fields: int,
             report: Report, encoding: str = ENCODING) -> Iterator[list[str]]:
    """The fields of every well-formed line of the side file ``name`` (nothing if it is absent);
    a line with another number of fields or a non-numeric id is reported and skipped."""
    src = _Source(path, files, encoding)
    if not src.has(name):
        return
    label = src.label(name)
    for lineno, line in _lines(src, name, None):
        parts = line.split(sep)
        if len(parts) != n_fields or not parts[0].isdigit():
            report.bad_line(label, lineno, "wrong number of fields", f"{len(parts)} instead of {n_fields}")
            continue
        yield parts


def iter_ml100k_items(path: str | Path, report: Report) -> Iterator[tuple[str, ...]]:
    """``u.item`` -> (item_id, title, release_year, genres). Year from the title's final
    ``(YYYY)``, else from the release date."""
    genres = _genres100k(_Source(path, RELEASES["ml-100k"].files))
    for parts in _records(path, RELEASES["ml-100k"].files, "u.item", "|", 5 + len(genres), report):
        title, year = split_title(parts[1])
        if not year:
            m = _YEAR_IN_DATE.search(parts[2])
            year = m.group(1) if m else ""
        cls = " ".join(g for g, flag in zip(genres, parts[5:]) if flag.strip() == "1")
        yield parts[0], title, year, cls


def iter_ml100k_users(path: str | Path, report: Report) -> Iterator[tuple[str, ...]]:
    """``u.user`` -> (user_id, age, gender, occupation, zip_code)."""
    for parts in _records(path, RELEASES["ml-100k"].files, "u.user", "|", 5, report):
        yield tuple(parts)


def iter_ml1m_items(path: str | Path, report: Report) -> Iterator[tuple[str, ...]]:
    """``movies.dat`` -> (item_id, title, release_year, genres)."""
    for parts in _records(path, RELEASES["ml-1m"].files, "movies.dat", "::", 3, report):
        title, year = split_title(parts[1])
        yield parts[0], title, year, _genres(parts[2])


def iter_ml1m_users(path: str | Path, report: Report) -> Iterator[tuple[str, ...]]:
    """``users.dat`` (id::gender::age::occupation::zip) -> (user_id, age, gender, occupation, zip)."""
    for uid, gender, age, occupation, zip_code in _records(path, RELEASES["ml-1m"].files, "users.dat", "::", 5, report):
        yield uid, age, gender, occupation, zip_code


def _genres(text: str) -> str:
    return " ".join(g for g in text.split("|") if g and g != NO_GENRES)


def iter_ml10m_items(path: str | Path, report: Report) -> Iterator[tuple[str, ...]]:
    """ML-10M ``movies.dat`` (id::title (year)::genres) -> (item_id, title, release_year, genres)."""
    spec = RELEASES["ml-10m"]
    for parts in _records(path, spec.files, spec.movies, "::", 3, report, spec.encoding):
        title, year = split_title(parts[1])
        yield parts[0], title, year, _genres(parts[2])


def csv_items(release: str) -> Callable[[str | Path, Report], Iterator[tuple[str, ...]]]:
    """The ``.item`` rows of ``movies.csv`` (movieId,title,genres; quoted titles) of ML-20M and later."""

    def items(path: str | Path, report: Report) -> Iterator[tuple[str, ...]]:
        spec = RELEASES[release]
        src = _Source(path, spec.files, spec.encoding)
        if not src.has(spec.movies):
            return
        label = src.label(spec.movies)
        with src.open(spec.movies) as f:
            for lineno, parts in enumerate(csv.reader(f), 1):
                if lineno == 1 or not parts:
                    continue  # the header
                if len(parts) != 3 or not parts[0].isdigit():
                    report.bad_line(label, lineno, "wrong number of fields", f"{len(parts)} instead of 3")
                    continue
                title, year = split_title(parts[1])
                yield parts[0], title, year, _genres(parts[2])

    return items
