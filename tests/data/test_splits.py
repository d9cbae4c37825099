"""recbole_ext.data.splits: the global-time and session protocols against independent pandas computations."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch

from recbole_ext.data.splits import compute_split, parse_time, session_rows
from recbole_ext.data.user_sequences import UserSequences
from recbole_ext.errors import DataError

DEFAULTS = {"split_protocol": "global_time", "split_time": None, "split_quantile": [0.8, 0.9], "test_days": 1,
            "seed": 0, "holdout_user_num": None}


def sequences_of(frame: pd.DataFrame) -> UserSequences:
    """CSR rows of ``frame`` (user 1..U, item, time), sorted by (user, time, line) as the dataset sorts them."""
    frame = frame.sort_values(["user", "time"], kind="stable")
    lengths = frame.groupby("user").size().reindex(range(1, frame.user.max() + 1), fill_value=0).to_numpy().copy()
    indptr = torch.zeros(len(lengths) + 1, dtype=torch.long)
    indptr[1:] = torch.from_numpy(lengths).cumsum(0)
    return UserSequences(users=torch.arange(1, len(lengths) + 1), indptr=indptr,
                         items=torch.from_numpy(frame.item.to_numpy()), timestamps=torch.from_numpy(frame.time.to_numpy()))


def random_log(seed: int, n_users: int = 60, n_items: int = 25) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = [(u, rng.randrange(1, n_items), float(rng.randrange(0, 1000)))
            for u in range(1, n_users + 1) for _ in range(rng.randrange(1, 12))]
    return pd.DataFrame(rows, columns=["user", "item", "time"])


def expected_global(frame: pd.DataFrame, valid_cut: float, test_cut: float):
    """Per user, in time order: train before the validation cut; the first interaction in [valid, test) and
    the first at or after the test cut are targets when the user has an earlier interaction."""
    train, valid, test = {}, {}, {}
    for user, group in frame.sort_values(["user", "time"], kind="stable").groupby("user"):
        items, times = group.item.tolist(), group.time.tolist()
        train[user] = [i for i, t in zip(items, times) if t < valid_cut]
        for target, (lo, hi) in ((valid, (valid_cut, test_cut)), (test, (test_cut, np.inf))):
            after = [k for k, t in enumerate(times) if lo <= t < hi]
            if after and after[0] > 0 and (target is test or times[after[0]] < hi):
                target[user] = (items[after[0]], after[0])
    return train, valid, test


def observed(split, sequences):
    start = sequences.indptr[:-1]
    users = torch.repeat_interleave(sequences.users, sequences.lengths)
    train = sequences.items[torch.from_numpy(split.train_mask(sequences))]
    train_users = users[torch.from_numpy(split.train_mask(sequences))]
    trained = {int(u): train[train_users == u].tolist() for u in sequences.users}
    targets = []
    for positions in (split.valid_positions, split.test_positions):
        rows = sequences.rows_of(users[positions])
        targets.append({int(users[p]): (int(sequences.items[p]), int(p - start[r])) for p, r in zip(positions, rows)})
    return trained, *targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_global_time_with_quantiles_matches_an_independent_computation(seed):
    frame = random_log(seed)
    sequences = sequences_of(frame)
    split = compute_split(DEFAULTS, sequences)
    valid_cut, test_cut = np.quantile(frame.time, [0.8, 0.9], method="lower")
    train, valid, test = expected_global(frame, valid_cut, test_cut)
    got_train, got_valid, got_test = observed(split, sequences)
    assert {u: v for u, v in got_train.items() if v} == {u: v for u, v in train.items() if v}
    assert (got_valid, got_test) == (valid, test)
    assert len(valid) and len(test)


def test_global_time_with_dates():
    day = 86400.0
    frame = pd.DataFrame({"user": [1, 1, 1, 1, 2, 2, 3], "item": [1, 2, 3, 4, 5, 6, 7],
                          "time": [0, day, 2 * day, 3 * day, 2.5 * day, 3.5 * day, 0]})
    config = {**DEFAULTS, "split_time": ["1970-01-02T12:00:00", 2.8 * day]}
    split = compute_split(config, sequences_of(frame))
    assert split.train_length.tolist() == [2, 0, 1]  # user 2 has nothing before the validation cut
    assert split.valid_positions.tolist() == [2]  # user 1's item 3; user 2's first item has no history
    assert split.test_positions.tolist() == [3, 5]  # user 1's item 4, user 2's item 6 (history: item 5)
    assert parse_time("2003-01-01", "split_time") == 1041379200.0
    with pytest.raises(DataError, match="not a time"):
        compute_split({**DEFAULTS, "split_time": ["soon", "later"]}, sequences_of(frame))
    with pytest.raises(DataError, match="no test target.*move split_time"):
        compute_split({**DEFAULTS, "split_time": [day, 10 * day]}, sequences_of(frame))
    with pytest.raises(DataError, match="give two quantiles"):
        compute_split({**DEFAULTS, "split_quantile": [0.9]}, sequences_of(frame))


def official_session_split(frame: pd.DataFrame, days: float = 1):
    """GRU4Rec's time cut (examples/rsc15/preprocess.py, by session start as the 2023 scripts), with its
    validation carved the same way from the training part: (train, valid, test) frames."""
    tmax = frame.time.max()
    test_cut, valid_cut = tmax - days * 86400, tmax - 2 * days * 86400
    start = frame.groupby("user").time.transform("min")
    train_full = frame[frame.time < test_cut]
    test = frame[start >= test_cut]
    train = train_full[train_full.time < valid_cut]
    valid = train_full[(start[train_full.index] >= valid_cut)]
    out = []
    for part in (valid, test):
        part = part[part.item.isin(train.item)]
        length = part.groupby("user").item.transform("size")
        out.append(part[length >= 2])
    return train, *out


@pytest.mark.parametrize("seed", [0, 1])
def test_session_rows_and_targets_match_the_official_cut(seed):
    rng = random.Random(seed)
    rows = []
    for session in range(1, 400):
        t = rng.uniform(0, 6 * 86400)
        for _ in range(rng.choice([2, 3, 5])):
            t += rng.uniform(10, 4000)
            rows.append((session, rng.randrange(1, 40 if t < 5 * 86400 else 60), t))
    frame = pd.DataFrame(rows, columns=["user", "item", "time"])
    keep, cuts = session_rows(DEFAULTS | {"split_protocol": "session"}, frame.user.to_numpy(), frame.item.to_numpy(),
                              frame.time.to_numpy())
    train, valid, test = official_session_split(frame)
    kept = frame[keep]
    assert set(kept.index) == set(train.index) | set(valid.index) | set(test.index)
    sequences = sequences_of(kept.assign(user=kept.user))
    split = compute_split(DEFAULTS | {"split_protocol": "session"}, sequences, cuts)
    users = torch.repeat_interleave(sequences.users, sequences.lengths)
    for positions, part in ((split.valid_positions, valid), (split.test_positions, test)):
        targets = sorted(zip(users[positions].tolist(), sequences.items[positions].tolist()))
        expected = part.sort_values(["user", "time"]).groupby("user").apply(lambda s: list(s.item)[1:])
        assert targets == sorted((u, i) for u, items in expected.items() for i in items)
    assert int(split.train_length.sum()) == len(train[train.user.isin(kept.user)])
