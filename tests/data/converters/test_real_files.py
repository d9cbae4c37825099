"""The real shared data (beside the repository: ../shared/data) converts and loads in RecBole.

Also holds :func:`load_dataset`, used by the other converter tests to load their fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recbole_ext.convert import convert

from tests.helpers import SHARED_DATA
ML100K = SHARED_DATA / "ml-100k"
GOODREADS_CSV = SHARED_DATA / "goodreads" / "goodreads_interactions.head200k.csv"


def load_dataset(data_path: Path, name: str, load_col: dict):
    """RecBole's ``create_dataset`` on ``data_path/name`` (our config, no k-core filters)."""
    from recbole.data import create_dataset

    overrides = {"data_path": str(data_path), "load_col": load_col, "state": "WARNING"}
    try:
        from recbole_ext.config import build_config
    except ImportError:  # the config module is optional for the converters
        import sys
        from unittest import mock

        from recbole.config import Config

        with mock.patch.object(sys, "argv", sys.argv[:1]):
            config = Config(model="BPR", dataset=name, config_dict=overrides)
    else:
        config = build_config("BPR", name, overrides=overrides)
    assert config["data_path"] == str(Path(data_path).resolve() / name)  # not a bundled copy
    return create_dataset(config)


@pytest.mark.skipif(not (ML100K / "u.data").is_file(), reason=f"real ML-100K not found at {ML100K}")
def test_real_ml100k_converts_and_loads(tmp_path):
    report = convert("ml-100k", ML100K, tmp_path)
    assert report.written == {"ml100k.inter": 100_000, "ml100k.item": 1_682, "ml100k.user": 943}
    assert (report.n_users, report.n_items, report.n_bad) == (943, 1_682, 0)
    item_text = (tmp_path / "ml100k" / "ml100k.item").read_text(encoding="utf-8")
    assert "\n1252\tContempt (Mépris, Le)\t1963\tDrama\n" in item_text
    ds = load_dataset(tmp_path, "ml100k", {
        "inter": ["user_id", "item_id", "rating", "timestamp"],
        "item": ["item_id", "movie_title", "release_year", "class"],
        "user": ["user_id", "age", "gender", "occupation", "zip_code"],
    })
    assert (ds.inter_num, ds.user_num - 1, ds.item_num - 1) == (100_000, 943, 1_682)


@pytest.mark.skipif(not GOODREADS_CSV.is_file(), reason=f"GoodReads sample not found at {GOODREADS_CSV}")
def test_real_goodreads_csv_sample_converts_and_loads(tmp_path):
    report = convert("goodreads", GOODREADS_CSV, tmp_path, min_user_inter=10)
    assert report.written == {"goodreads-interactions.inter": 199_996}
    assert report.skipped == {"user has fewer than 10 interactions": 4}
    assert (report.n_users, report.n_bad) == (437, 0)
    ds = load_dataset(tmp_path, "goodreads-interactions", {"inter": ["user_id", "item_id", "timestamp"]})
    assert (ds.inter_num, ds.user_num - 1, ds.item_num - 1) == (199_996, 437, report.n_items)
