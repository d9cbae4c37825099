"""python -m recbole_ext.evaluate: any library's lists scored against the exported split, as our runs score."""

from __future__ import annotations

import csv

import pytest

from recbole_ext import evaluate, run, split
from recbole_ext.recommend import phase_lists
from tests.helpers import FAST_SASREC, tiny_rows, write_inter


def write_rows(path, header, rows, delimiter="\t"):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("protocol", ["full_masked", "sampled_masked"])
def test_a_run_s_own_lists_give_exactly_its_result(protocol, tmp_path):
    write_inter(tmp_path / "data" / "tiny" / "tiny.inter", tiny_rows(n_users=30, n_items=40, per_user=12))
    settings = {**FAST_SASREC, "epochs": 2, "data_path": str(tmp_path / "data"), "ranking_protocol": protocol,
                "ranking_neg_num": 10}
    result = run("SASRecPaper", "tiny", overrides=settings, output_dir=tmp_path / "run")
    split_file = tmp_path / "split.tsv"
    assert split.main(["--dataset", "tiny", *[f"--{key}={value}" for key, value in settings.items()],
                       "--output", str(split_file)]) == 0
    for phase, expected in (("test", result["test_result"]), ("valid", result["best_valid_result"])):
        lists = phase_lists(tmp_path / "run", phase, k=20)
        recs = write_rows(tmp_path / f"{phase}.csv", ["user_id", "rank", "item_id", "score"],
                          [[r["user_id"], r["rank"], r["item_id"], r["score"]] for r in lists], delimiter=",")
        scored = evaluate.evaluate(split_file, recs, phase)
        assert scored["problems"] == [] and scored["sampled"] == (protocol == "sampled_masked")
        assert {key: scored["metrics"][key] for key in expected} == expected


def test_what_is_wrong_in_the_lists_is_one_line_per_kind(tmp_path):
    split_file = write_rows(tmp_path / "split.tsv", ["user_id", "phase", "item_id", "timestamp", "history_length"], [
        ["a", "valid", "x", "1", "1"], ["a", "test", "y", "2", "2"], ["b", "test", "z", "3", "1"],
        ["c", "test", "w", "4", "1"]])
    interactions = write_rows(tmp_path / "inter.tsv", ["user_id", "item_id", "timestamp", "position", "phase"], [
        ["a", "p", "0", "0", "train"], ["a", "x", "1", "1", "valid"], ["a", "y", "2", "2", "test"],
        ["b", "q", "0", "0", "train"], ["b", "z", "3", "1", "test"],
        ["c", "r", "0", "0", "train"], ["c", "w", "4", "1", "test"]])
    recs = write_rows(tmp_path / "recs.tsv", ["user_id", "item_id", "rank"], [
        ["a", "x", "1"], ["a", "y", "2"], ["a", "y", "3"],  # x seen before the target; y listed twice
        ["b", "z", "1"], ["b", "new", "2"],  # an item the dataset does not have
        ["d", "z", "1"]])  # d has no test target; c has no list
    scored = evaluate.evaluate(split_file, recs, "test", ks=(1, 2), interactions=interactions)
    assert scored["metrics"]["hit@1"] == round(1 / 3, 4) and scored["metrics"]["hit@2"] == round(2 / 3, 4)
    assert scored["metrics"]["ndcg@2"] == round((1 + 1 / 1.5849625007211563) / 3, 4)
    kinds = {line.split(":")[0]: line for line in scored["problems"]}
    assert kinds["users not in the split's phase (ignored)"].startswith("users not in the split's phase (ignored): 1 (d")
    assert "users of the phase without recommendations (scored as misses): 1 (c)" in scored["problems"]
    assert "lists with an item twice (later ones dropped): 1 (a)" in scored["problems"]
    assert "lists holding items the user saw before the target (not masked): 1 (a)" in scored["problems"]
    assert "unknown items (not in the dataset): 1 (b: new)" in scored["problems"]
    assert "lists shorter than 2 items: 1 (c" not in " ".join(scored["problems"])


def test_candidates_are_ranked_by_score_with_ties_to_the_target(tmp_path):
    split_file = write_rows(tmp_path / "split.tsv", ["user_id", "phase", "item_id", "timestamp", "history_length",
                                                     "negatives"], [["a", "test", "t", "1", "3", "n1 n2 n3"],
                                                                    ["b", "test", "t", "1", "3", "n1 n2 n3"]])
    recs = write_rows(tmp_path / "recs.tsv", ["user_id", "item_id", "score"], [
        ["a", "t", "0.5"], ["a", "n1", "0.9"], ["a", "n2", "0.5"], ["a", "n3", "0.1"],  # rank 2 (the tie is the target's)
        ["b", "t", "0.5"], ["b", "n1", "0.1"], ["b", "other", "9"]])  # rank 1; n2, n3 unscored; other ignored
    scored = evaluate.evaluate(split_file, recs, "test", ks=(1, 2))
    assert scored["metrics"]["hit@1"] == 0.5 and scored["metrics"]["mrr@2"] == 0.75
    assert "candidates without a score (ranked below all): 2 (b: n2)" in scored["problems"]
    assert "scored items that are not candidates (ignored): 1 (b: other)" in scored["problems"]


@pytest.mark.parametrize("rows, message", [
    ([["a", "t", "first"]], "rank 'first' is not a whole number >= 1"),
    ([["a", "t", "0"]], "rank '0' is not a whole number >= 1"),
])
def test_a_malformed_list_is_one_line_and_exit_status_2(tmp_path, capsys, rows, message):
    split_file = write_rows(tmp_path / "split.tsv", ["user_id", "phase", "item_id", "timestamp", "history_length"],
                            [["a", "test", "t", "1", "1"]])
    recs = write_rows(tmp_path / "recs.tsv", ["user_id", "item_id", "rank"], rows)
    assert evaluate.main(["--split", str(split_file), "--recommendations", str(recs)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    no_rank = write_rows(tmp_path / "bare.tsv", ["user_id", "item_id"], [["a", "t"]])
    assert evaluate.main(["--split", str(split_file), "--recommendations", str(no_rank)]) == 2
    assert "has no rank or score column" in capsys.readouterr().err


def test_a_session_split_names_each_target_by_its_history_length(tmp_path):
    """split_protocol session: several test targets per session; the lists carry history_length; a run's
    own lists scored by the evaluator give its test_result (Recall@20, MRR@20)."""
    from recbole_ext.convert import convert
    from tests.data.converters.test_clicks import write_rsc15

    convert("rsc15", write_rsc15(tmp_path / "clicks.dat", n_sessions=600), tmp_path / "data")
    settings = {"data_path": str(tmp_path / "data"), "epochs": 1, "show_progress": False, "state": "WARNING",
                "n_sample": 16, "train_batch_size": 64}
    result = run("GRU4RecPaper", "rsc15", ["gru4rec-official-rsc15"], overrides=settings, output_dir=tmp_path / "run")
    split_file = tmp_path / "split.tsv"
    assert split.main(["--dataset", "rsc15", "--model", "GRU4RecPaper", "--config_files", "gru4rec-official-rsc15",
                       *[f"--{key}={value}" for key, value in settings.items()], "--output", str(split_file)]) == 0
    lists = phase_lists(tmp_path / "run", "test", k=20)
    header = ["user_id", "history_length", "rank", "item_id"]
    recs = write_rows(tmp_path / "test.tsv", header, [[r[name] for name in header] for r in lists])
    scored = evaluate.evaluate(split_file, recs, "test", ks=(20,))
    assert scored["problems"] == [] and scored["targets"] > len({r["user_id"] for r in lists}) / 2
    assert {key: scored["metrics"][key] for key in result["test_result"]} == result["test_result"]
    bare = write_rows(tmp_path / "bare.tsv", ["user_id", "rank", "item_id"],
                      [[r["user_id"], r["rank"], r["item_id"]] for r in lists])
    with pytest.raises(Exception, match="need a history_length column"):
        evaluate.evaluate(split_file, bare, "test", ks=(20,))
