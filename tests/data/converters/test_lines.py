"""Reading raw files as lines: plain and gzip alike, line numbers kept, a cut gzip stream refused."""

from __future__ import annotations

import gzip

import pytest

from recbole_ext.data.converters import lines
from recbole_ext.data.converters.atomic import ConvertError


@pytest.mark.parametrize("chunk", [1 << 21, 7])
def test_plain_and_gzip_give_the_same_numbered_lines(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(lines, "_CHUNK", chunk)
    text = b"a,1\r\n\nb,2\nlast without break"
    (tmp_path / "p.csv").write_bytes(text)
    (tmp_path / "g.csv").write_bytes(gzip.compress(text))
    expected = [(1, b"a,1"), (3, b"b,2"), (4, b"last without break")]
    assert list(lines.iter_lines(tmp_path / "p.csv")) == expected
    assert list(lines.iter_lines(tmp_path / "g.csv")) == expected


def test_truncated_gzip_names_the_last_good_line(tmp_path):
    data = gzip.compress(b"".join(b"line %d\n" % k for k in range(100_000)))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConvertError, match="truncated or corrupt after line"):
        list(lines.iter_lines(tmp_path / "cut.gz"))
