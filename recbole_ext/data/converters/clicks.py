"""Click logs of GRU4Rec's papers -> one ``.inter`` row per click, the session id as ``user_id``.

Both follow the official GRU4Rec preprocessing; the time-based test cut is not applied here but by
``split_protocol: session`` (:mod:`recbole_ext.data.sequence_dataset`), so the converted file holds every
click that survives the filters.

``rsc15``         ``yoochoose-clicks.dat`` of the RecSys Challenge 2015 (YooChoose; published via the
                  challenge, mirrored on Kaggle): ``session,time,item,category`` (no header, time
                  ``2014-04-07T10:51:09.277Z``). As ``examples/rsc15/preprocess.py`` of
                  github.com/hidasib/GRU4Rec: drop sessions of 1 click, then items with fewer than 5
                  clicks, then sessions left with fewer than 2 (one pass each, in that order). Times are
                  UTC seconds with milliseconds (the official script reads local time: "It does not
                  really matter").
``retailrocket``  ``events.csv`` of the Retailrocket recommender system dataset (Kaggle):
                  ``timestamp,visitorid,event,itemid,transactionid`` (header; ms times). As
                  ``retailrocket_preproc.py`` of github.com/hidasib/gru4rec_third_party_comparison:
                  events sorted by (visitor, time, item); a session ends where the visitor changes or
                  more than an hour passes (over every event); only ``view`` events are kept; a view of
                  the item the session viewed just before is dropped; then, until nothing changes,
                  sessions of 1 view and items with fewer than 5 views are dropped. Sessions are numbered
                  1, 2, ... in that order. The official test cut is the week before 2015-09-18 03:00 UTC
                  (the data's end): the ``gru4rec-official-retailrocket`` preset sets ``test_days: 7``.

There is no rating: ``rating`` is 1. The clicks are held in memory as arrays (about 24 bytes each).
"""

from __future__ import annotations

import datetime as _dt
from array import array
from pathlib import Path
from typing import Iterator

import numpy as np

from .atomic import Batch, ConvertError, Report
from .lines import iter_lines

_EPOCH = _dt.date(1970, 1, 1).toordinal()
HOUR_MS = 3600 * 1000  # retailrocket's session gap, in its milliseconds
MIN_ITEM_SUPPORT = 5


def _iso_millis(text: str, days: dict[str, int]) -> int:
    """``2014-04-07T10:51:09.277Z`` -> Unix milliseconds (UTC); ValueError when it is not such a time."""
    if len(text) == 24 and text[10] == "T" and text[-1] == "Z" and text[19] == ".":
        day = days.get(text[:10])
        if day is None:
            day = days[text[:10]] = (_dt.date.fromisoformat(text[:10]).toordinal() - _EPOCH) * 86_400_000
        return day + int(text[11:13]) * 3_600_000 + int(text[14:16]) * 60_000 + int(text[17:19]) * 1000 + int(text[20:23])
    moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return round(moment.timestamp() * 1000)


def _read(path: Path, report: Report, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(session or visitor, item, time in ms, is a view) of every good line, as arrays in file order."""
    if not path.is_file():
        raise ConvertError(f"{path}: no such file (give {'yoochoose-clicks.dat' if kind == 'rsc15' else 'events.csv'})")
    owners, items, times, views = array("q"), array("q"), array("q"), array("b")
    days: dict[str, int] = {}
    for lineno, line in iter_lines(path):
        report.lines_read += 1
        parts = line.decode("utf-8", "replace").split(",")
        if lineno == 1:
            expected = 4 if kind == "rsc15" else 5
            if kind == "retailrocket":
                if [p.strip() for p in parts] != ["timestamp", "visitorid", "event", "itemid", "transactionid"]:
                    raise ConvertError(f"{path}:1: expected the header timestamp,visitorid,event,itemid,transactionid "
                                       "of Retailrocket's events.csv: wrong file for this source?")
                continue
            if len(parts) != expected or not parts[0].strip().isdigit():
                raise ConvertError(f"{path}:1: expected session,time,item,category (yoochoose-clicks.dat), got "
                                   f"{line[:80].decode('utf-8', 'replace')!r}: wrong file for this source?")
        try:
            if kind == "rsc15":
                if len(parts) != 4:
                    raise IndexError(len(parts))
                owner, time, item, view = int(parts[0]), _iso_millis(parts[1].strip(), days), int(parts[2]), 1
            else:
                if len(parts) != 5:
                    raise IndexError(len(parts))
                time, owner, item, view = int(parts[0]), int(parts[1]), int(parts[3]), parts[2].strip() == "view"
        except IndexError as e:
            report.bad_line(path, lineno, "wrong number of fields", f"{e.args[0]} instead of {4 if kind == 'rsc15' else 5}")
            continue
        except ValueError:
            report.bad_line(path, lineno, "unparseable field", repr(line[:80].decode("utf-8", "replace")))
            continue
        owners.append(owner)
        items.append(item)
        times.append(time)
        views.append(view)
    return (np.frombuffer(owners, np.int64), np.frombuffer(items, np.int64), np.frombuffer(times, np.int64),
            np.frombuffer(views, np.int8).astype(bool))


def _counts_at(keys: np.ndarray) -> np.ndarray:
    """How many times each row's key occurs among ``keys``: [N]."""
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse]


def rsc15_rows(path: str | Path, report: Report) -> Iterator[Batch]:
    """The clicks the official RSC15 preprocessing keeps (module docstring), in file order."""
    sessions, items, times, _ = _read(Path(path), report, "rsc15")
    keep = _counts_at(sessions) > 1
    report.skip("session of 1 click (official preprocessing)", int((~keep).sum()))
    sessions, items, times = sessions[keep], items[keep], times[keep]
    keep = _counts_at(items) >= MIN_ITEM_SUPPORT
    report.skip(f"item with fewer than {MIN_ITEM_SUPPORT} clicks (official preprocessing)", int((~keep).sum()))
    sessions, items, times = sessions[keep], items[keep], times[keep]
    keep = _counts_at(sessions) >= 2
    report.skip("session left with fewer than 2 clicks (official preprocessing)", int((~keep).sum()))
    return _batches(sessions[keep], items[keep], times[keep])


def retailrocket_rows(path: str | Path, report: Report) -> Iterator[Batch]:
    """The views the official Retailrocket preprocessing keeps (module docstring), session by session."""
    visitors, items, times, views = _read(Path(path), report, "retailrocket")
    order = np.lexsort((items, times, visitors))
    visitors, items, times, views = visitors[order], items[order], times[order], views[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (times[1:] - times[:-1] > HOUR_MS) | (visitors[1:] != visitors[:-1])
    sessions = np.cumsum(starts)  # 1, 2, ...
    report.skip("not a view event", int((~views).sum()))
    sessions, items, times = sessions[views], items[views], times[views]
    repeat = np.zeros(len(sessions), dtype=bool)
    repeat[1:] = (sessions[1:] == sessions[:-1]) & (items[1:] == items[:-1])
    report.skip("view of the item the session viewed just before (official preprocessing)", int(repeat.sum()))
    sessions, items, times = sessions[~repeat], items[~repeat], times[~repeat]
    short = rare = 0
    while True:
        keep = _counts_at(sessions) > 1
        short += int((~keep).sum())
        sessions, items, times = sessions[keep], items[keep], times[keep]
        keep = _counts_at(items) >= MIN_ITEM_SUPPORT
        rare += int((~keep).sum())
        sessions, items, times = sessions[keep], items[keep], times[keep]
        if keep.all():
            break
    report.skip("session of 1 view (official preprocessing, repeated with the next filter)", short)
    report.skip(f"item with fewer than {MIN_ITEM_SUPPORT} views (official preprocessing, repeated)", rare)
    return _batches(sessions, items, times)


def _batches(owners: np.ndarray, items: np.ndarray, millis: np.ndarray, size: int = 65536) -> Iterator[Batch]:
    for start in range(0, len(owners), size):
        part = slice(start, start + size)
        seconds = [f"{t // 1000}.{t % 1000:03d}".encode() for t in millis[part].tolist()]
        yield [(str(o).encode(), str(i).encode(), b"1", s)
               for o, i, s in zip(owners[part].tolist(), items[part].tolist(), seconds)]
