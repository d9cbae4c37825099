"""recbole_ext.data.user_sequences: exact per-user sequences, the split, and one-row-per-user training batches."""

from __future__ import annotations

import pytest
import torch
from recbole.utils import init_seed

from recbole_ext import build_config
from recbole_ext.data.user_sequences import UserSequenceDataLoader, UserSequences, right_align
from recbole_ext.data.prefix_rows import PrefixRowDataLoader
from recbole_ext.loading import load_dataset, make_loaders
from tests.helpers import write_inter

# (user, item, time), written out of time order: the dataset sorts by time.
SEQUENCES = {
    1: [1, 2, 3, 4, 5, 6, 7],  # train 1-5, valid 6, test 7
    2: [3, 1, 5, 2, 3],  # a repeat: test item 3 was seen first
    3: [2, 4, 6],  # train 2 4, no valid row, test 6 (RecBole's leave-one-out of 2 prefix rows)
    4: [8, 9],  # one prefix row: train only
}
TRAIN = {1: [1, 2, 3, 4, 5], 2: [3, 1, 5], 3: [2, 4], 4: [8, 9]}
ROWS = [(u, i, 100 * u + t) for u, items in SEQUENCES.items() for t, i in enumerate(items)][::-1]


def prepared(tmp_path, model="SASRec", **overrides):
    """(config, dataset, train_data, valid_data, test_data) of the fixture, as a run builds them."""
    write_inter(tmp_path / "data" / "seq" / "seq.inter", ROWS)
    settings = {"data_path": str(tmp_path / "data"), "MAX_ITEM_LIST_LENGTH": 3, "state": "WARNING",
                "show_progress": False, "train_batch_size": 10, "eval_batch_size": 64, **overrides}
    config = build_config(model, "seq", overrides=settings)
    init_seed(config["seed"], config["reproducibility"])
    dataset = load_dataset(config)
    return (config, dataset, *make_loaders(config, dataset))


def tokens(dataset, field: str, ids) -> list[int]:
    """RecBole ids -> the fixture's integers (u3 -> 3, i5 -> 5, padding -> 0)."""
    names = dataset.field2id_token[field][torch.as_tensor(ids).reshape(-1).cpu().numpy()]
    return [0 if n == "[PAD]" else int(n[1:]) for n in names]


def by_user(dataset, sequences: UserSequences) -> dict[int, list[int]]:
    users = tokens(dataset, "user_id", sequences.users)
    return {u: tokens(dataset, "item_id", sequences.sequence(r)) for r, u in enumerate(users)}


def test_sequences_in_time_order_and_the_split(tmp_path):
    _, dataset, train, valid, test = prepared(tmp_path)
    whole = dataset.sequences
    assert by_user(dataset, whole) == SEQUENCES
    assert by_user(dataset, dataset.split.train_sequences(whole)) == TRAIN
    for loader in (valid, test):  # each view's target positions point at its rows' items
        view = loader._dataset
        assert torch.equal(whole.items[view.target_positions], view.inter_feat["item_id"])
    # The train view copies no rows: its targets are every training item but each user's first.
    assert len(train._dataset.inter_feat) == 0 and train._dataset.target_positions is None
    users = tokens(dataset, "user_id", whole.users)
    assert tokens(dataset, "item_id", whole.items[dataset.split.train_target_positions(whole)]) == [
        item for user in users for item in TRAIN[user][1:]]
    assert dataset.split.train_sequences(whole, with_times=False).timestamps is None
    first_user = tokens(dataset, "user_id", whole.users[:1])[0]
    assert whole.timestamps[: whole.lengths[0]].tolist() == [100 * first_user + t for t in range(len(SEQUENCES[first_user]))]
    assert whole.timestamps.dtype == torch.float64


def test_loader_gives_one_row_per_user_with_next_items(tmp_path):
    config, dataset, train, *_ = prepared(tmp_path, model="SASRecPaper")
    loader = train
    assert isinstance(loader, UserSequenceDataLoader) and len(loader) == 1
    loader.shuffle = False
    batch = loader.make_batch(torch.arange(loader.num_samples()))
    users = tokens(dataset, "user_id", batch["user_id"])
    rows = {u: i for i, u in enumerate(users)}
    assert sorted(users) == [1, 2, 3, 4]
    expected = {  # last L=3 inputs, next items, lengths
        1: ([2, 3, 4], [3, 4, 5], 3),
        2: ([3, 1, 0], [1, 5, 0], 2),
        3: ([2, 0, 0], [4, 0, 0], 1),
        4: ([8, 0, 0], [9, 0, 0], 1),
    }
    for user, (inputs, positives, length) in expected.items():
        r = rows[user]
        assert tokens(dataset, "item_id", batch["item_id_list"][r]) == inputs
        assert tokens(dataset, "item_id", batch["item_id"][r]) == positives
        assert int(batch["item_length"][r]) == length
    negatives = batch["neg_item_id"]
    assert negatives.shape == (4, 3, 1)
    for user, r in rows.items():
        for t in range(3):
            got = tokens(dataset, "item_id", negatives[r, t])
            if batch["item_id"][r, t] == 0:
                assert got == [0]
            else:
                assert got[0] != 0 and got[0] not in TRAIN[user]


def test_negatives_never_seen_over_many_draws_and_reproducible(tmp_path):
    args = {"distribution": "uniform", "sample_num": 5, "alpha": 1.0, "dynamic": False, "candidate_num": 0}
    config, dataset, train, *_ = prepared(tmp_path, model="SASRecPaper", train_neg_sample_args=args)
    loader = UserSequenceDataLoader(config, train._dataset)
    seen = {r: set(loader.sequences.sequence(r)) for r in range(len(loader.sequences))}
    draws = [loader.make_batch(torch.arange(4)) for _ in range(30)]
    for batch in draws:
        assert batch["neg_item_id"].shape == (4, 3, 5)
        rows = loader.sequences.rows_of(batch["user_id"])
        for r, negatives, positives in zip(rows.tolist(), batch["neg_item_id"], batch["item_id"]):
            real = negatives[positives != 0].flatten().tolist()
            assert real and not seen[r] & set(real) and 0 not in real
            assert negatives[positives == 0].eq(0).all()
    again = UserSequenceDataLoader(config, train._dataset)
    assert torch.equal(again.make_batch(torch.arange(4))["neg_item_id"], draws[0]["neg_item_id"])


def test_loss_free_loader_for_ce_and_no_swap_for_stock(tmp_path):
    config, _, train, *_ = prepared(tmp_path, model="SASRecPaper", loss_type="CE")
    batch = UserSequenceDataLoader(config, train._dataset).make_batch(torch.arange(2))
    assert "neg_item_id" not in batch.interaction
    _, _, stock_train, *_ = prepared(tmp_path)
    assert isinstance(stock_train, PrefixRowDataLoader)


@pytest.mark.parametrize("trailing", [(), (2,)])
def test_right_align(trailing):
    values = torch.tensor([[1, 2, 3, 0], [4, 0, 0, 0], [5, 6, 7, 8]])
    values = values.view(3, 4, *([1] * len(trailing))).expand(3, 4, *trailing)
    aligned = right_align(values, torch.tensor([3, 1, 4]))
    expected = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 4], [5, 6, 7, 8]])
    assert torch.equal(aligned, expected.view(3, 4, *([1] * len(trailing))).expand(3, 4, *trailing))


def test_right_align_counts_lengths_above_the_width_as_the_width():
    seqs = torch.tensor([[1, 2, 0, 0], [3, 4, 5, 6], [7, 0, 0, 0]])
    assert right_align(seqs, torch.tensor([2, 9, 1])).tolist() == [[0, 0, 1, 2], [3, 4, 5, 6], [0, 0, 0, 7]]
