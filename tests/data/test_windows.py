"""recbole_ext.data.windows: CaserPaper's sliding windows and their training loader."""

from __future__ import annotations

import pytest
import torch
from recbole_ext.loading import load_dataset, make_loaders

from recbole_ext import build_config
from recbole_ext.data.windows import WindowDataLoader, sliding_windows
from recbole_ext.data.sampling import csr_from_lists
from tests.helpers import tiny_rows

SMALL = {"embedding_size": 8, "nh": 3, "nv": 2, "MAX_ITEM_LIST_LENGTH": 4, "state": "WARNING"}


# --- windows ------------------------------------------------------------------------------------


def test_sliding_windows_exact():
    indptr, items = csr_from_lists([
        [1, 2, 3, 4, 5, 6, 7],  # 7 items: windows start at 0, 1, 2
        [8, 9, 10, 11],  # 4 < L + T: one short window
        [12, 13],  # 2 <= T: no window
        [14, 15, 16, 17, 18],  # exactly L + T: one full window
    ])
    rows, windows, lengths, targets = sliding_windows(indptr, items, window=3, n_targets=2)
    assert rows.tolist() == [0, 0, 0, 1, 3]
    assert windows.tolist() == [[1, 2, 3], [2, 3, 4], [3, 4, 5], [8, 9, 0], [14, 15, 16]]
    assert lengths.tolist() == [3, 3, 3, 2, 3]
    assert targets.tolist() == [[4, 5], [5, 6], [6, 7], [10, 11], [17, 18]]


def test_sliding_windows_one_target_and_errors():
    # d2l: L items then the next one; a 3-item user gives its first 2 items and the third.
    rows, windows, lengths, targets = sliding_windows(*csr_from_lists([[3, 4, 5]]), window=5, n_targets=1)
    assert (rows.tolist(), windows.tolist(), lengths.tolist(), targets.tolist()) == (
        [0], [[3, 4, 0, 0, 0]], [2], [[5]])
    with pytest.raises(ValueError, match="window and n_targets"):
        sliding_windows(*csr_from_lists([[1, 2]]), window=0, n_targets=1)


def test_sliding_windows_count_matches_formula():
    lengths = [1, 3, 6, 9, 30]
    rows, windows, window_lengths, targets = sliding_windows(
        *csr_from_lists([list(range(1, n + 1)) for n in lengths]), window=5, n_targets=3)
    assert torch.bincount(rows, minlength=5).tolist() == [0, 0, 1, 2, 23]
    full = torch.cat([windows, targets], dim=1)  # full windows: consecutive items
    full = full[window_lengths == 5]
    assert (full[:, 1:] == full[:, :-1] + 1).all()


def test_window_loader_on_tiny_dataset(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("CaserPaper", name, overrides={
        **SMALL, "data_path": str(data_path), "n_targets": 2, "train_batch_size": 32,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 3}})
    dataset = load_dataset(config)
    train_data, _, _ = make_loaders(config, dataset)
    loader = WindowDataLoader(config, train_data._dataset)
    expected, training_items = set(), {}
    by_user: dict[int, list[int]] = {}
    for user, item, _ in tiny_rows():
        by_user.setdefault(user, []).append(item)
    for user, items in by_user.items():
        uid = int(dataset.token2id(dataset.uid_field, f"u{user}"))
        ids = [int(i) for i in dataset.token2id(dataset.iid_field, [f"i{i}" for i in items[:10]])]  # 10 train
        training_items[uid] = set(ids)
        expected |= {(uid, tuple(ids[s:s + 4]), tuple(ids[s + 4:s + 6])) for s in range(5)}
    assert loader.sample_size == len(expected) == 150

    seen = []
    for batch in loader:
        users, negatives = batch["user_id"], batch["neg_item_id"]
        assert batch["item_id_list"].shape[1:] == (4,) and batch["item_id"].shape[1:] == (2,)
        assert negatives.shape == (len(users), 2, 3) and bool((batch["item_length"] == 4).all())
        for u, window, target, negs in zip(users.tolist(), batch["item_id_list"].tolist(),
                                           batch["item_id"].tolist(), negatives.tolist()):
            seen.append((u, tuple(window), tuple(target)))
            flat = {n for row in negs for n in row}
            assert 0 not in flat and not flat & training_items[u]  # never an item the user trained on
    assert len(seen) == 150 and set(seen) == expected
