"""GoodReads converter on tiny fixtures written here: each schema, each kind of bad line."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from recbole_ext.convert import convert
from recbole_ext.data.converters import goodreads, lines
from recbole_ext.data.converters.atomic import ConvertError, Report

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
SENTENCES = [[0, 'He wrote "rating": 1, "user_id": "x" in {braces}'], [1, "Second\tsentence."]]


def spoiler(user, book, day, rating=5, **extra):
    return {"user_id": user, "timestamp": day, "review_sentences": SENTENCES, "rating": rating,
            "has_spoiler": False, "book_id": book, "review_id": f"r-{user}-{book}", **extra}


def write_lines(path: Path, lines: list, gz: bool = False) -> Path:
    data = b"".join(
        (ln if isinstance(ln, bytes) else (ln if isinstance(ln, str) else json.dumps(ln)).encode()) + b"\n"
        for ln in lines
    )
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture(params=[None, 64, 700], ids=["2MiB", "64B", "700B"])
def chunk(request, monkeypatch):
    """Read size: the default (a tiny file is one chunk, read line by line until the shape is
    known), or small reads so that later chunks go through the whole-chunk findall path."""
    if request.param:
        monkeypatch.setattr(lines, "_CHUNK", request.param)
    return request.param


def inter(tmp_path: Path, name: str) -> str:
    return (tmp_path / "out" / name / f"{name}.inter").read_bytes().decode("utf-8")


def test_reviews_spoiler_gzip_exact_output(tmp_path, chunk):
    src = write_lines(tmp_path / "goodreads_reviews_spoiler.json.gz", [
        spoiler("u1", "b1", "2017-08-30"),
        spoiler("u1", "b2", "2017-08-30", rating=3),  # equal day: file order is kept
        spoiler("u2", "b1", "2016-01-02", rating=0),
    ], gz=True)
    report = convert("goodreads", src, tmp_path / "out")
    assert inter(tmp_path, "goodreads-reviews") == HEADER + (
        "u1\tb1\t5\t1504051200\n"
        "u1\tb2\t3\t1504051200\n"
        "u2\tb1\t0\t1451692800\n"
    )
    assert report.notes == ["GoodReads schema detected: reviews_spoiler"]
    assert (report.lines_read, report.n_users, report.n_items, report.n_bad) == (3, 2, 2, 0)


def dedup(user, book, added, read_at="Sat Oct 07 00:00:00 -0700 2017", rating=5):
    return {"user_id": user, "book_id": book, "review_id": "r", "rating": rating,
            "review_text": 'Mind "blowingly" cool', "date_added": added,
            "date_updated": "Mon Oct 09 08:55:59 -0700 2017", "read_at": read_at,
            "started_at": "", "n_votes": 16, "n_comments": 0}


def test_reviews_dedup_date_added_and_read_at(tmp_path, chunk):
    src = write_lines(tmp_path / "goodreads_reviews_dedup.json", [
        dedup("8842281e1d1347389f2ab93d60773d4d", "24375664", "Fri Aug 25 13:55:02 -0700 2017"),
        dedup("8842281e1d1347389f2ab93d60773d4d", "18245960", "Mon Dec 31 23:59:59 +0530 2012", read_at=""),
    ])
    convert("goodreads", src, tmp_path / "out")
    assert inter(tmp_path, "goodreads-reviews") == HEADER + (  # written in time order
        "8842281e1d1347389f2ab93d60773d4d\t18245960\t5\t1356978599\n"
        "8842281e1d1347389f2ab93d60773d4d\t24375664\t5\t1503694502\n"
    )
    report = convert("goodreads", src, tmp_path / "out", name="by-read-at", time_field="read_at")
    assert inter(tmp_path, "by-read-at") == HEADER + "8842281e1d1347389f2ab93d60773d4d\t24375664\t5\t1507359600\n"
    assert report.skipped == {"empty read_at": 1}


@pytest.mark.parametrize("text", [
    "Fri Aug 25 13:55:02 -0700 2017", "Mon Dec 31 23:59:59 +0530 2012",
    "Wed Feb 29 12:00:00 +0000 2012", "Thu Jan 01 00:00:00 +0000 1970",
])
def test_parse_date_added_matches_strptime(text):
    expected = int(dt.datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").timestamp())
    assert goodreads.parse_date_added(text) == expected


@pytest.mark.parametrize("text", ["Fri Aug 25 2017", "Fri Aug 32 13:55:02 -0700 2017",
                                  "Fri Foo 25 13:55:02 -0700 2017", "Fri Aug 25 25:55:02 -0700 2017",
                                  "Fri Aug 25 13:55:02 PDT 2017", "2017-08-30"])
def test_parse_date_added_rejects(text):
    with pytest.raises(ValueError):
        goodreads.parse_date_added(text)


def interaction(user, book, is_read, rating, read_at):
    return {"user_id": user, "book_id": book, "review_id": "r", "is_read": is_read, "rating": rating,
            "review_text_incomplete": "", "date_added": "Tue Aug 15 13:12:02 -0700 2017",
            "date_updated": "Tue Aug 15 13:12:02 -0700 2017", "read_at": read_at, "started_at": ""}


def test_interactions_json_read_only_and_rating_threshold(tmp_path, chunk):
    src = write_lines(tmp_path / "goodreads_interactions_dedup.json.gz", [
        interaction("u1", "b1", True, 4, "Sat Oct 07 00:00:00 -0700 2017"),
        interaction("u1", "b2", False, 0, ""),
        interaction("u1", "b3", True, 2, "Sun Oct 08 00:00:00 -0700 2017"),
        interaction("u2", "b1", True, 5, "Sun Oct 08 00:00:00 -0700 2017"),
        # compact JSON: not the shape of the first line, so read by json.loads (the general path)
        json.dumps(interaction("u3", "b1", False, 5, ""), separators=(",", ":")),
        json.dumps(interaction("u3", "b2", True, 1, ""), separators=(",", ":")),
        json.dumps(interaction("u3", "b3", True, 3, ""), separators=(",", ":")),
    ], gz=True)
    report = convert("goodreads", src, tmp_path / "out", read_only=True, min_rating=3, min_user_inter=1)
    assert inter(tmp_path, "goodreads-interactions") == HEADER + (
        "u1\tb1\t4\t1502827922\n"
        "u2\tb1\t5\t1502827922\n"
        "u3\tb3\t3\t1502827922\n"
    )
    assert report.skipped == {"not read (is_read false)": 2, "rating below 3": 2}
    assert report.notes == ["GoodReads schema detected: interactions"]


def test_interactions_csv_file_order_is_time(tmp_path):
    src = tmp_path / "goodreads_interactions.csv"
    src.write_text("user_id,book_id,is_read,rating,is_reviewed\n0,948,1,5,0\n0,947,0,0,0\n1,948,1,3,1\n")
    report = convert("goodreads", src, tmp_path / "out")
    assert inter(tmp_path, "goodreads-interactions") == HEADER + "0\t948\t5\t1\n0\t947\t0\t2\n1\t948\t3\t3\n"
    assert goodreads.CSV_NOTE in report.notes
    assert "note: goodreads_interactions.csv has no time: the timestamp column is the data row number" in (
        report.summary())
    convert("goodreads", src, tmp_path / "out", name="read", read_only=True)
    assert inter(tmp_path, "read") == HEADER + "0\t948\t5\t1\n1\t948\t3\t3\n"
    with pytest.raises(ConvertError, match="has no time field"):
        convert("goodreads", src, tmp_path / "out", time_field="date_added")


def test_min_user_inter_is_the_seed_filter(tmp_path, chunk):
    lines = [spoiler(f"u{u}", f"b{i}", f"2017-01-{i + 1:02d}") for u in range(1, 4) for i in range(u * 4)]
    src = write_lines(tmp_path / "s.json", lines[::-1])  # users interleaved in reverse order
    report = convert("goodreads", src, tmp_path / "out", name="k10", min_user_inter=10)
    text = inter(tmp_path, "k10")
    assert text.count("\nu3\t") == 12 and "u1\t" not in text and "u2\t" not in text
    assert text.startswith(HEADER + "u3\tb0\t5\t1483228800\n")  # time order (the file has them in reverse)
    assert report.skipped == {"user has fewer than 10 interactions": 12}
    assert (report.n_users, report.n_items) == (1, 12)
    assert sorted(p.name for p in (tmp_path / "out" / "k10").iterdir()) == ["k10.inter"]  # no spool left


def test_each_kind_of_bad_line(tmp_path, chunk):
    src = write_lines(tmp_path / "bad.json", [
        spoiler("u1", "b1", "2017-08-30"),
        '{"user_id": "u1", "timestamp": "2017-08-3',
        {"user_id": "u3", "review_sentences": [], "rating": 2, "book_id": "b9"},
        spoiler("u3", "b9", "30/08/2017"),
        "[1, 2]",
        spoiler("u4", "b1", "2017-08-30", rating="five"),
        "",
        spoiler("u5", "", "2017-08-30"),
        b"\xff\xfe not utf-8",
        spoiler("u1", "b2", "2017-08-31"),
    ])
    report = convert("goodreads", src, tmp_path / "out", name="bad")
    assert inter(tmp_path, "bad") == HEADER + "u1\tb1\t5\t1504051200\nu1\tb2\t5\t1504137600\n"
    assert report.summary().split("\n", 4)[4] == (
        "bad lines skipped 2: malformed JSON\n"
        "bad lines skipped 1: missing field\n"
        "bad lines skipped 1: unparseable timestamp\n"
        "bad lines skipped 1: not a JSON object\n"
        "bad lines skipped 1: bad rating\n"
        "bad lines skipped 1: bad user_id or book_id\n"
        "first bad lines:\n"
        f"  {src}:2: malformed JSON: Unterminated string starting at: line 1 column 32 (char 31)\n"
        f"  {src}:3: missing field: timestamp\n"
        f"  {src}:4: unparseable timestamp: '30/08/2017'\n"
        f"  {src}:5: not a JSON object: '[1, 2]'\n"
        f"  {src}:6: bad rating: 'five'\n"
        "note: GoodReads schema detected: reviews_spoiler"
    )
    assert report.n_bad == 7
    with pytest.raises(ConvertError, match=r"bad\.json:2: malformed JSON: Unterminated string"):
        convert("goodreads", src, tmp_path / "out", name="stop", on_error="stop")
    assert not (tmp_path / "out" / "stop").exists()


def test_file_level_problems_always_stop(tmp_path):
    empty = tmp_path / "empty.json.gz"
    empty.write_bytes(b"")
    with pytest.raises(ConvertError, match="empty.json.gz: file is empty"):
        convert("goodreads", empty, tmp_path / "out")
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(ConvertError, match="empty.json.gz: file is empty"):
        convert("goodreads", empty, tmp_path / "out")
    wrong = tmp_path / "u.data"
    wrong.write_text("196\t242\t3\t881250949\n")
    with pytest.raises(ConvertError, match=r"u\.data: no GoodReads record in the first 1 non-empty lines.*wrong file"):
        convert("goodreads", wrong, tmp_path / "out")
    with pytest.raises(ConvertError, match="no such file"):
        convert("goodreads", tmp_path / "missing.json", tmp_path / "out")
    src = write_lines(tmp_path / "r.json", [spoiler("u1", "b1", "2017-08-30")])
    with pytest.raises(ConvertError, match="time field 'read_at' is not in the reviews_spoiler schema"):
        convert("goodreads", src, tmp_path / "out", time_field="read_at")
    with pytest.raises(ConvertError, match="read_only needs is_read"):
        convert("goodreads", src, tmp_path / "out", read_only=True)
    with pytest.raises(ConvertError, match="no interaction left to write"):
        convert("goodreads", src, tmp_path / "out", min_user_inter=2)
    assert not (tmp_path / "out").exists()


def test_truncated_and_corrupt_gzip_write_nothing(tmp_path, chunk):
    text = "".join(json.dumps(spoiler(f"u{i % 50}", f"b{i}", "2017-08-30")) + "\n" for i in range(3000))
    data = gzip.compress(text.encode())
    truncated = tmp_path / "t.json.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConvertError, match=r"t\.json\.gz: compressed data is truncated or corrupt after line \d+"):
        convert("goodreads", truncated, tmp_path / "out")
    corrupt = tmp_path / "c.json.gz"
    corrupt.write_bytes(data[:-8] + bytes(8))  # wrong CRC and length
    with pytest.raises(ConvertError, match=r"c\.json\.gz: compressed data is truncated or corrupt after line \d+ \(CRC check failed"):
        convert("goodreads", corrupt, tmp_path / "out")
    assert not (tmp_path / "out").exists()


TRICKY = [
    # an id with an escaped quote, a blank inside and a unicode escape: only json.loads reads these
    '{"user_id": "a\\"b", "timestamp": "2017-08-30", "rating": 4, "book_id": "b c"}',
    '{"user_id": "\\u00e9t\\u00e9", "timestamp": "2017-08-30", "rating": 4, "book_id": "b1"}',
    # keys inside text, a nested object with the same keys, whitespace variants, key order
    '{"review_text": "\\"user_id\\": \\"fake\\"", "user_id": "u1", "timestamp": "2017-08-30", "rating": 4, "book_id": "b1"}',
    '{"meta": {"user_id": "inner", "rating": 1}, "user_id": "u2", "timestamp": "2017-08-30", "rating": 2, "book_id": "b2"}',
    '{"user_id":"u3","timestamp":"2017-08-30","rating":3,"book_id":"b3"}',
    '{"book_id": "b4", "rating": 1.5, "timestamp": "2017-08-30", "user_id": "u4"}',
    '{"user_id": "u5", "user_id": "u6", "timestamp": "2017-08-30", "rating": 5, "book_id": "b5"}',
    '{"user_id": 7, "timestamp": "2017-08-30", "rating": 5, "book_id": "b7", "x": [[0, "}"]]}',
    '{"user_id": "u8", "timestamp": "2017-08-30", "rating": 5, "book_id": "b8"}   ',
]


SHAPED = [  # the shape of the first line, with what the whole-chunk path must hand on or accept
    json.dumps(spoiler("\u00e9t\u00e9", "b1", "2017-08-30"), ensure_ascii=False),  # non-ASCII id
    json.dumps(spoiler("u9", "b 2", "2017-08-30")),  # blank in an id
    json.dumps(spoiler("u9", "b3", "2017-08-30")) + "\r",  # CRLF
    json.dumps(spoiler("u9", "b4", "2017-08-30", review_sentences=[[0, "Note: fine"]])),
    json.dumps(spoiler("u9", "b5", "2017-08-30", review_sentences=[[0, "Note : a colon after a blank"]])),
    json.dumps(spoiler("u9", "b6", "")),  # empty time
]


def test_fast_path_agrees_with_json_loads_on_tricky_lines(tmp_path, chunk):
    src = write_lines(tmp_path / "tricky.json", [spoiler("u0", "b0", "2017-08-30")] + TRICKY + SHAPED * 3)
    fast, strict = Report(), Report()
    rows_fast = list(goodreads.iter_rows(src, fast))
    rows_strict = list(goodreads.iter_rows(src, strict, strict_json=True))
    assert rows_fast == rows_strict
    assert [r[:3] for r in rows_fast] == [
        ("u0", "b0", "5"), ('"a""b"', "b c", "4"), ("été", "b1", "4"), ("u1", "b1", "4"),
        ("u2", "b2", "2"), ("u3", "b3", "3"), ("u4", "b4", "1.5"), ("u6", "b5", "5"),
        ("7", "b7", "5"), ("u8", "b8", "5"),
    ] + [("été", "b1", "5"), ("u9", "b 2", "5"), ("u9", "b3", "5"), ("u9", "b4", "5"), ("u9", "b5", "5")] * 3
    assert fast.n_bad == strict.n_bad == 0
    assert fast.skipped == strict.skipped == {"empty timestamp": 3}


def test_quoted_and_tabbed_ids_load_back_in_recbole(tmp_path):
    from tests.data.converters.test_real_files import load_dataset

    src = write_lines(tmp_path / "tricky.json", TRICKY[:2] + [spoiler("u9", "b1", "2017-08-31")])
    convert("goodreads", src, tmp_path / "data", name="tricky")
    ds = load_dataset(tmp_path / "data", "tricky", {"inter": ["user_id", "item_id", "timestamp"]})
    assert set(ds.field2id_token["user_id"][1:]) == {'a"b', "été", "u9"}
    assert set(ds.field2id_token["item_id"][1:]) == {"b c", "b1"}


@pytest.mark.parametrize("bad_id", ["b\\tc", "b\\nc", " b1", "b1 "])
def test_ids_with_the_separator_or_surrounding_blanks_are_counted_bad_lines(tmp_path, bad_id):
    # a tab or line break would be written as another id; blanks around one would merge it with b1
    lines = [json.dumps(spoiler("u1", "b1", "2017-08-30")),
             '{"user_id": "u2", "timestamp": "2017-08-30", "rating": 4, "book_id": "%s"}' % bad_id]
    src = write_lines(tmp_path / "ids.json", lines)
    for strict in (False, True):
        report = Report()
        rows = list(goodreads.iter_rows(src, report, strict_json=strict))
        assert [r[:2] for r in rows] == [("u1", "b1")]
        assert report.n_bad == 1 and f"{src}:2: bad user_id or book_id" in report.summary()


def test_a_csv_without_its_rating_column_is_one_clear_error(tmp_path):
    src = tmp_path / "goodreads_interactions.csv"
    src.write_text("user_id,book_id,is_read\n1,2,1\n")
    with pytest.raises(goodreads.ConvertError, match=r"has no rating column .* user_id,book_id,is_read,rating"):
        list(goodreads.iter_rows(src, Report()))


def test_a_folder_as_input_names_the_file_to_give(tmp_path):
    with pytest.raises(ConvertError, match=r"is a folder: --input takes the GoodReads file itself"):
        convert("goodreads", tmp_path, tmp_path / "out")


def test_interactions_csv_fast_path_gives_the_line_by_line_rows(tmp_path, monkeypatch):
    """Chunks of plain lines are read by one findall; a chunk with an odd line goes line by line: the same
    file either way, with the same report; a user who comes back later is sorted in by a second pass."""
    import random
    import re

    originals = goodreads._CSV_LINE, goodreads._CSV_LINE_READ
    rng = random.Random(5)
    body = [f"{u},{rng.randrange(900)},{rng.randrange(2)},{rng.randrange(6)},{rng.randrange(2)}\n"
            for u in range(300) for _ in range(rng.randrange(1, 9))]
    body[40] = "7, 12,1,5,0\n"  # a space: the line-by-line path (same row, stripped)
    body[90] = "x,1,1,5,0\n"  # bad: counted
    body[200] = "\n"
    src = tmp_path / "goodreads_interactions.csv"
    src.write_text("user_id,book_id,is_read,rating,is_reviewed\n" + "".join(body))
    monkeypatch.setattr(lines, "_CHUNK", 256)  # many chunks: most fast, a few line by line
    workers = goodreads._worker_count
    for kwargs in ({}, {"read_only": True, "min_rating": 3}):
        reports = {"workers": convert("goodreads", src, tmp_path / "workers", name="gr", **kwargs)}
        monkeypatch.setattr(goodreads, "_worker_count", lambda: 0)  # every chunk formatted here
        reports["here"] = convert("goodreads", src, tmp_path / "here", name="gr", **kwargs)
        monkeypatch.setattr(goodreads, "_CSV_LINE", re.compile(rb"(?!)"))  # never matches: every chunk slow
        monkeypatch.setattr(goodreads, "_CSV_LINE_READ", re.compile(rb"(?!)"))
        reports["slow"] = convert("goodreads", src, tmp_path / "slow", name="gr", **kwargs)
        monkeypatch.setattr(goodreads, "_CSV_LINE", originals[0])
        monkeypatch.setattr(goodreads, "_CSV_LINE_READ", originals[1])
        monkeypatch.setattr(goodreads, "_worker_count", workers)
        written = {way: (tmp_path / way / "gr" / "gr.inter").read_bytes() for way in reports}
        assert written["workers"] == written["here"] == written["slow"]
        summaries = {way: (r.bad, r.skipped, r.n_users, r.n_items, r.lines_read) for way, r in reports.items()}
        assert summaries["workers"] == summaries["here"] == summaries["slow"]
        assert reports["workers"].bad == {"bad user_id or book_id": 1}
    (tmp_path / "back.csv").write_text("user_id,book_id,is_read,rating,is_reviewed\n1,10,1,5,0\n2,11,1,4,0\n1,12,1,3,0\n")
    convert("goodreads", tmp_path / "back.csv", tmp_path / "back", name="gr")
    assert (tmp_path / "back" / "gr" / "gr.inter").read_text().splitlines()[1:] == [
        "1\t10\t5\t1", "1\t12\t3\t3", "2\t11\t4\t2"]  # user 1 came back: sorted (time = row number)
