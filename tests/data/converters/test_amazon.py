"""Amazon converter on files written here in each published layout: exact rows, k-core against pandas."""

from __future__ import annotations

import gzip
import json
import random

import pandas as pd
import pytest

from recbole_ext.convert import convert
from recbole_ext.data.converters.atomic import ConvertError

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def read_inter(path) -> str:
    return path.read_text(encoding="utf-8")


def test_ratings_csv_rows_sorted_by_user_then_time(tmp_path):
    src = tmp_path / "ratings_Beauty.csv"
    src.write_text("A2,B1,5.0,1400000000\nA1,B2,3.0,1300000000\nA2,B3,4.0,1200000000\nA1,B1,1.0,1300000000\n")
    report = convert("amazon", src, tmp_path / "out")
    assert read_inter(tmp_path / "out" / "amazon" / "amazon.inter") == HEADER + (
        "A2\tB3\t4\t1200000000\nA2\tB1\t5\t1400000000\nA1\tB2\t3\t1300000000\nA1\tB1\t1\t1300000000\n")
    assert "Amazon layout detected: ratings" in report.summary()


@pytest.mark.parametrize("compress", [False, True])
def test_reviews_json_and_2023_jsonl(tmp_path, compress):
    reviews = [{"reviewerID": "U1", "asin": "I1", "overall": 5.0, "unixReviewTime": 1400000000, "reviewText": "a"},
               {"reviewerID": "U1", "asin": "I2", "overall": 4.0, "unixReviewTime": 1300000000}]
    text = "\n".join(json.dumps(r) for r in reviews) + "\n{broken\n" + '{"reviewerID": "U2"}\n'
    src = tmp_path / ("reviews_Beauty_5.json.gz" if compress else "reviews.json")
    src.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    report = convert("amazon", src, tmp_path / "out", name="beauty")
    assert read_inter(tmp_path / "out" / "beauty" / "beauty.inter") == HEADER + "U1\tI2\t4\t1300000000\nU1\tI1\t5\t1400000000\n"
    assert report.bad == {"malformed JSON": 1, "missing field": 1}
    new = tmp_path / "All_Beauty.jsonl"
    new.write_text(json.dumps({"rating": 5.0, "title": "t", "user_id": "AG", "parent_asin": "B0", "asin": "B9",
                               "timestamp": 1588687728923}) + "\n")
    convert("amazon", new, tmp_path / "out", name="beauty23")
    assert read_inter(tmp_path / "out" / "beauty23" / "beauty23.inter") == HEADER + "AG\tB0\t5\t1588687728.923\n"


def test_not_an_amazon_file_is_one_line(tmp_path):
    src = tmp_path / "x.json"
    src.write_text('{"user": 1}\n')
    with pytest.raises(ConvertError, match="is this an Amazon review file"):
        convert("amazon", src, tmp_path / "out")
    with pytest.raises(ConvertError, match="has no rating|no such file"):
        convert("amazon", tmp_path / "missing.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def pandas_k_core(frame: pd.DataFrame, k_user: int, k_item: int) -> pd.DataFrame:
    """The k-core as a reader would compute it, independently: filter both until nothing changes."""
    while True:
        users = frame.groupby("user").item.transform("size")
        items = frame.groupby("item").user.transform("size")
        kept = frame[(users >= k_user) & (items >= k_item)]
        if len(kept) == len(frame):
            return kept
        frame = kept


def test_k_core_matches_an_independent_pandas_computation(tmp_path):
    rng = random.Random(3)
    rows = [(f"u{int(rng.paretovariate(1.2)) % 60}", f"i{int(rng.paretovariate(1.1)) % 80}", 5, 1000 + k)
            for k in range(3000)]
    src = tmp_path / "ratings.csv"
    src.write_text("".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
    report = convert("amazon", src, tmp_path / "out", name="core", min_user_inter=5, min_item_inter=5)
    ours = pd.read_csv(tmp_path / "out" / "core" / "core.inter", sep="\t")
    expected = pandas_k_core(pd.DataFrame(rows, columns=["user", "item", "rating", "time"]), 5, 5)
    assert len(expected) < len(rows)  # the fixture needs more than one round to settle
    assert sorted(zip(ours["user_id:token"], ours["item_id:token"], ours["timestamp:float"])) == sorted(
        zip(expected.user, expected.item, expected.time.astype(float)))
    assert sum(report.skipped.values()) == len(rows) - len(expected)
    assert report.n_users == expected.user.nunique() and report.n_items == expected.item.nunique()
