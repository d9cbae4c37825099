"""Each fix in recbole_ext/compat.py (and each pin it checks) has a test that fails without it."""

from __future__ import annotations

import importlib
import math

import pytest
import recbole.trainer.trainer as recbole_trainer
import torch

from recbole_ext import build_config, compat
from recbole_ext.errors import EnvironmentProblem
from recbole.data import create_dataset

from tests.conftest import write_inter


def test_installed_stack_has_no_known_problem():
    assert compat.stack_problems() == []


def test_wrong_versions_are_named_with_their_fix():
    problems = compat.stack_problems(
        {"numpy": "2.1.0", "pandas": "3.0.0", "setuptools": "81.0.0", "hyperopt": "0.2.7"}
    )
    assert problems == [
        'numpy 2.1.0 is installed but recbole 1.2.1 needs numpy < 2: pip install "numpy<2"',
        'pandas 3.0.0 is installed but recbole 1.2.1 needs pandas < 3: pip install "pandas<3"',
        'setuptools 81.0.0 is installed but recbole 1.2.1 needs setuptools < 81: pip install "setuptools<81"',
        "hyperopt 0.2.7 is installed but recbole 1.2.1 needs hyperopt == 0.2.5: pip install hyperopt==0.2.5",
    ]


def test_check_stack_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(compat, "stack_problems", lambda: ["numpy 2.1.0 is installed but ..."])
    with pytest.raises(EnvironmentProblem, match="numpy 2.1.0"):
        compat.check_stack()


def test_recbole_checkpoint_reloads_on_new_torch(tiny_dataset, tmp_path):
    """RecBole pickles its Config into checkpoints; torch >= 2.6 refuses them by default."""
    data_path, name = tiny_dataset
    config = build_config("SASRec", name, overrides={"data_path": data_path})
    checkpoint = tmp_path / "model.pth"
    torch.save({"config": config, "state_dict": {}}, checkpoint)
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        torch.load(checkpoint)  # what RecBole's trainer did before the fix
    assert recbole_trainer.torch.load(checkpoint)["config"]["model"] == "SASRec"
    assert torch.load is not compat.load_trusted_checkpoint  # the rest of torch keeps its safe default


def test_recbole_quick_start_imports():
    """recbole.quick_start imports ray.tune, which needs pkg_resources (setuptools < 81)."""
    importlib.import_module("recbole.quick_start")


def test_missing_float_side_feature_is_filled(tmp_path):
    """pandas 3 silently skips RecBole's fillna(inplace=True): NaN would reach the model."""
    write_inter(tmp_path / "nan" / "nan.inter", [(0, 0, 1), (0, 1, 2), (1, 1, 3), (1, 0, 4)])
    (tmp_path / "nan" / "nan.item").write_text("item_id:token\tprice:float\ni0\t2.0\ni1\t\n")
    config = build_config(
        "SASRec", "nan",
        overrides={"data_path": tmp_path, "load_col": {"inter": ["user_id", "item_id", "timestamp"],
                                                      "item": ["item_id", "price"]}},
    )
    prices = create_dataset(config).item_feat["price"].tolist()
    assert not any(math.isnan(p) for p in prices)
    assert prices[1:] == [2.0, 2.0]  # the missing price is filled with the mean (RecBole's rule)
