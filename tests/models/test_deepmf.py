"""DeepMF: dense layers over the user and item embeddings, the occupation embedding from the .user file."""

from __future__ import annotations

import json

import pytest
import torch

from recbole_ext import run
from tests.models.rating import FAST_RATING, OCCUPATIONS, build, occupation_overrides, write_rating_dataset


def test_occupation_embedding_is_read_from_the_user_file(tmp_path):
    data_path, name = write_rating_dataset(tmp_path / "a")
    _, data, _, _, _, model = build("DeepMF", name, occupation_overrides(data_path))
    tokens = data.field2id_token["occupation"]
    user_tokens = data.field2id_token["user_id"]
    for internal_id in range(1, len(user_tokens)):
        user = int(user_tokens[internal_id][1:])
        assert tokens[model.user_occupation[internal_id]] == OCCUPATIONS[user % 4]
    assert model.side_embeddings["occupation"].num_embeddings == len(OCCUPATIONS) + 1  # + padding
    assert model.mlp.mlp_layers[1].in_features == 2 * 4 + 2 + 3

    # Same data, same seed, only u0's occupation differs (artist -> writer): only u0's predictions change.
    moved_path, _ = write_rating_dataset(tmp_path / "b", occupation_of={0: "writer"})
    _, moved_data, _, _, _, moved = build("DeepMF", name, occupation_overrides(moved_path))
    assert moved_data.field2id_token["user_id"].tolist() == user_tokens.tolist()
    with torch.no_grad():  # the same vector for the same occupation name in both models (ids differ)
        for token in OCCUPATIONS:
            vector = torch.full((3,), float(OCCUPATIONS.index(token)))
            model.side_embeddings["occupation"].weight[data.field2token_id["occupation"][token]] = vector
            moved.side_embeddings["occupation"].weight[moved_data.field2token_id["occupation"][token]] = vector
    uid = {token: i for i, token in enumerate(user_tokens)}
    users = torch.tensor([uid["u0"], uid["u0"], uid["u1"]])
    interaction = {"user_id": users, "item_id": torch.tensor([1, 2, 1])}
    model.eval(), moved.eval()
    before, after = model.predict(interaction), moved.predict(interaction)
    assert torch.all(before[:2] != after[:2]) and before[2] == after[2]


def test_side_feature_must_be_loaded(rating_data):
    data_path, name = rating_data
    overrides = {**FAST_RATING, "data_path": data_path, "user_side_features": ["occupation"]}
    with pytest.raises(ValueError, match="user side feature 'occupation' is not loaded; add it to load_col"):
        build("DeepMF", name, overrides)


def test_run_reports_rmse_and_mae(rating_data, tmp_path):
    data_path, name = rating_data
    result = run("DeepMF", name, overrides=occupation_overrides(data_path), output_dir=tmp_path / "run")
    assert set(result["test_result"]) == {"rmse", "mae"}
    assert json.loads((tmp_path / "run" / "result.json").read_text())["test_result"] == result["test_result"]
    assert 0 < result["test_result"]["mae"] <= result["test_result"]["rmse"] < 4
    assert result["best_valid_result"] == {} and result["best_valid_score"] is None  # 75/0/25: no valid part
    assert result["epochs"] == 2 and result["eval_protocol"].startswith("split {'RS': [0.75, 0.0, 0.25]}")
