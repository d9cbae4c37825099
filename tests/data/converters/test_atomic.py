"""The atomic-file writer: field escaping, reserved names, and no half file after a failure."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from recbole_ext.convert import DEFAULT_NAMES, check_name, convert, recbole_reserved_names
from recbole_ext.data.converters import goodreads
from recbole_ext.data.converters.atomic import AtomicFileSet, ConvertError, format_value


def test_format_value_never_breaks_a_row():
    assert format_value("a\tb\nc\r\nd") == "a b c  d"
    assert format_value('"Great Performances" Cats') == '"""Great Performances"" Cats"'
    assert format_value('x "y" z') == '"x ""y"" z"'
    assert format_value(5) == "5"


def test_default_names_are_not_special_to_recbole():
    reserved = recbole_reserved_names()
    assert {"ml-100k", "ml-1m", "goodreads", "yelp"} <= reserved
    defaults = {"ml100k", "ml1m", *set(goodreads.DEFAULT_NAMES.values())}
    assert DEFAULT_NAMES["ml-100k"] == "ml100k" and DEFAULT_NAMES["ml-1m"] == "ml1m"
    assert defaults.isdisjoint(reserved)
    for name in defaults:
        assert check_name(name) == name
    for bad in ("ml-100k", "GoodReads", "a/b", "", ".hidden"):
        with pytest.raises(ConvertError):
            check_name(bad)


def test_fileset_failure_keeps_old_files_and_leaves_no_temp(tmp_path):
    out = tmp_path / "ds"
    with AtomicFileSet(out) as files:
        files.open("ds.inter", [("user_id", "token")]).write_row(["old"])
    with pytest.raises(RuntimeError):
        with AtomicFileSet(out) as files:
            w = files.open("ds.inter", [("user_id", "token")])
            w.write_row(["new"])
            files.open("ds.item", [("item_id", "token")]).write_row(["i"])
            raise RuntimeError("disk full")
    assert sorted(p.name for p in out.iterdir()) == ["ds.inter"]
    assert (out / "ds.inter").read_text() == "user_id:token\nold\n"


def spoiler_lines(n_users: int, per_user: int) -> bytes:
    return "".join(
        json.dumps({"user_id": f"u{u}", "timestamp": "2017-08-30", "review_sentences": [[0, "t"]],
                    "rating": 4, "book_id": f"b{i}"}) + "\n"
        for i in range(per_user) for u in range(n_users)
    ).encode()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("min_user_inter", [0, 3])  # one pass, and two passes through a spool
def test_failed_rerun_leaves_earlier_output_untouched(tmp_path, min_user_inter):
    src = tmp_path / "reviews.json.gz"
    src.write_bytes(gzip.compress(spoiler_lines(5, 4)))
    convert("goodreads", src, tmp_path / "out", name="gr", min_user_inter=min_user_inter)
    before = snapshot(tmp_path / "out" / "gr")
    assert list(before) == ["gr.inter"] and before["gr.inter"].count(b"\n") == 21

    data = gzip.compress(spoiler_lines(200, 50))
    src.write_bytes(data[: len(data) * 3 // 4])  # truncated: fails after thousands of rows
    with pytest.raises(ConvertError, match="truncated or corrupt"):
        convert("goodreads", src, tmp_path / "out", name="gr", min_user_inter=min_user_inter)
    assert snapshot(tmp_path / "out" / "gr") == before


def test_interrupted_run_leaves_earlier_output_untouched(tmp_path, monkeypatch):
    src = tmp_path / "reviews.json"
    src.write_bytes(spoiler_lines(5, 4))
    convert("goodreads", src, tmp_path / "out", name="gr")
    before = snapshot(tmp_path / "out" / "gr")

    real = goodreads.iter_chunks

    def interrupt_at_tenth_line(path, progress=False):
        for before, n, chunk in real(path, progress):
            lines = chunk.splitlines(keepends=True)
            yield before, 9, b"".join(lines[:9])  # nine lines are read, then Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(goodreads, "iter_chunks", interrupt_at_tenth_line)
    with pytest.raises(KeyboardInterrupt):
        convert("goodreads", src, tmp_path / "out", name="gr", min_user_inter=2)
    assert snapshot(tmp_path / "out" / "gr") == before
    with pytest.raises(KeyboardInterrupt):
        convert("goodreads", src, tmp_path / "new" / "deeper", name="gr")
    assert not (tmp_path / "new").exists()  # folders made by the failed run are removed


@pytest.mark.parametrize("chunk_rows", [10**6, 777, 1])  # in memory, merged runs, one row a run
def test_rows_are_sorted_by_user_time_and_line(tmp_path, chunk_rows):
    """Users in order of first appearance, then float time, ties in line order; temporaries removed."""
    import random

    from recbole_ext.data.converters.atomic import sorted_by_user_and_time

    rng = random.Random(0)
    rows = [(f"u{rng.randrange(50)}".encode(), f"i{k}".encode(), b"1", str(rng.randrange(100) / 4).encode())
            for k in range(5000)]
    rows[7] = (rows[7][0], rows[7][1], b"1", b"")  # no time: counts as 0
    first = {}
    for row in rows:
        first.setdefault(row[0], len(first))
    expected = sorted(rows, key=lambda r: (first[r[0]], float(r[3] or 0)))  # sorted() is stable: line order
    batches = [rows[i:i + 100] for i in range(0, len(rows), 100)]
    got = [row for batch in sorted_by_user_and_time(batches, tmp_path, chunk_rows) for row in batch]
    assert got == expected
    assert list(tmp_path.iterdir()) == []
