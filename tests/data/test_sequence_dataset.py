"""recbole_ext.data.sequence_dataset: exact time order, RecBole's samples without prefix rows, splits, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recbole.data.dataset import SequentialDataset

from recbole_ext import build_config
from recbole_ext.errors import DataError
from recbole_ext.loading import load_dataset, make_loaders
from tests.helpers import SHARED_DATA, tiny_rows, write_inter


def config_for(data_path, name, model="SASRec", **overrides):
    return build_config(model, name, overrides={"data_path": str(data_path), "state": "WARNING",
                                                "MAX_ITEM_LIST_LENGTH": 4, "train_batch_size": 7, **overrides})


def as_tokens(dataset, field, ids):
    return [str(t) for t in dataset.field2id_token[field][np.asarray(ids).reshape(-1)]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=st.lists(st.sampled_from([1_600_000_000, 1_600_000_001, 1_600_000_063, 1_600_000_064, 0.25, 0.5]),
                      min_size=3, max_size=12),
       users=st.lists(st.integers(0, 2), min_size=12, max_size=12))
def test_order_is_user_then_exact_time_then_line(times, users, tmp_path_factory):
    """Times that collide in float32 (1.6e9 + 1 vs + 63) or lie in [0, 1] keep their exact order."""
    root = tmp_path_factory.mktemp("order")
    rows = [(users[k], k, t) for k, t in enumerate(times)]
    write_inter(root / "o" / "o.inter", rows)
    dataset = load_dataset(config_for(root, "o"))
    got = {}
    for r in range(len(dataset.sequences)):
        user = as_tokens(dataset, "user_id", dataset.sequences.users[r : r + 1])[0]
        got[user] = as_tokens(dataset, "item_id", dataset.sequences.sequence(r))
    expected = {}
    for line, (user, item, time) in sorted(enumerate(rows), key=lambda x: (x[1][2], x[0])):
        expected.setdefault(f"u{user}", []).append(f"i{item}")
    assert got == expected


def recbole_samples(config):
    """(user, history, target) of every training prefix row RecBole's SequentialDataset builds."""
    dataset = SequentialDataset(config)
    train = dataset.build()[0].inter_feat
    out = set()
    for user, hist, length, target in zip(train["user_id"], train["item_id_list"], train["item_length"], train["item_id"]):
        out.add((as_tokens(dataset, "user_id", [user])[0], tuple(as_tokens(dataset, "item_id", hist[:length])),
                 as_tokens(dataset, "item_id", [target])[0]))
    return out


def test_user_holdout_tests_users_never_trained_on(tmp_path):
    write_inter(tmp_path / "tiny" / "tiny.inter", tiny_rows())
    config = config_for(tmp_path, "tiny", model="SASRecPaper", split_protocol="user_holdout", holdout_user_num=5)
    dataset = load_dataset(config)
    train, valid, test = make_loaders(config, dataset)
    test_users = set(test._dataset.inter_feat["user_id"].tolist())
    valid_users = set(valid._dataset.inter_feat["user_id"].tolist())
    assert len(test_users) == 5 and len(valid_users) == 25 and not test_users & valid_users
    trained = set(train.sequences.users[train.rows].tolist())
    assert trained == valid_users  # test users contribute nothing to training
    seqs, split = dataset.sequences, dataset.split
    training = split.train_sequences(seqs)  # every row's first train_length items, nothing else
    for row in range(len(seqs.users)):
        assert training.sequence(row) == seqs.sequence(row)[: int(split.train_length[row])]
    test_rows = set(seqs.rows_of(torch.tensor(sorted(test_users))).tolist())
    target_rows = torch.searchsorted(seqs.indptr, split.train_target_positions(seqs), right=True) - 1
    assert not set(target_rows.tolist()) & test_rows and set(target_rows.tolist()) == set(range(len(seqs.users))) - test_rows
    # the test target is each test user's last item; validation the last item of the others
    ends = dataset.sequences.indptr[1:] - 1
    assert set(test._dataset.target_positions.tolist()) | set(valid._dataset.target_positions.tolist()) == set(ends.tolist())
    again = make_loaders(config, load_dataset(config))[2]
    assert torch.equal(again._dataset.target_positions, test._dataset.target_positions)  # seeded
    with pytest.raises(DataError, match="holdout_user_num=30"):
        bad = config_for(tmp_path, "tiny", split_protocol="user_holdout", holdout_user_num=30)
        make_loaders(bad, load_dataset(bad))


def test_cache_is_used_and_rebuilt_when_the_file_changes(tmp_path):
    path = tmp_path / "c" / "c.inter"
    write_inter(path, tiny_rows())
    first = load_dataset(config_for(tmp_path, "c"))
    assert (tmp_path / "c" / "c.inter.cache" / "meta.json").is_file()
    second = load_dataset(config_for(tmp_path, "c"))
    assert torch.equal(first.sequences.items, second.sequences.items)
    write_inter(path, tiny_rows()[:-1] + [(29, 39, 10**9)])  # same size class, new content
    third = load_dataset(config_for(tmp_path, "c"))
    assert third.inter_num == first.inter_num and as_tokens(third, "item_id", third.sequences.items[-1:]) == ["i39"]


def test_missing_timestamp_is_refused_with_its_line(tmp_path):
    path = tmp_path / "m" / "m.inter"
    write_inter(path, tiny_rows())
    lines = path.read_text().splitlines()
    lines[5] = lines[5].rsplit("\t", 1)[0] + "\t"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"m.inter:6: timestamp missing"):
        load_dataset(config_for(tmp_path, "m", data_cache=False))


ML1M = SHARED_DATA / "ml-1m"


@pytest.mark.slow
@pytest.mark.skipif(not (ML1M / "ratings.dat").is_file(), reason=f"real ML-1M not found at {ML1M}")
def test_ml1m_leave_one_out_targets_match_an_independent_pandas_split(tmp_path):
    """The exported split (recbole_ext.split) of ML-1M, converted by our converter, against pandas on the
    raw ratings.dat: each user's test / validation target is the last / second-last by integer time,
    ties in the raw file's line order."""
    import pandas as pd

    from recbole_ext import split
    from recbole_ext.convert import convert

    raw = pd.read_csv(ML1M / "ratings.dat", sep="::", engine="python", header=None,
                      names=["user_id", "item_id", "rating", "time"], dtype=str, encoding="latin-1")
    raw["time"] = raw["time"].astype(np.int64)
    raw["line"] = np.arange(len(raw))
    raw = raw.sort_values(["user_id", "time", "line"], kind="stable")
    expected = {"test": raw.groupby("user_id").nth(-1), "valid": raw.groupby("user_id").nth(-2)}
    expected = {(row.user_id, phase): (row.item_id, str(row.time)) for phase, frame in expected.items()
                for row in frame.itertuples()}

    convert("ml-1m", ML1M, tmp_path, name="ml1m")
    out = tmp_path / "split.tsv"
    assert split.main(["--dataset", "ml1m", f"--data_path={tmp_path}", "--ranking_protocol=full_masked",
                       "--output", str(out)]) == 0
    exported = pd.read_csv(out, sep="\t", dtype=str)
    assert list(exported.columns) == ["user_id", "phase", "item_id", "timestamp", "history_length"]
    got = {(row.user_id, row.phase): (row.item_id, row.timestamp) for row in exported.itertuples()}
    assert len(got) == len(exported) == 2 * 6040
    assert sum(got[key] != expected[key] for key in expected) == 0
    lengths = raw.groupby("user_id").size()
    test_rows = exported[exported.phase == "test"].set_index("user_id")
    assert (test_rows["history_length"].astype(int) == lengths[test_rows.index] - 1).all()


def mapped_file(tensor):
    """The file whose mapping holds ``tensor``'s data (Linux /proc/self/maps), or None."""
    address = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end:
            return Path(rest[-1]) if len(rest) == 5 else None
    return None


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc to see the mappings")
def test_shared_files_give_the_same_dataset_with_its_arrays_mapped_from_disk(tmp_path):
    """What the first rank of a machine writes (to_shared_files), the others read back mapped, not copied;
    loaders built on either give the same batches."""
    write_inter(tmp_path / "s" / "s.inter", tiny_rows(n_users=9, per_user=7))
    config = config_for(tmp_path, "s")
    built = load_dataset(config)
    expected = {name: built.inter_feat[name].clone() for name in built.inter_feat.interaction}
    built.to_shared_files(tmp_path / "shared")
    shared = type(built).from_shared_files(tmp_path / "shared")
    for dataset in (built, shared):  # the writer maps its own arrays from the files too
        assert list(dataset.inter_feat.interaction) == list(expected)
        for name, column in expected.items():
            assert torch.equal(dataset.inter_feat[name], column)
            assert mapped_file(dataset.inter_feat[name]) == tmp_path / "shared" / f"column.{name}.npy"
        assert dataset.sequences.items.data_ptr() == dataset.inter_feat["item_id"].data_ptr()
        assert dataset.all_interactions is dataset.inter_feat
    assert torch.equal(shared.sequences.indptr, built.sequences.indptr)
    assert list(shared.field2id_token["item_id"]) == list(built.field2id_token["item_id"])
    batches = [[b["item_id_list"].tolist() + b["item_id"].tolist() for b in make_loaders(config, d)[0]]
               for d in (built, shared)]
    assert batches[0] == batches[1]
    shared.inter_feat["item_id"][0] = -5  # copy-on-write: the file and the other mapping keep their values
    assert int(built.inter_feat["item_id"][0]) == int(expected["item_id"][0])


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_file_in_user_and_time_order_is_kept_as_is_and_another_is_sorted(tmp_path, shuffled):
    """Both paths of the reorder (none needed / lexsort) give the same sequences, ties in line order."""
    rows = [(u, 10 * u + k, 1_600_000_000 + (k // 2)) for u in range(4) for k in range(6)]  # pairs of equal times
    if shuffled:  # user 0's last pair of equal times first (each pair keeps its line order)
        rows = rows[4:6] + rows[:4] + rows[6:]
    write_inter(tmp_path / "o" / "o.inter", rows)
    dataset = load_dataset(config_for(tmp_path, "o", data_cache=False))
    for r in range(len(dataset.sequences)):
        user = as_tokens(dataset, "user_id", dataset.sequences.users[r : r + 1])[0]
        assert as_tokens(dataset, "item_id", dataset.sequences.sequence(r)) == [f"i{10 * int(user[1:]) + k}" for k in range(6)]


def test_inter_file_parsed_in_many_blocks_gives_codes_in_first_appearance_order(tmp_path, monkeypatch):
    """Each block's own dictionary is mapped to the file's codes: tokens first seen in a later
    block get later codes, empty cells -1 / NaN, whatever the block size."""
    import pandas as pd

    from recbole_ext.data import inter_file

    rng = np.random.default_rng(0)
    users = [f"u{k}" for k in rng.integers(0, 30, 400)]
    items = [f"i{k}" if k else "" for k in rng.integers(0, 60, 400)]  # some empty item cells
    times = [f"{t}" if t % 17 else "" for t in range(400)]
    path = tmp_path / "b.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                    + "".join(f"{u}\t{i}\t{t}\n" for u, i, t in zip(users, items, times)))
    monkeypatch.setattr(inter_file, "BLOCK_BYTES", 256)  # about 20 rows a block
    got = inter_file.read_inter_columns(path, ["user_id", "item_id", "timestamp"], use_cache=False)
    assert got.n_rows == 400
    for name, cells in (("user_id", users), ("item_id", items)):
        present = [c for c in cells if c]
        vocabulary = list(dict.fromkeys(present))  # first appearance
        assert list(got.vocabularies[name]) == vocabulary
        assert got.codes[name].tolist() == [vocabulary.index(c) if c else -1 for c in cells]
    expected = pd.to_numeric(pd.Series(times), errors="coerce").to_numpy()
    np.testing.assert_array_equal(got.floats["timestamp"], expected)
