"""The .inter cache is verified, never trusted: damaged arrays, in-place edits, read-only folders."""

from __future__ import annotations

import json
import logging
import os
import stat

import numpy as np
import pytest

from recbole_ext.errors import DataError
from recbole_ext.data import inter_file
from tests.helpers import tiny_rows, write_inter

NAMES = ["user_id", "item_id", "timestamp"]


def read(path):
    return inter_file.read_inter_columns(path, NAMES)


def same(a, b):
    assert a.n_rows == b.n_rows
    for name in ("user_id", "item_id"):
        assert a.codes[name].tolist() == b.codes[name].tolist()
        assert a.vocabularies[name].tolist() == b.vocabularies[name].tolist()
    np.testing.assert_array_equal(a.floats["timestamp"], b.floats["timestamp"])


@pytest.fixture
def cached(tmp_path):
    path = tmp_path / "c" / "c.inter"
    write_inter(path, tiny_rows())
    fresh = inter_file.read_inter_columns(path, NAMES, use_cache=False)
    read(path)  # writes the cache
    cache = path.with_name("c.inter.cache")
    assert (cache / "meta.json").is_file()
    return path, cache, fresh


def npy_payload(file):
    """Offset of the array data in an .npy file (after its header)."""
    with open(file, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        return f.tell()


@pytest.mark.parametrize("damage", ["zeroed part", "other bytes", "truncated"])
def test_a_damaged_array_is_found_and_the_cache_rebuilt(cached, caplog, damage):
    path, cache, fresh = cached
    codes = cache / "item_id.codes.npy"
    data = bytearray(codes.read_bytes())
    start = npy_payload(codes)
    if damage == "zeroed part":  # 33 distinct items became one, as a user saw it
        data[start: start + 4 * 60] = bytes(4 * 60)
    elif damage == "other bytes":
        data[start:] = os.urandom(len(data) - start)
    else:
        data = data[: start + 40]
    codes.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        got = read(path)
    same(got, fresh)
    lines = [r.getMessage() for r in caplog.records if "Rebuilding the cache" in r.getMessage()]
    assert len(lines) == 1 and str(cache) in lines[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        same(read(path), fresh)  # rebuilt: the next run uses it silently
    assert not caplog.records


def test_a_source_edited_in_place_with_the_same_size_and_time_is_noticed(cached, caplog):
    path, cache, _ = cached
    before = path.stat()
    text = path.read_text()
    lines = text.splitlines()
    lines[1], lines[2] = lines[2], lines[1]  # same bytes, other order
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    with caplog.at_level(logging.WARNING):
        got = read(path)
    assert any("edited in place" in r.getMessage() for r in caplog.records)
    same(got, inter_file.read_inter_columns(path, NAMES, use_cache=False))


def test_a_damaged_cache_in_a_read_only_folder_is_refused_with_the_folder_to_delete(cached):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    path, cache, _ = cached
    (cache / "timestamp.float.npy").write_bytes(b"\x93NUMPY garbage")
    cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
    path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(DataError, match=r"is damaged .* delete it \(rm -r"):
            read(path)
    finally:
        path.parent.chmod(stat.S_IRWXU)
        cache.chmod(stat.S_IRWXU)


def test_a_damaged_cache_that_cannot_be_rebuilt_is_refused(cached, monkeypatch):
    path, cache, _ = cached
    (cache / "timestamp.float.npy").write_bytes(b"\x93NUMPY garbage")

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(inter_file.shutil, "rmtree", lambda *a, **k: None)
    monkeypatch.setattr(inter_file.np, "save", read_only)
    with pytest.raises(DataError) as error:
        read(path)
    message = str(error.value)
    assert "\n" not in message and f"rm -r '{cache}'" in message and "Permission denied" in message


def test_codes_outside_the_vocabulary_are_refused_even_with_a_matching_checksum(cached, caplog):
    path, cache, fresh = cached
    codes_file = cache / "item_id.codes.npy"
    codes = np.load(codes_file)
    codes[3] = 10_000
    np.save(codes_file, codes)
    meta_file = cache / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["checksums"]["item_id.codes.npy"] = inter_file.checksum(codes)
    meta_file.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        same(read(path), fresh)
    assert any("outside its vocabulary" in r.getMessage() for r in caplog.records)
