"""Steam converter on a file written here in the published layout (Python-literal dicts, not JSON)."""

from __future__ import annotations

import gzip

import pytest

from recbole_ext.convert import convert
from recbole_ext.data.converters.atomic import ConvertError

LINES = (
    "{u'username': u'Chaos Syren', u'hours': 0.1, u'products': 41, u'product_id': u'725280', u'page_order': 0, "
    "u'date': u'2017-12-17', u'text': u'This would not be acceptable as an entertainment', u'early_access': False, "
    "u'page': 1}\n"
    "{u'username': u'Ach', u'product_id': u'328100', u'date': u'2017-10-16', u'text': u\"it's \\\"fun\\\"\"}\n"
    "{u'username': u'Chaos Syren', u'product_id': u'328100', u'date': u'2017-12-16', u'found_funny': 1}\n"
    "{u'username': u'x', u'product_id': u'1', u'date': u'yesterday'}\n"
    "__import__('os').system('echo never run')\n"
)


def test_literal_lines_exact_rows(tmp_path):
    src = tmp_path / "steam_reviews.json.gz"
    src.write_bytes(gzip.compress(LINES.encode()))
    report = convert("steam", src, tmp_path / "out")
    assert (tmp_path / "out" / "steam" / "steam.inter").read_text(encoding="utf-8") == (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "Chaos Syren\t328100\t1\t1513382400\n"  # 2017-12-16 00:00 UTC, before the 17th
        "Chaos Syren\t725280\t1\t1513468800\n"
        "Ach\t328100\t1\t1508112000\n"
    )
    assert report.bad == {"unparseable date": 1, "malformed line": 1}  # a call is not a literal: never run


def test_a_json_file_is_not_steam(tmp_path):
    src = tmp_path / "x.json"
    src.write_text('{"user": "a"}\n')
    with pytest.raises(ConvertError, match="steam_reviews.json.gz"):
        convert("steam", src, tmp_path / "out")
    with pytest.raises(ConvertError, match="steam has no rating"):
        convert("steam", src, tmp_path / "out", min_rating=1)
