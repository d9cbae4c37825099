"""precision: fp32 (default) or bf16 autocast for the training step; refused where bf16 is not native."""

from __future__ import annotations

import pytest
import torch

from recbole_ext import build_config, run
from recbole_ext.errors import ConfigError
from recbole_ext.models.sasrecpaper import SASRecPaper
from recbole_ext.training.trainers import trainer_class_for
from recbole_ext.precision import autocast, unsupported
from tests.helpers import FAST_SASREC

BF16_HERE = unsupported("bf16", "cpu") is None


def test_default_is_fp32_and_other_values_are_refused(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRecPaper", name, overrides={"data_path": data_path})
    assert config["precision"] == "fp32"
    assert "BF16" not in trainer_class_for(config).__name__
    with pytest.raises(ConfigError, match=r"precision='fp16' is not allowed .* one of fp32, bf16"):
        build_config("SASRecPaper", name, overrides={"data_path": data_path, "precision": "fp16"})


def test_bf16_refused_with_one_line_on_a_cpu_without_it(tiny_dataset, monkeypatch):
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    message = unsupported("bf16", "cpu")
    assert message and "\n" not in message and "precision=fp32" in message
    data_path, name = tiny_dataset
    with pytest.raises(ConfigError, match="precision=bf16 needs a CPU with AVX-512-bf16 or AMX"):
        build_config("SASRecPaper", name, overrides={"data_path": data_path, "precision": "bf16"})
    assert unsupported("fp32", "cpu") is None


@pytest.mark.skipif(not BF16_HERE, reason="this CPU computes no bfloat16 natively")
@pytest.mark.parametrize("precision, expected", [("fp32", False), ("bf16", True)])
def test_the_training_loss_runs_under_autocast_only_with_bf16(tiny_dataset, tmp_path, monkeypatch, precision, expected):
    seen = []
    calculate_loss = SASRecPaper.calculate_loss

    def recording(self, interaction):
        seen.append(torch.is_autocast_enabled("cpu"))
        loss = calculate_loss(self, interaction)
        assert loss.dtype == torch.float32  # the loss itself stays float32
        return loss

    monkeypatch.setattr(SASRecPaper, "calculate_loss", recording)
    data_path, name = tiny_dataset
    result = run("SASRecPaper", name, overrides={**FAST_SASREC, "data_path": data_path, "loss_type": "CE",
                                                 "train_neg_sample_args": None, "precision": precision},
                 output_dir=tmp_path / "run")
    assert seen and set(seen) == {expected}
    assert 0.0 <= result["test_result"]["ndcg@10"] <= 1.0
    model_weights = torch.load(next((tmp_path / "run" / "checkpoint").glob("*.pth")), weights_only=False)["state_dict"]
    assert all(w.dtype == torch.float32 for w in model_weights.values() if w.is_floating_point())


def test_autocast_context():
    with autocast("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    if BF16_HERE:
        with autocast("bf16", "cpu"):
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
