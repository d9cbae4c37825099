"""Config stacking, defaults, argv isolation, model and dataset lookup."""

from __future__ import annotations

import sys

import pytest
from recbole.model.sequential_recommender import SASRec

from recbole_ext import MODELS, build_config
from recbole_ext import config as config_module
from recbole_ext.errors import ConfigError, UnknownDatasetError, UnknownModelError
from recbole_ext.models import colliding_names, resolve_model


class PluginSASRec(SASRec):
    """A subclass with a new name: RecBole alone would give it none of SASRec's defaults."""


def test_project_defaults_apply_to_stock_models(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRec", name, overrides={"data_path": data_path})
    assert config["topk"] == [5, 10, 20]
    assert config["valid_metric"] == "NDCG@10"
    assert config["metrics"] == ["Hit", "NDCG"]
    assert config["eval_args"] == {
        "split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user",
        "mode": {"valid": "full", "test": "full"},
    }
    assert config["load_col"] == {"inter": ["user_id", "item_id", "timestamp"]}
    assert config["n_layers"] == 2  # RecBole's SASRec.yaml
    assert config["train_neg_sample_args"]["distribution"] == "none"  # CE needs no negatives


def test_subclass_gets_parent_defaults(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config(PluginSASRec, name, overrides={"data_path": data_path})
    assert config["model"] == "PluginSASRec"
    assert (config["n_layers"], config["hidden_size"], config["loss_type"]) == (2, 64, "CE")


def test_layers_override_in_documented_order(tiny_dataset, tmp_path, monkeypatch):
    data_path, name = tiny_dataset
    (tmp_path / "configs" / "datasets").mkdir(parents=True)
    (tmp_path / "configs" / "datasets" / f"{name}.yaml").write_text("hidden_size: 32\ninner_size: 32\nn_heads: 4\n")
    user_file = tmp_path / "user.yaml"
    user_file.write_text("hidden_size: 16\ninner_size: 16\nlearning_rate: 1e-4\n")
    monkeypatch.setattr(config_module, "CONFIGS_DIR", tmp_path / "configs")

    config = build_config(PluginSASRec, name, [user_file], {"data_path": data_path, "hidden_size": 8})
    assert config["n_layers"] == 2  # parent YAML
    assert config["n_heads"] == 4  # dataset YAML over parent YAML
    assert config["inner_size"] == 16  # user file over dataset YAML
    assert config["hidden_size"] == 8  # override over user file
    assert config["learning_rate"] == pytest.approx(1e-4)  # RecBole's YAML loader: a float


def test_sys_argv_never_leaks_into_config(tiny_dataset, monkeypatch):
    data_path, name = tiny_dataset
    monkeypatch.setattr(sys, "argv", ["pytest", "--learning_rate=0.5", "--tb=short"])
    config = build_config("SASRec", name, overrides={"data_path": data_path})
    assert config["learning_rate"] == 0.001
    assert config["tb"] is None


def test_missing_required_key_fails_loudly(tiny_dataset):
    data_path, name = tiny_dataset
    with pytest.raises(ConfigError, match="n_layers"):
        build_config(PluginSASRec, name, overrides={"data_path": data_path, "n_layers": None})


def test_missing_config_file_is_named(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    with pytest.raises(ConfigError, match="nope.yaml"):
        build_config("SASRec", name, [tmp_path / "nope.yaml"], {"data_path": data_path})


def test_our_model_names_never_collide_with_recbole():
    assert colliding_names(["SASRec", "NotARecBoleModel"]) == ["SASRec"]  # the check works...
    assert colliding_names(MODELS) == []  # ...and our registry passes it


def test_unknown_model_suggests_close_matches():
    with pytest.raises(UnknownModelError, match="Did you mean.*SASRec"):
        resolve_model("SASRek")


def test_unknown_dataset_names_the_converter_and_never_downloads(tmp_path):
    # ml-1m is in RecBole's download list: it must fail here, before any download attempt.
    with pytest.raises(UnknownDatasetError, match="recbole_ext.convert"):
        build_config("SASRec", "ml-1m", overrides={"data_path": tmp_path})


def test_download_name_points_to_the_converted_name(tmp_path):
    with pytest.raises(UnknownDatasetError, match="run with --dataset ml1m"):
        build_config("SASRec", "ml-1m", overrides={"data_path": tmp_path})


@pytest.mark.parametrize(
    "key, value, expected",
    [("epochs", "abc", "epochs takes a number"), ("learning_rate", True, "learning_rate takes a number"),
     ("show_progress", "yes", "show_progress takes True or False")],
)
def test_override_of_the_wrong_type_is_named(tiny_dataset, key, value, expected):
    data_path, name = tiny_dataset
    with pytest.raises(ConfigError, match=expected):
        build_config("SASRec", name, overrides={"data_path": data_path, key: value})


def test_override_of_the_right_type_passes(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRec", name, overrides={"data_path": data_path, "epochs": "7", "learning_rate": 1,
                                                     "show_progress": "False"})
    assert (config["epochs"], config["learning_rate"], config["show_progress"]) == (7, 1, False)


def test_unknown_dataset_suggests_close_matches(tiny_dataset):
    data_path, _ = tiny_dataset
    with pytest.raises(UnknownDatasetError, match="Did you mean tiny"):
        build_config("SASRec", "tinyy", overrides={"data_path": data_path})


def test_data_path_is_absolute(tiny_dataset, monkeypatch):
    data_path, name = tiny_dataset
    monkeypatch.chdir(data_path.parent)
    config = build_config("SASRec", name, overrides={"data_path": "data"})
    assert config["data_path"] == str(data_path.resolve() / name)


def test_an_empty_data_path_in_a_config_file_is_one_clear_error(tmp_path):
    from recbole_ext.errors import ConfigError

    config_file = tmp_path / "c.yaml"
    config_file.write_text("data_path: ~\n")
    with pytest.raises(ConfigError, match=r"data_path is empty \(a config file sets it to ~\): give the folder"):
        build_config("SASRecPaper", "ml1m", [config_file])
