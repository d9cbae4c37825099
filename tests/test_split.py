"""python -m recbole_ext.split: the split and its candidates as a TSV, loaded exactly as a run loads them."""

from __future__ import annotations

import csv

import pytest

from recbole_ext import split
from tests.helpers import tiny_rows, write_inter


@pytest.fixture
def data_path(tmp_path):
    write_inter(tmp_path / "data" / "tiny" / "tiny.inter", tiny_rows(n_users=30, n_items=40, per_user=12))
    return tmp_path / "data"


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_leave_one_out_rows_and_sampled_candidates(data_path, tmp_path, capsys):
    out = tmp_path / "split.tsv"
    assert split.main(["--dataset", "tiny", f"--data_path={data_path}", "--ranking_protocol=sampled_masked",
                       "--ranking_neg_num=7", "--output", str(out)]) == 0
    rows = read_tsv(out)
    assert list(rows[0]) == ["user_id", "phase", "item_id", "timestamp", "history_length", "negatives"]
    assert [r["phase"] for r in rows] == ["valid"] * 30 + ["test"] * 30
    history = {}
    for user, item, time in tiny_rows(n_users=30, n_items=40, per_user=12):
        history.setdefault(f"u{user}", []).append((f"i{item}", str(time)))
    for row in rows:
        seq = history[row["user_id"]]
        position = len(seq) - (2 if row["phase"] == "valid" else 1)
        assert (row["item_id"], row["timestamp"]) == seq[position] and int(row["history_length"]) == position
        negatives = row["negatives"].split(" ")
        seen = {item for item, _ in seq[:position]}
        assert len(set(negatives)) == 7 and not (set(negatives) & (seen | {row["item_id"]}))
    # the same candidates as a run draws: a second export is identical, another seed differs
    again = tmp_path / "again.tsv"
    split.main(["--dataset", "tiny", f"--data_path={data_path}", "--ranking_protocol=sampled_masked",
                "--ranking_neg_num=7", "--output", str(again)])
    assert again.read_text() == out.read_text()
    other = tmp_path / "other.tsv"
    split.main(["--dataset", "tiny", f"--data_path={data_path}", "--ranking_protocol=sampled_masked",
                "--ranking_neg_num=7", "--seed=7", "--output", str(other)])
    assert other.read_text() != out.read_text()


def test_user_holdout_test_users_have_no_validation_row(data_path, tmp_path):
    out = tmp_path / "split.tsv"
    assert split.main(["--dataset", "tiny", f"--data_path={data_path}", "--split_protocol=user_holdout",
                       "--holdout_user_num=5", "--ranking_protocol=full_masked", "--output", str(out)]) == 0
    rows = read_tsv(out)
    test_users = {r["user_id"] for r in rows if r["phase"] == "test"}
    valid_users = {r["user_id"] for r in rows if r["phase"] == "valid"}
    assert len(test_users) == 5 and len(valid_users) == 25 and not test_users & valid_users
    assert all(r["history_length"] == "11" for r in rows)  # every target is a user's last item


@pytest.mark.parametrize("args, expected", [
    (["--model", "BPR"], "is not a sequential model"),
    (["--output", "/proc/nowhere/x.tsv"], "--output '/proc/nowhere/x.tsv' cannot be written"),
    (["--ranking_neg_num=100", "--ranking_protocol=sampled_masked"], "set --ranking_neg_num="),
])
def test_mistakes_are_one_line(data_path, tmp_path, capsys, args, expected):
    base = ["--dataset", "tiny", f"--data_path={data_path}"]
    if "--output" not in args:
        base += ["--output", str(tmp_path / "x.tsv")]
    assert split.main([*base, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]


@pytest.mark.parametrize("protocol, expected", [
    ("leave_one_out", lambda n: ["train"] * (n - 2) + ["valid", "test"]),
    ("user_holdout", None),  # checked below: a test user's earlier items are history, never trained on
])
def test_interactions_in_their_exact_order_with_position_and_phase(data_path, tmp_path, protocol, expected):
    out, interactions = tmp_path / "split.tsv", tmp_path / "interactions.tsv"
    assert split.main(["--dataset", "tiny", f"--data_path={data_path}", f"--split_protocol={protocol}",
                       "--holdout_user_num=5", "--output", str(out), "--interactions", str(interactions)]) == 0
    rows = read_tsv(interactions)
    assert list(rows[0]) == ["user_id", "item_id", "timestamp", "position", "phase"] and len(rows) == 30 * 12
    history = {}
    for user, item, time in tiny_rows(n_users=30, n_items=40, per_user=12):
        history.setdefault(f"u{user}", []).append((f"i{item}", str(time)))
    by_user = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(row)
    targets = {(r["user_id"], r["phase"]): int(r["history_length"]) for r in read_tsv(out)}
    for user, mine in by_user.items():
        assert [int(r["position"]) for r in mine] == list(range(12))
        assert [(r["item_id"], r["timestamp"]) for r in mine] == history[user]
        phases = [r["phase"] for r in mine]
        if expected is not None:
            assert phases == expected(12)
        elif (user, "test") in targets:
            assert phases == ["history"] * 11 + ["test"]
        else:
            assert phases == ["train"] * 11 + ["valid"]
        for phase in ("valid", "test"):  # the split's history_length is the target's position
            if (user, phase) in targets:
                assert phases.index(phase) == targets[user, phase]
