"""Streaming writer for RecBole atomic files, and the bookkeeping every converter shares.

Atomic file format (what RecBole 1.2.1 reads, see docs/data.md):

* UTF-8, tab-separated, ``\\n`` line endings (RecBole reads the header with ``readline()[:-1]``);
* first line ``name:type`` per column, type one of ``token``, ``token_seq``, ``float``, ``float_seq``;
* RecBole parses the body with ``pandas.read_csv(engine="python")``: a field that *starts* with
  ``"`` is taken as a quoted CSV field. :func:`format_value` therefore replaces tabs and line
  breaks by spaces and CSV-quotes any value that contains a double quote (x"y -> "x""y"), which
  pandas reads back as the original text.

Safety: every file of one conversion is written to a hidden temporary file in the target folder
(``.NAME.inter.tmp-PID``) and renamed over the final name only when the whole conversion has
succeeded (:class:`AtomicFileSet`). A failed or interrupted run (exception, Ctrl-C) deletes its
temporaries and leaves any earlier output untouched; a killed process (SIGKILL, power loss) can
leave a hidden ``.tmp-PID`` file behind but never a half ``NAME.inter``.
"""

from __future__ import annotations

import heapq
import os
import re
import tempfile
from collections import Counter
from itertools import groupby, islice
from operator import itemgetter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

import numpy as np

__all__ = [
    "ConvertError",
    "Report",
    "AtomicFileSet",
    "AtomicWriter",
    "format_value",
    "format_header",
    "write_inter",
    "Batch",
    "batched",
    "INTER_FIELDS",
]

#: Columns of every ``.inter`` file the converters write.
INTER_FIELDS: tuple[tuple[str, str], ...] = (
    ("user_id", "token"),
    ("item_id", "token"),
    ("rating", "float"),
    ("timestamp", "float"),
)

#: One interaction as the converters yield it: (user_id, item_id, rating, timestamp), all
#: already formatted as text (ids are written as they appear in the source).
Row = tuple[str, str, str, str]

#: What :func:`write_inter` consumes: a list of rows, each field UTF-8 encoded (bytes), so that a
#: whole list is written with a few calls instead of Python work per row.
Batch = list[tuple[bytes, bytes, bytes, bytes]]


@dataclass(frozen=True)
class TextBatch:
    """Rows already formatted as ``.inter`` lines (``text``, each ending in ``\\n``), with what the writer
    needs of them: each run of equal users in order with its number of rows, and the set of items. A reader
    that formats its rows itself (in a worker process: goodreads_interactions.csv) hands these instead of a
    :data:`Batch`; :meth:`of` turns a :data:`Batch` into one."""

    text: bytes
    user_runs: list[tuple[bytes, int]]
    items: set[bytes]

    @classmethod
    def of(cls, rows: Batch) -> "TextBatch":
        return cls(b"\n".join(map(b"\t".join, rows)) + b"\n" if rows else b"",
                   [(user, len(list(run))) for user, run in groupby(map(itemgetter(0), rows))],
                   set(map(itemgetter(1), rows)))


def batched(rows: Iterable[tuple], size: int = 4096) -> Iterator[Batch]:
    """Rows (text or bytes fields) -> :data:`Batch` lists of ``size`` rows."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield [tuple(f if isinstance(f, bytes) else f.encode() for f in row) for row in batch]

try:  # one base class for the errors users can fix, when the package provides it
    from recbole_ext.errors import RecboleExtError as _Base
except ImportError:  # pragma: no cover - the data package also works on its own
    _Base = Exception

_TRANS = str.maketrans({"\t": " ", "\n": " ", "\r": " ", "\x0b": " ", "\x0c": " "})


class ConvertError(_Base):
    """A conversion that cannot go on: unreadable, empty, truncated or wrong input, bad option,
    or a bad line under ``on_error="stop"``. The message names the file (and line)."""


def format_value(value: object) -> str:
    """Text of one field: tabs/line breaks -> space; CSV-quoted if it contains ``"``."""
    text = str(value).translate(_TRANS)
    if '"' in text:
        text = '"' + text.replace('"', '""') + '"'
    return text


def format_header(fields: Sequence[tuple[str, str]]) -> str:
    return "\t".join(f"{name}:{ftype}" for name, ftype in fields) + "\n"


def id_text(value: object) -> str | None:
    """An id as the text to write, or None when it is missing, empty, not text or a number, or has spaces
    around it or a separator inside it."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    # An id with a tab or line break (the atomic format's separators) or spaces around it would be
    # written as another id (or merge with one): refused, so the line is counted as bad with its number.
    if not text or text != text.strip() or any(c in text for c in "\t\n\r"):
        return None
    if not text.isprintable() or '"' in text:
        text = format_value(text)
    return text


@dataclass
class Report:
    """What a conversion read, wrote and skipped. ``bad`` lines are malformed input (counted by
    reason, the first ``max_examples`` kept as ``file:line: message``); ``skipped`` rows are
    well-formed but removed by an option (rating threshold, read-only, empty time field,
    minimum interactions per user). ``on_error="stop"`` turns the first bad line into a
    :class:`ConvertError`."""

    on_error: str = "skip"
    max_examples: int = 5
    lines_read: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)  # file name -> data rows
    n_users: int = 0
    n_items: int = 0
    notes: list[str] = field(default_factory=list)
    output_dir: str = ""

    def __post_init__(self) -> None:
        if self.on_error not in ("skip", "stop"):
            raise ConvertError(f"on_error must be 'skip' or 'stop', not {self.on_error!r}")

    def bad_line(self, path: object, lineno: int, reason: str, detail: str = "") -> None:
        """Record a malformed line; raise under ``on_error="stop"``."""
        message = f"{path}:{lineno}: {reason}" + (f": {detail}" if detail else "")
        if self.on_error == "stop":
            raise ConvertError(message + "  (on_error=stop; use on_error=skip to skip and count)")
        self.bad[reason] = self.bad.get(reason, 0) + 1
        if len(self.examples) < self.max_examples:
            self.examples.append(message)

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    @property
    def n_bad(self) -> int:
        return sum(self.bad.values())

    def summary(self) -> str:
        lines = [f"read {self.lines_read:,} lines"]
        for name, n in self.written.items():
            lines.append(f"wrote {n:,} rows to {Path(self.output_dir) / name}")
        lines.append(f"interactions: {self.n_users:,} users, {self.n_items:,} items")
        if self.skipped:
            for reason, n in self.skipped.items():
                lines.append(f"skipped {n:,} rows: {reason}")
        else:
            lines.append("skipped 0 rows")
        if self.bad:
            for reason, n in self.bad.items():
                lines.append(f"bad lines skipped {n:,}: {reason}")
            lines.append("first bad lines:")
            lines.extend(f"  {e}" for e in self.examples)
        else:
            lines.append("bad lines: 0")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


class AtomicWriter:
    """One atomic file being written to a temporary path. Use through :class:`AtomicFileSet`."""

    def __init__(self, final: Path, fields: Sequence[tuple[str, str]] | None) -> None:
        self.final = final
        self.tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        self._f: IO[str] = open(self.tmp, "w", encoding="utf-8", newline="\n")
        self.rows = 0
        if fields is not None:
            self._f.write(format_header(fields))

    def write_row(self, values: Iterable[object]) -> None:
        self._f.write("\t".join(map(format_value, values)) + "\n")
        self.rows += 1

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def discard(self) -> None:
        if not self._f.closed:
            self._f.close()
        self.tmp.unlink(missing_ok=True)


class AtomicFileSet:
    """Write several files to temporaries; rename them all at the end, or delete them all.

    >>> with AtomicFileSet(out_dir) as files:                     # doctest: +SKIP
    ...     w = files.open("ml100k.inter", INTER_FIELDS)
    ...     w.write_row(("1", "2", "5", "881250949"))
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.writers: list[AtomicWriter] = []
        self._created: list[Path] = []  # folders this set made, deepest first

    def __enter__(self) -> "AtomicFileSet":
        folder = self.directory.absolute()
        while not folder.exists():
            self._created.append(folder)
            folder = folder.parent
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def open(self, name: str, fields: Sequence[tuple[str, str]] | None) -> AtomicWriter:
        writer = AtomicWriter(self.directory / name, fields)
        self.writers.append(writer)
        return writer

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for w in self.writers:
                w.discard()
            for folder in self._created:  # only those we made, and only while empty
                try:
                    folder.rmdir()
                except OSError:
                    break
            return
        finals = [w for w in self.writers if not w.final.name.startswith(".")]
        try:
            for w in self.writers:
                w.close()
        except BaseException:
            for w in self.writers:
                w.discard()
            raise
        for w in self.writers:
            if w not in finals:
                w.discard()
        for w in finals:
            os.replace(w.tmp, w.final)


class NotGrouped(Exception):
    """Raised by :func:`grouped_by_user` at the first user whose rows do not stand together."""


def grouped_by_user(batches: Iterable[Batch]) -> Iterator[Batch]:
    """``batches`` as they come, while every user's rows stand together (then, for rows whose times rise
    with the line, they are already in (user, time, line) order); :class:`NotGrouped` at the first user
    seen again after another one. Checked per run of equal users, not per row."""
    seen: set[bytes] = set()
    last = None
    for batch in batches:
        users = ((u for u, _ in batch.user_runs) if isinstance(batch, TextBatch) else
                 (u for u, _ in groupby(map(itemgetter(0), batch))))
        for user in users:
            if user != last:
                if user in seen:
                    raise NotGrouped(user)
                seen.add(user)
                last = user
        yield batch


#: Rows sorted in memory at once by :func:`sorted_by_user_and_time`; longer inputs are merged from runs.
SORT_CHUNK_ROWS = 2_000_000


def sorted_by_user_and_time(batches: Iterable[Batch], directory: str | os.PathLike,
                            chunk_rows: int = SORT_CHUNK_ROWS) -> Iterator[Batch]:
    """``batches`` of ``.inter`` rows (user, item, rating, timestamp) sorted stably by (user, time, line).

    Users come in the order of their first row; within a user, rows go by their time as a float64
    (an empty time counts as 0: a file without times keeps its line order) and rows with the same
    time keep the order of their lines. Up to ``chunk_rows`` rows are sorted in memory; a longer
    input is cut into sorted runs (temporary files in ``directory``, removed at the end) merged in
    one pass, so memory stays bounded by the chunk and the number of users.
    """
    first_seen: dict[bytes, int] = {}
    runs: list[tuple[np.ndarray | Path, list | Path]] = []
    line = 0
    with tempfile.TemporaryDirectory(dir=directory, prefix=".sort-") as spool:
        chunk: list[tuple[bytes, ...]] = []
        for batch in batches:
            chunk.extend(batch)
            if len(chunk) >= chunk_rows:
                runs.append(_sorted_run(chunk, first_seen, line, Path(spool) / f"run{len(runs)}"))
                line += len(chunk)
                chunk = []
        if chunk or not runs:
            runs.append(_sorted_run(chunk, first_seen, line, None if not runs else Path(spool) / f"run{len(runs)}"))
        if len(runs) == 1 and isinstance(runs[0][1], list):
            rows = runs[0][1]
            for start in range(0, len(rows), 4096):
                yield rows[start:start + 4096]
            return
        merged = heapq.merge(*(_read_run(keys, path) for keys, path in runs))
        while batch := [row for _, row in islice(merged, 4096)]:
            yield batch


def _sorted_run(rows: list[tuple[bytes, ...]], first_seen: dict[bytes, int], first_line: int,
                path: Path | None) -> tuple[np.ndarray | Path, list | Path]:
    """Sort ``rows`` by (user's first appearance, time, line); keep them in memory or write them to ``path``."""
    ranks = np.fromiter((first_seen.setdefault(row[0], len(first_seen)) for row in rows), np.int64, len(rows))
    times = np.fromiter((float(row[3]) if row[3] else 0.0 for row in rows), np.float64, len(rows))
    lines = np.arange(first_line, first_line + len(rows), dtype=np.int64)
    order = np.lexsort((lines, times, ranks))
    keys = np.rec.fromarrays([ranks[order], times[order], lines[order]], names="rank,time,line")
    ordered = [rows[k] for k in order.tolist()]
    if path is None:
        return keys, ordered
    with open(path, "wb") as f:
        f.write(b"".join(b"\t".join(row) + b"\n" for row in ordered))
    np.save(path.with_suffix(".keys.npy"), keys)
    return path.with_suffix(".keys.npy"), path


def _read_run(keys_path: Path, path: Path) -> Iterator[tuple[tuple, tuple[bytes, ...]]]:
    keys = np.load(keys_path, mmap_mode="r")
    with open(path, "rb") as f:
        for start in range(0, len(keys), 1 << 16):
            for key in keys[start:start + (1 << 16)].tolist():
                yield key, tuple(next(f).rstrip(b"\n").split(b"\t"))


def write_inter(
    files: AtomicFileSet,
    name: str,
    batches: Iterable[Batch],
    report: Report,
    min_user_inter: int = 0,
) -> tuple[set[bytes], set[bytes]]:
    """Stream ``batches`` (see :func:`batched`) into ``NAME.inter``, keeping users with
    >= ``min_user_inter`` rows.

    Rows are written in the order they come (the converters pass them through
    :func:`sorted_by_user_and_time`). Without a user threshold this
    is one pass. With one, pass 1 writes every row to a spool file beside the output and counts
    rows per user; pass 2 copies the lines of the kept users. Memory holds only the per-user
    counts and the set of item ids, never the rows; the disk needs room for the spool (about
    the size of the output) until the end. Returns the (user ids, item ids) written, UTF-8 encoded.
    """
    items: set[bytes] = set()
    first, second = itemgetter(0), itemgetter(1)
    user_counts: Counter = Counter()
    # no threshold: written straight into NAME.inter; with one, into a spool file first
    target = files.open(f"{name}.inter", INTER_FIELDS) if min_user_inter <= 1 else files.open(f".{name}.spool", None)
    target._f.flush()
    write = target._f.buffer.write
    n = 0
    for batch in batches:
        part = batch if isinstance(batch, TextBatch) else TextBatch.of(batch)
        write(part.text)
        for user, rows in part.user_runs:
            user_counts[user] += rows
            n += rows
        if min_user_inter <= 1:  # with a threshold the items are those of the kept users: pass 2 counts them
            items |= part.items  # a batch's own set first: ~2x fewer probes of the large one
    if min_user_inter <= 1:
        out = target
        out.rows = n
        users = set(user_counts)
    else:
        spool = target
        spool.close()
        out = files.open(f"{name}.inter", INTER_FIELDS)
        out._f.flush()
        raw = out._f.buffer  # bytes: the spool is already UTF-8 text in the final format
        kept = {u for u, c in user_counts.items() if c >= min_user_inter}
        n = 0
        total = sum(user_counts.values())
        rest = b""
        first_two = re.compile(rb"^([^\t\n]*)\t([^\t\n]*)", re.M)
        with open(spool.tmp, "rb") as f:
            while block := f.read(1 << 22):
                cut = block.rfind(b"\n") + 1
                block, rest = rest + block[:cut], block[cut:]
                pairs = first_two.findall(block)
                if kept.issuperset(map(first, pairs)):  # the common case: copy the block
                    keep = block
                    n += len(pairs)
                else:
                    lines = block.split(b"\n")[: len(pairs)]
                    pairs = [p for p in pairs if p[0] in kept]
                    kept_lines = [line for line in lines if line[: line.index(b"\t")] in kept]
                    keep = b"\n".join(kept_lines) + b"\n" if kept_lines else b""
                    n += len(kept_lines)
                raw.write(keep)
                items |= set(map(second, pairs))
        if rest:
            raise ConvertError(f"{spool.tmp}: spool file does not end with a line break")
        dropped = total - n
        spool.discard()
        out.rows = n
        if dropped:
            report.skip(f"user has fewer than {min_user_inter} interactions", dropped)
        users = kept
    report.written[f"{name}.inter"] = out.rows
    report.n_users = len(users)
    report.n_items = len(items)
    return users, items


def k_core(batches: Iterable[Batch], min_user_inter: int, min_item_inter: int, report: Report) -> Iterator[Batch]:
    """The rows of ``batches`` whose user has at least ``min_user_inter`` rows and whose item has at least
    ``min_item_inter``, counted among the rows kept, repeated until nothing changes (the papers' "5-core":
    removing an item can take a user below its threshold and back). Order is kept. The rows are held in
    memory (a few hundred bytes each): it is for the review datasets' sizes, not GoodReads'.
    """
    rows: list[tuple[bytes, ...]] = [row for batch in batches for row in batch]
    user_codes: dict[bytes, int] = {}
    item_codes: dict[bytes, int] = {}
    users = np.fromiter((user_codes.setdefault(row[0], len(user_codes)) for row in rows), np.int64, len(rows))
    items = np.fromiter((item_codes.setdefault(row[1], len(item_codes)) for row in rows), np.int64, len(rows))
    keep = np.ones(len(rows), dtype=bool)
    while True:
        user_count = np.bincount(users[keep], minlength=len(user_codes))
        item_count = np.bincount(items[keep], minlength=len(item_codes))
        now = keep & (user_count[users] >= min_user_inter) & (item_count[items] >= min_item_inter)
        if now.sum() == keep.sum():
            break
        keep = now
    dropped = len(rows) - int(keep.sum())
    if dropped:
        report.skip(f"k-core: user with fewer than {min_user_inter} or item with fewer than {min_item_inter} "
                    "interactions (repeated to a fixed point)", dropped)
    kept = [rows[k] for k in np.flatnonzero(keep).tolist()]
    for start in range(0, len(kept), 4096):
        yield kept[start:start + 4096]
