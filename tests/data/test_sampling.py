"""recbole_ext.data.sampling: negatives never excluded, exact popularity weights, reproducible draws."""

from __future__ import annotations

import pytest
import torch

from recbole_ext.data.sampling import (NegativeArgs, NegativeSampler, as_generator, csr_from_lists,
                                      popularity_weights)
from recbole_ext.errors import ConfigError

EXCLUDED = [[1, 2, 3], [5, 6, 7, 8, 9], [], [1, 2, 3, 4, 5, 6, 7, 8]]  # owner 3: only item 9 left


def test_uniform_negatives_avoid_excluded_items_and_padding():
    sampler = NegativeSampler(10, *csr_from_lists(EXCLUDED))
    owners = torch.tensor([0, 1, 2, 3] * 50)
    negatives = sampler.sample(owners, 7, as_generator(0))
    assert negatives.shape == (200, 7) and negatives.dtype == torch.long
    for owner, row in zip(owners.tolist(), negatives.tolist()):
        assert all(1 <= item <= 9 and item not in EXCLUDED[owner] for item in row)
    assert set(negatives[owners == 3].flatten().tolist()) == {9}
    assert set(negatives[owners == 2].flatten().tolist()) == set(range(1, 10))  # all allowed items occur


def test_slow_path_is_exact_when_redraws_run_out():
    sampler = NegativeSampler(10, *csr_from_lists(EXCLUDED), max_rounds=0)
    negatives = sampler.sample(torch.tensor([3, 3, 0]), 20, as_generator(1))
    assert negatives[:2].eq(9).all()
    assert not torch.isin(negatives[2], torch.tensor([0, 1, 2, 3])).any()


def test_is_excluded_matches_sets():
    sampler = NegativeSampler(10, *csr_from_lists(EXCLUDED))
    candidates = torch.tensor([[1, 4, 0], [5, 4, 9], [1, 4, 0], [8, 9, 2]])
    expected = torch.tensor([[True, False, True], [True, False, True], [False, False, True], [True, False, True]])
    assert torch.equal(sampler.is_excluded(torch.arange(4), candidates), expected)


def test_owner_without_any_allowed_item_is_an_error():
    with pytest.raises(ValueError, match="excluded every item"):
        NegativeSampler(4, *csr_from_lists([[1], [1, 2, 3]]))
    weights = torch.tensor([0.0, 1.0, 1.0, 0.0])  # item 3 can never be drawn
    with pytest.raises(ValueError, match="excluded every item"):
        NegativeSampler(4, *csr_from_lists([[1, 2]]), weights=weights)


def test_allowed_counts_and_exhaustion_read_the_keys_in_chunks(monkeypatch):
    """Per-owner sums over the excluded items are the same read KEY_CHUNK keys at a time (chunks of 2 here:
    owners split across chunks), with repeated items and padding in the lists."""
    import recbole_ext.data.sampling as sampling

    lists = [[1, 1, 2, 0], [5, 6, 7, 8, 9], [], [1, 2, 3, 4, 5, 6, 7, 8], [3]]
    weights = torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0])
    expected = [NegativeSampler(10, *csr_from_lists(lists), weights=w).allowed_counts(5) for w in (None, weights)]
    assert expected[0].tolist() == [7, 4, 9, 1, 8] and expected[1].tolist() == [6, 3, 8, 1, 8]
    monkeypatch.setattr(sampling, "KEY_CHUNK", 2)
    for w, counts in zip((None, weights), expected):
        assert torch.equal(NegativeSampler(10, *csr_from_lists(lists), weights=w).allowed_counts(5), counts)
    with pytest.raises(ValueError, match="excluded every item"):  # the check reads the keys in chunks too
        NegativeSampler(4, *csr_from_lists([[3], [1], [1, 2, 3]]))


def test_popularity_weights_are_count_to_the_alpha():
    items = torch.tensor([1, 1, 1, 1, 2, 3, 3, 0])
    torch.testing.assert_close(popularity_weights(items, 5, alpha=0.5),
                               torch.tensor([0.0, 2.0, 1.0, 2.0 ** 0.5, 0.0], dtype=torch.float64))
    assert torch.equal(popularity_weights(items, 5, alpha=0.0), torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64))


def test_popularity_sampler_follows_weights_and_exclusions():
    weights = torch.tensor([0.0, 8.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    sampler = NegativeSampler(5, *csr_from_lists([[], [1]]), weights=weights)
    draws = sampler.sample(torch.tensor([0, 1]), 20000, as_generator(2))
    counts = torch.bincount(draws[0], minlength=5)
    assert counts[0] == 0 and counts[4] == 0  # zero weight, padding
    assert 0.78 < counts[1] / 20000 < 0.82  # 8 / 10
    assert set(draws[1].tolist()) == {2, 3}  # item 1 excluded for owner 1
    assert abs(int((draws[1] == 2).sum()) - 10000) < 400


def test_same_generator_seed_same_negatives():
    sampler = NegativeSampler(50, *csr_from_lists([[1, 2], [3]]))
    first = sampler.sample(torch.tensor([0, 1]), 30, as_generator(7))
    assert torch.equal(first, sampler.sample(torch.tensor([0, 1]), 30, as_generator(7)))
    assert not torch.equal(first, sampler.sample(torch.tensor([0, 1]), 30, as_generator(8)))


def args(neg_sample_args):
    return NegativeArgs.of({"train_neg_sample_args": neg_sample_args})


def test_sampler_from_recbole_args():
    indptr, items = csr_from_lists([[1, 1, 2]])
    assert args({"distribution": "none", "sample_num": "none"}).sampler(5, indptr, items) is None
    uniform = args({"distribution": "uniform", "sample_num": 2}).sampler(5, indptr, items)
    assert uniform.weights is None
    popular = args({"distribution": "popularity", "sample_num": 2, "alpha": 1.0}).sampler(
        5, indptr, items, popularity_of=torch.tensor([1, 1, 2, 3, 3, 3]))
    assert torch.equal(popular.weights, torch.tensor([0.0, 2.0, 1.0, 3.0, 0.0], dtype=torch.float64))
    assert set(popular.sample(torch.tensor([0]), 50, as_generator(0)).flatten().tolist()) == {3}
    with pytest.raises(ConfigError, match="distribution='zipf' is not allowed"):
        args({"distribution": "zipf", "sample_num": 1})
