"""recbole_ext.protocols: masked full ranking and sampled negatives never rank a seen item."""

from __future__ import annotations

import pytest
import torch
from recbole.model.sequential_recommender.sasrec import SASRec
from recbole.data.interaction import Interaction

from recbole_ext.errors import ConfigError
from recbole_ext.protocols import (CandidateEvalDataLoader, MaskedFullSortEvalDataLoader, describe, ranks_in_item_chunks)
from recbole_ext.training.trainers import trainer_class_for
from tests.data.test_user_sequences import SEQUENCES, prepared, tokens

# Items seen before each evaluation target, per user (the target itself is never masked).
VALID_SEEN = {1: {1, 2, 3, 4, 5}, 2: {3, 1, 5}}  # targets 6 and 2; user 3 and 4 have no valid row
TEST_SEEN = {1: {1, 2, 3, 4, 5, 6}, 2: {3, 1, 5, 2}, 3: {2, 4}}  # targets 7, 3 (seen before), 6


def loaders(tmp_path, protocol, **overrides):
    return prepared(tmp_path, ranking_protocol=protocol, **overrides)


def fake_trainer(config, train, tmp_path, scores_of):
    """The run's trainer (RecBole's, ranking our loaders' batches) around a model whose scores come from
    ``scores_of(interaction)``."""
    config["checkpoint_dir"] = str(tmp_path / "ckpt")
    model = SASRec(config, train._dataset)
    model.full_sort_predict = scores_of
    model.predict = lambda interaction: scores_of(interaction).gather(1, interaction["item_id"].unsqueeze(1)).squeeze(1)
    trainer = trainer_class_for(config)(config, model)
    trainer.tot_item_num = train._dataset.item_num
    return trainer


def seen_first_scores(dataset):
    """Scores that put every item of the user's whole sequence above all others."""
    def scores_of(interaction):
        scores = torch.rand(len(interaction), dataset.item_num)
        for row, user in enumerate(tokens(dataset, "user_id", interaction["user_id"])):
            ids = [dataset.token2id("item_id", f"i{i}") for i in SEQUENCES[user]]
            scores[row, ids] += 100.0
        return scores
    return scores_of


@pytest.mark.parametrize("phase, seen", [("valid", VALID_SEEN), ("test", TEST_SEEN)])
def test_full_masked_masks_exactly_the_items_seen_before_the_target(tmp_path, phase, seen):
    _, dataset, _, valid, test = loaders(tmp_path, "full_masked")
    loader = valid if phase == "valid" else test
    assert isinstance(loader, MaskedFullSortEvalDataLoader)
    interaction, (rows, items), positive_u, positive_i = loader.collate_fn(list(range(len(loader._dataset))))
    users = tokens(dataset, "user_id", interaction["user_id"])
    masked = {u: set() for u in users}
    for row, item in zip(rows.tolist(), tokens(dataset, "item_id", items)):
        masked[users[row]].add(item)
    targets = dict(zip(users, tokens(dataset, "item_id", positive_i)))
    assert masked == {u: seen[u] - {targets[u]} for u in users}
    assert torch.equal(positive_u, torch.arange(len(users)))


def test_masked_full_ranking_never_ranks_a_seen_item(tmp_path):
    config, dataset, train, valid, test = loaders(tmp_path, "full_masked")
    trainer = fake_trainer(config, train, tmp_path, seen_first_scores(dataset))
    for loader, seen in ((valid, VALID_SEEN), (test, TEST_SEEN)):
        for batch in loader:
            interaction, scores, _, positive_i = trainer._full_sort_batch_eval(batch)
            top = scores.topk(3, dim=1).indices
            users = tokens(dataset, "user_id", interaction["user_id"])
            targets = tokens(dataset, "item_id", positive_i)
            for user, target, ranked in zip(users, targets, top):
                assert not (set(tokens(dataset, "item_id", ranked)) & (seen[user] - {target}))
    # The same scores under RecBole's own full ranking do put seen items on top.
    config, dataset, train, _, recbole_test = loaders(tmp_path / "r", "recbole")
    trainer = fake_trainer(config, train, tmp_path / "r", seen_first_scores(dataset))
    interaction, scores, _, _ = trainer._full_sort_batch_eval(next(iter(recbole_test)))
    user = tokens(dataset, "user_id", interaction["user_id"][:1])[0]
    assert set(tokens(dataset, "item_id", scores[0].topk(2).indices)) <= set(SEQUENCES[user])


def test_sampled_masked_candidates_are_the_target_and_unseen_items(tmp_path):
    config, dataset, train, valid, test = loaders(tmp_path, "sampled_masked", ranking_neg_num=2)
    trainer = fake_trainer(config, train, tmp_path, seen_first_scores(dataset))
    for loader, seen in ((valid, VALID_SEEN), (test, TEST_SEEN)):
        assert isinstance(loader, CandidateEvalDataLoader) and loader.negatives.shape == (len(seen), 2)
        for batch in loader:
            interaction, scores, positive_u, positive_i = trainer._full_sort_batch_eval(batch)
            users = tokens(dataset, "user_id", interaction["user_id"])
            for row, user in enumerate(users):
                target = tokens(dataset, "item_id", positive_i[row : row + 1])[0]
                finite = set(tokens(dataset, "item_id", torch.isfinite(scores[row]).nonzero().flatten()))
                assert target in finite and not finite & (seen[user] - {target}) and 0 not in finite
                assert len(finite) == 3  # the target and exactly 2 distinct negatives
                negatives = set(tokens(dataset, "item_id", loader.negatives[row]))
                assert negatives == finite - {target} and target not in negatives


def repeated_candidate_scores(trainer, loader, index):
    """What RecBole's sampled path computed: each row repeated 1 + n times, one ``predict`` per copy."""
    interaction, _, _, positive_i = loader.collate_fn(index)
    candidates = loader.candidates(torch.as_tensor(index))  # [b, 1 + n]
    repeated = interaction.repeat_interleave(candidates.shape[1])
    repeated.update(Interaction({"item_id": candidates.flatten()}))
    scores = trainer.model.predict(repeated.to(trainer.device)).view(candidates.shape)
    return candidates, scores


def test_sampled_masked_encodes_once_and_matches_per_candidate_scoring(tmp_path):
    """One full_sort_predict per row gives each candidate the score RecBole's repeated rows gave,
    and so the same metrics, with 1/(1 + n) of the encoder calls."""
    config, dataset, train, valid, test = loaders(tmp_path, "sampled_masked", ranking_neg_num=2)
    config["checkpoint_dir"] = str(tmp_path / "ckpt")
    torch.manual_seed(0)
    model = SASRec(config, train._dataset).to(config["device"])
    model.eval()
    calls = []
    model.forward = counting(model.forward, calls)
    trainer = trainer_class_for(config)(config, model)
    trainer.tot_item_num = dataset.item_num
    index = list(range(len(test._dataset)))
    with torch.no_grad():
        _, scores, _, positive_i = trainer._full_sort_batch_eval(test.collate_fn(index))
        rows_encoded = sum(calls)
        candidates, expected = repeated_candidate_scores(trainer, test, index)
    assert rows_encoded == len(index)  # each history once, not once per candidate
    torch.testing.assert_close(scores.gather(1, candidates.to(scores.device)), expected)
    masked = torch.ones_like(scores, dtype=torch.bool).scatter_(1, candidates.to(scores.device), False)
    assert torch.isinf(scores[masked]).all()


def counting(forward, calls):
    def wrapped(item_seq, item_seq_len):
        calls.append(len(item_seq))
        return forward(item_seq, item_seq_len)
    return wrapped


def test_sampled_negatives_fixed_per_seed(tmp_path):
    *_, first = loaders(tmp_path / "a", "sampled_masked", ranking_neg_num=2)
    *_, second = loaders(tmp_path / "b", "sampled_masked", ranking_neg_num=2)
    *_, other = loaders(tmp_path / "c", "sampled_masked", ranking_neg_num=2, seed=5)
    assert first.negatives.shape == (3, 2)
    assert torch.equal(first.negatives, second.negatives) and not torch.equal(first.negatives, other.negatives)


def test_sampled_masked_refuses_more_negatives_than_unseen_items(tmp_path):
    # 9 items; user 1's test target has 6 items seen before it: 2 are left to draw.
    with pytest.raises(ConfigError, match=r"ranking_neg_num=3: .* set --ranking_neg_num=2 or less"):
        loaders(tmp_path, "sampled_masked", ranking_neg_num=3)


def test_sampled_masked_draws_exactly_100_distinct_negatives_on_ml100k():
    from recbole_ext import build_config
    from recbole_ext.loading import load_dataset, make_loaders

    config = build_config("SASRecPaper", "ml-100k", overrides={"ranking_protocol": "sampled_masked", "state": "WARNING"})
    _, valid, test = make_loaders(config, load_dataset(config))
    for loader in (valid, test):
        negatives = loader.negatives  # [943, 100]
        assert negatives.shape == (943, 100)
        distinct = torch.sort(negatives, dim=1).values
        assert bool((distinct[:, 1:] != distinct[:, :-1]).all())  # 100 distinct per target
        assert not bool((negatives == loader.prefix.target.unsqueeze(1)).any())


def test_protocol_is_described_and_validated(tmp_path):
    config, *_ = loaders(tmp_path, "full_masked")
    assert describe(config) == "leave-one-out, full ranking, items seen before the target masked"
    config["ranking_protocol"], config["ranking_neg_num"] = "sampled_masked", 100
    assert describe(config) == "leave-one-out, target vs 100 distinct uniform negatives never seen before the target"
    config["ranking_protocol"] = "recbole"
    assert describe(config) == "leave-one-out, full ranking (RecBole: seen items not masked)"
    with pytest.raises(ConfigError, match="ranking_protocol='masked' is not allowed for SASRec: ranking_protocol takes one of recbole"):
        loaders(tmp_path / "bad", "masked")


def test_full_ranking_rows_per_batch_respect_the_score_matrix_budget(tmp_path):
    """A model that only scores every item at once (stock SASRec: full_sort_predict): [rows x items]
    float32 scores stay under max_score_matrix_mb because rows give way; metrics do not change."""
    from recbole_ext import run
    from tests.helpers import FAST_SASREC, tiny_rows, write_inter

    write_inter(tmp_path / "data" / "tiny" / "tiny.inter", tiny_rows(n_users=30, n_items=40, per_user=12))
    common = {**FAST_SASREC, "data_path": str(tmp_path / "data"), "ranking_protocol": "full_masked",
              "eval_batch_size": 256, "loss_type": "CE"}
    whole = run("SASRec", "tiny", overrides=common, output_dir=tmp_path / "whole")
    from recbole_ext.config import build_config
    from recbole_ext.loading import load_dataset, make_loaders
    budget = {**common, "max_score_matrix_mb": 0.001}  # 1,048 bytes: 6 rows of 41 float32 scores
    config = build_config("SASRec", "tiny", overrides=budget)
    assert not ranks_in_item_chunks(config)
    _, valid, test = make_loaders(config, load_dataset(config))
    assert valid.step == test.step == 1048 // (4 * 41)
    tiny_budget = run("SASRec", "tiny", overrides=budget, output_dir=tmp_path / "budget")
    assert tiny_budget["test_result"] == whole["test_result"]


@pytest.mark.parametrize("model, overrides, message", [
    ("BPR", {"ranking_protocol": "sampled_masked"}, "ranks sequential histories; BPR is not sequential"),
    ("BPR", {"ranking_protocol": "full_masked", "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO",
                                                             "group_by": "user", "mode": "uni100"}},
     "full_masked with a non-sequential model needs eval_args mode: full"),
    ("SASRec", {"loss_type": "CE", "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user",
                                                 "mode": "labeled"}}, "eval_args mode 'labeled' is not one sequential"),
])
def test_a_protocol_the_model_cannot_use_is_refused_with_the_configuration(tiny_dataset, model, overrides, message):
    from recbole_ext import build_config
    from recbole_ext.errors import ConfigError

    data_path, name = tiny_dataset
    with pytest.raises(ConfigError, match=message):
        build_config(model, name, overrides={"data_path": str(data_path), "state": "WARNING", **overrides})
