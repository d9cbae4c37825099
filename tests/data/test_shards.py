"""recbole_ext.data.shards: each process builds its contiguous share of every batch; together, the whole batch."""

from __future__ import annotations

from recbole_ext import build_config
from recbole_ext.data.shards import Shard
from recbole_ext.loading import load_dataset, make_loaders
from tests.helpers import FAST_SASREC


def test_rank_shares_are_disjoint_contiguous_and_cover_the_batch():
    for n in (0, 1, 2, 7, 8):
        shares = [Shard(rank, 3).bounds(n) for rank in range(3)]
        assert shares[0][0] == 0 and shares[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
        assert max(b - a for a, b in shares) - min(b - a for a, b in shares) <= 1


def test_a_sharded_loader_builds_its_share_and_records_every_batch(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRecPaper", name, overrides={**FAST_SASREC, "data_path": str(data_path),
                                                          "ranking_protocol": "full_masked", "eval_batch_size": 7})
    dataset = load_dataset(config)
    whole = [len(batch[0]) for batch in make_loaders(config, dataset)[2]]
    built = []
    for rank in range(2):
        test = make_loaders(config, dataset, Shard(rank, 2))[2]
        built.append([len(batch[0]) for batch in test])
        assert [real for real, _ in test.shares] == [Shard(rank, 2).bounds(n)[1] - Shard(rank, 2).bounds(n)[0]
                                                     for n in whole]
    assert [a + b for a, b in zip(*built)] == whole
