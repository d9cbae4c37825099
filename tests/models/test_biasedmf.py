"""BiasedMF (and what the rating models share): RecBole's labeled (RMSE / MAE) path; the fixtures DeepMF's tests use."""

from __future__ import annotations

import math

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_ext import build_config, run
from recbole_ext.config import CONFIGS_DIR
from recbole_ext.models import MODELS, colliding_names
from recbole_ext.models.biasedmf import BiasedMF
from recbole_ext.models.deepmf import DeepMF
from tests.models.rating import FAST_RATING, build


def test_registered_without_colliding_with_recbole():
    assert MODELS["BiasedMF"] is BiasedMF and MODELS["DeepMF"] is DeepMF
    assert colliding_names(["BiasedMF", "DeepMF"]) == []


def test_prediction_is_mean_plus_dot_plus_biases(rating_data):
    data_path, name = rating_data
    _, data, train, _, _, model = build("BiasedMF", name, {**FAST_RATING, "data_path": data_path})
    ratings = train._dataset.inter_feat["rating"]
    assert len(ratings) == 150  # 75% of 200 ratings; mu is their mean, not the mean of all 200
    assert model.global_mean.item() == pytest.approx(ratings.float().mean().item(), abs=1e-6)
    assert model.global_mean.item() != pytest.approx(data.inter_feat["rating"].float().mean().item(), abs=1e-6)
    with torch.no_grad():
        model.user_embedding.weight.zero_()
        model.item_embedding.weight.zero_()
        model.user_embedding.weight[1] = torch.tensor([1.0, 2.0, 0.0, -1.0])
        model.item_embedding.weight[2] = torch.tensor([0.5, 0.25, 3.0, 2.0])
        model.user_bias.weight[1] = 0.3
        model.item_bias.weight[2] = -0.2
        model.global_mean.fill_(3.5)
    interaction = {"user_id": torch.tensor([1, 1, 2]), "item_id": torch.tensor([2, 3, 2])}
    # 3.5 + (0.5 + 0.5 + 0 - 2) + 0.3 - 0.2 = 2.6; item 3 (zero vector): 3.5 + 0.3; user 2: 3.5 - 0.2
    assert model.predict(interaction).tolist() == pytest.approx([2.6, 3.8, 3.3], abs=1e-6)


def test_predictions_are_clipped_to_the_training_scale_unless_switched_off(rating_data):
    data_path, name = rating_data
    _, _, train, _, _, model = build("BiasedMF", name, {**FAST_RATING, "data_path": data_path})
    ratings = train._dataset.inter_feat["rating"].float()
    low, high = ratings.min().item(), ratings.max().item()
    with torch.no_grad():
        model.user_bias.weight.zero_()
        model.user_bias.weight[1] = 100.0
        model.user_bias.weight[2] = -100.0
    interaction = {"user_id": torch.tensor([1, 2]), "item_id": torch.tensor([1, 1])}
    assert model.predict(interaction).tolist() == pytest.approx([high, low])
    batch = {**interaction, "rating": torch.tensor([high, low])}
    assert model.calculate_loss(batch).item() > 1000  # training sees the raw scores
    model.clip_predictions = False
    assert model.predict(interaction)[0].item() > 100


def test_loss_is_rmse_or_mse_plus_batch_l2(rating_data):
    data_path, name = rating_data
    overrides = {**FAST_RATING, "data_path": data_path, "reg_weight": 0.5, "loss_type": "RMSE"}
    *_, model = build("BiasedMF", name, overrides)
    with torch.no_grad():
        for weight in (model.user_embedding.weight, model.item_embedding.weight):
            weight.fill_(0.5)  # dot = 4 * 0.25 = 1
        model.user_bias.weight.fill_(0.0)
        model.item_bias.weight.fill_(1.0)
        model.global_mean.fill_(3.0)
    batch = {"user_id": torch.tensor([1, 2]), "item_id": torch.tensor([1, 2]), "rating": torch.tensor([5.0, 1.0])}
    # predictions 5 and 5: errors 0 and 4 -> MSE 8, RMSE sqrt(8); L2 per row 1 + 1 + 0 + 1 = 3
    assert model.calculate_loss(batch).item() == pytest.approx(math.sqrt(8) + 0.5 * 3, abs=1e-5)
    model.loss_type = "MSE"
    assert model.calculate_loss(batch).item() == pytest.approx(8 + 0.5 * 3, abs=1e-5)
    # bias_reg_weight (~ above: reg_weight) weighs the biases alone: factors 2 * 0.5, biases 1 * 0.1
    model.bias_reg_weight = 0.1
    assert model.calculate_loss(batch).item() == pytest.approx(8 + 0.5 * 2 + 0.1 * 1, abs=1e-5)


def test_bias_reg_weight_defaults_to_reg_weight(rating_data):
    data_path, name = rating_data
    base = {**FAST_RATING, "data_path": data_path, "reg_weight": 0.3}
    assert build("BiasedMF", name, base)[-1].bias_reg_weight == 0.3
    assert build("BiasedMF", name, {**base, "bias_reg_weight": 0.0})[-1].bias_reg_weight == 0.0


def test_same_seed_same_rmse(rating_data, tmp_path):
    data_path, name = rating_data
    overrides = {**FAST_RATING, "data_path": data_path}
    first = run("BiasedMF", name, overrides=overrides, output_dir=tmp_path / "1")
    second = run("BiasedMF", name, overrides=overrides, output_dir=tmp_path / "2")
    other = run("BiasedMF", name, overrides={**overrides, "seed": 7}, output_dir=tmp_path / "3")
    assert first["test_result"] == second["test_result"]
    assert other["test_result"]["rmse"] != first["test_result"]["rmse"]


def test_validation_split_keeps_the_same_test_ratings(rating_data):
    data_path, name = rating_data
    overrides = {**FAST_RATING, "data_path": data_path}
    _, _, train, valid, test, _ = build("BiasedMF", name, overrides)
    config_file = CONFIGS_DIR / "rating-split-tune.yaml"
    config = build_config("BiasedMF", name, config_files=[config_file], overrides=overrides)
    init_seed(config["seed"], config["reproducibility"])
    t_train, t_valid, t_test = data_preparation(config, create_dataset(config))
    assert (len(train._dataset), len(valid._dataset), len(test._dataset)) == (150, 0, 50)
    assert (len(t_train._dataset), len(t_valid._dataset), len(t_test._dataset)) == (135, 15, 50)

    def rows(loader):
        feat = loader._dataset.inter_feat
        return sorted(zip(feat["user_id"].tolist(), feat["item_id"].tolist()))

    assert rows(t_test) == rows(test)
    assert sorted(rows(t_train) + rows(t_valid)) == rows(train)


def test_ml100k_ratings_are_not_rescaled():
    # RecBole's bundled ml-100k.yaml sets normalize_all: True, which would min-max scale the ratings.
    config = build_config("BiasedMF", "ml-100k")
    assert config["normalize_all"] is False and config["LABEL_FIELD"] == "rating"
    assert config["eval_args"]["mode"] == {"valid": "labeled", "test": "labeled"}
    assert config["metrics"] == ["RMSE", "MAE"] and config["valid_metric_bigger"] is False


@pytest.mark.parametrize(
    "model, preset, expected",
    [
        ("BiasedMF", "mf-keras-tutorial.yaml",
         {"embedding_size": 200, "learner": "sgd", "epochs": 60, "train_batch_size": 256, "loss_type": "RMSE",
          "clip_predictions": False}),
        ("DeepMF", "deepmf-keras-tutorial.yaml",
         {"mlp_hidden_size": [2048, 256], "mlp_activation": "linear", "epochs": 65, "train_batch_size": 512}),
        ("DeepMF", "deepmf-occupation-keras-tutorial.yaml",
         {"user_side_features": ["occupation"], "side_embedding_size": 3, "epochs": 65, "train_batch_size": 512}),
        ("BiasedMF", "biasedmf-tuned.yaml", {"learner": "adam", "loss_type": "MSE", "clip_predictions": True}),
        ("DeepMF", "deepmf-tuned.yaml", {"learner": "adam", "user_side_features": []}),
        ("DeepMF", "deepmf-occupation-tuned.yaml", {"learner": "adam", "user_side_features": ["occupation"]}),
    ],
)
def test_presets_keep_the_rating_protocol(model, preset, expected):
    config = build_config(model, "ml-100k", config_files=[preset])
    assert {key: config[key] for key in expected} == expected
    assert config["eval_args"]["split"] == {"RS": [0.75, 0.0, 0.25]} and config["metrics"] == ["RMSE", "MAE"]
    if config["user_side_features"]:
        assert config["load_col"]["user"] == ["user_id", "occupation"]
