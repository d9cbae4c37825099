"""recbole_ext.data.prefix_rows: RecBole's prefix rows for stock sequential models, cut per batch."""

from __future__ import annotations

from tests.data.test_sequence_dataset import as_tokens, config_for, recbole_samples

from recbole_ext.loading import load_dataset, make_loaders
from tests.helpers import tiny_rows, write_inter

def test_stock_loader_gives_recbole_prefix_rows_without_materialising_them(tmp_path):
    write_inter(tmp_path / "tiny" / "tiny.inter", tiny_rows())  # distinct times per user
    config = config_for(tmp_path, "tiny")
    dataset = load_dataset(config)
    train, valid, test = make_loaders(config, dataset)
    ours, batches = set(), 0
    for batch in train:
        batches += 1
        assert "item_id_list" in batch.interaction and "timestamp_list" in batch.interaction
        for user, hist, length, target in zip(batch["user_id"], batch["item_id_list"], batch["item_length"], batch["item_id"]):
            ours.add((as_tokens(dataset, "user_id", [user])[0], tuple(as_tokens(dataset, "item_id", hist[:length])),
                      as_tokens(dataset, "item_id", [target])[0]))
    assert len(train) == batches and train.sample_size == 30 * 9
    assert ours == recbole_samples(config)
    assert "item_id_list" not in dataset.inter_feat.interaction  # no prefix row held
