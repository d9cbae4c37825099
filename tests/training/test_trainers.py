"""recbole_ext.training.trainers: the trainer composed once; ranking in item chunks gives full scoring's metrics."""

from __future__ import annotations

import pytest
import torch

from recbole.trainer import Trainer

from recbole_ext import build_config
from recbole_ext.protocols import Candidates, CandidateEvalDataLoader, ranks_in_item_chunks
from recbole_ext.models.optim import ExtendedTrainer
from recbole_ext.training.trainers import RankingTrainer, items_per_chunk, ranking, trainer_class_for


@pytest.mark.parametrize("model", ["SASRecPaper", "CaserPaper", "GRU4RecPaper"])
def test_item_chunks_give_full_scoring_s_metrics_without_a_rows_x_items_matrix(model, tmp_path):
    """Our models score items in chunks of max_score_matrix_mb: every row of a batch, a running top K;
    the same metrics as the trainer that scores every item at once, on the same model."""
    from recbole.trainer import Trainer
    from recbole.utils import get_trainer
    from recbole_ext.config import build_config
    from recbole_ext.loading import load_dataset, make_loaders
    from tests.helpers import tiny_rows, write_inter

    write_inter(tmp_path / "data" / "tiny" / "tiny.inter", tiny_rows(n_users=30, n_items=40, per_user=12))
    overrides = {"data_path": str(tmp_path / "data"), "ranking_protocol": "full_masked", "eval_batch_size": 256,
                 "max_score_matrix_mb": 4 * 30 * 7 / 2**20, "metrics": ["Hit", "NDCG", "MRR", "Recall"],
                 "topk": [1, 5, 10], "state": "WARNING"}
    if model == "CaserPaper":
        overrides.update(loss_type="CE", train_neg_sample_args=None)
    config = build_config(model, "tiny", overrides=overrides)
    config["checkpoint_dir"] = str(tmp_path / "checkpoint")  # the trainers' (unused) checkpoint folder
    assert ranks_in_item_chunks(config)
    assert items_per_chunk(config, 30, 41) == 7  # 30 rows x 7 items per chunk: 6 chunks of the 41 items
    train, valid, test = make_loaders(config, load_dataset(config))
    assert test.step == 256  # rows do not give way
    torch.manual_seed(0)
    model_object = config.model_class(config, train._dataset)
    base = getattr(config.model_class, "trainer_class", None) or get_trainer(config["MODEL_TYPE"], config["model"])
    chunked = ranking(base, chunked=True)(config, model_object)
    whole = ranking(base, chunked=False)(config, model_object)  # RecBole's full scoring of every item
    assert isinstance(chunked, Trainer)
    for loader in (valid, test):
        expected = whole.evaluate(loader, load_best_model=False)
        got = chunked.evaluate(loader, load_best_model=False)
        assert got == expected and any(v > 0 for v in got.values())
    # sampled_masked: only the candidates are scored, chunk by chunk; the same metrics as the dense mask
    sampled = CandidateEvalDataLoader(config, test._dataset, n_neg=10, seed=3)
    assert sampled.scored_in_chunks() and sampled.step == 256
    got = chunked.evaluate(sampled, load_best_model=False)
    assert isinstance(sampled.collate_fn([0, 1])[1], Candidates)  # the trainer scores them or masks the rest
    assert got == whole.evaluate(sampled, load_best_model=False) and any(v > 0 for v in got.values())


def test_the_trainer_is_composed_from_the_configuration(tiny_dataset):
    data_path, name = tiny_dataset
    settings = {"data_path": str(data_path), "state": "WARNING"}
    stock = trainer_class_for(build_config("SASRec", name, overrides=settings))
    assert issubclass(stock, RankingTrainer) and issubclass(stock, Trainer) and not stock.chunked  # no item_scorer
    ours = trainer_class_for(build_config("SASRecPaper", name, overrides=settings))
    assert ours.chunked and "BF16" not in ours.__name__
    gru = trainer_class_for(build_config("GRU4RecPaper", name, overrides=settings))
    assert issubclass(gru, ExtendedTrainer) and gru.chunked  # the model's own trainer, ranking mixed in
    general = trainer_class_for(build_config("BPR", name, overrides=settings))
    assert not issubclass(general, RankingTrainer)  # RecBole's loaders and its own full ranking


def test_ties_count_against_the_target_under_the_session_protocol(tmp_path):
    """GRU4Rec's conservative rank: every item scored at least as high as the target counts, itself included,
    chunked or not; with distinct scores nothing changes."""
    from recbole.utils import get_trainer
    from recbole_ext.loading import load_dataset, make_loaders
    from tests.helpers import tiny_rows, write_inter

    write_inter(tmp_path / "data" / "tiny" / "tiny.inter", tiny_rows(n_users=30, n_items=40, per_user=12))
    config = build_config("GRU4RecPaper", "tiny", overrides={
        "data_path": str(tmp_path / "data"), "ranking_protocol": "full_masked", "eval_batch_size": 256,
        "max_score_matrix_mb": 4 * 30 * 7 / 2**20, "metrics": ["Hit", "MRR"], "topk": [1, 10], "valid_metric": "MRR@10",
        "state": "WARNING"})
    config["checkpoint_dir"] = str(tmp_path / "checkpoint")
    assert trainer_class_for(build_config("GRU4RecPaper", "tiny", overrides={
        "data_path": str(tmp_path / "data"), "split_protocol": "session", "state": "WARNING"})).ties_against_target
    _, _, test = make_loaders(config, load_dataset(config))
    torch.manual_seed(0)
    model = config.model_class(config, test._dataset)
    base = get_trainer(config["MODEL_TYPE"], config["model"]) if not hasattr(model, "trainer_class") else model.trainer_class
    trainers = {(chunked, ties): ranking(base, chunked=chunked, ties_against_target=ties)(config, model)
                for chunked in (True, False) for ties in (True, False)}
    distinct = {key: t.evaluate(test, load_best_model=False) for key, t in trainers.items()}
    assert len({tuple(result.items()) for result in distinct.values()}) == 1  # no ties: one answer
    for parameter in model.parameters():
        parameter.data.zero_()  # every item scores 0: each target ties with every unmasked item
    for chunked in (True, False):
        tied = trainers[(chunked, True)].evaluate(test, load_best_model=False)
        assert all(value == 0 for value in tied.values()), tied
