"""precision: fp32 (default), bf16 autocast for the training step (refused where bf16 is not native), or auto."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from recbole_ext import build_config, run
from recbole_ext.errors import ConfigError
from recbole_ext.models.sasrecpaper import SASRecPaper
from recbole_ext.training.trainers import trainer_class_for
from recbole_ext import precision
from recbole_ext.precision import autocast, unsupported
from tests.helpers import FAST_SASREC

def test_default_is_fp32_and_other_values_are_refused(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRecPaper", name, overrides={"data_path": data_path})
    assert config["precision"] == "fp32"
    assert "BF16" not in trainer_class_for(config).__name__
    with pytest.raises(ConfigError, match=r"precision='fp16' is not allowed .* one of fp32, bf16, auto"):
        build_config("SASRecPaper", name, overrides={"data_path": data_path, "precision": "fp16"})


def test_bf16_refused_with_one_line_on_a_cpu_without_it_and_auto_trains_in_fp32(tiny_dataset, monkeypatch):
    monkeypatch.setattr(precision, "cpu_computes_bf16", lambda: False)
    message = unsupported("bf16", "cpu")
    assert message and "\n" not in message and "precision=fp32" in message
    data_path, name = tiny_dataset
    with pytest.raises(ConfigError, match="precision=bf16 needs a CPU with AVX-512-bf16 or AMX"):
        build_config("SASRecPaper", name, overrides={"data_path": data_path, "precision": "bf16"})
    assert unsupported("fp32", "cpu") is None
    config = build_config("SASRecPaper", name, overrides={"data_path": data_path, "precision": "auto"})
    assert config["precision"] == "fp32" and "BF16" not in trainer_class_for(config).__name__


def test_auto_trains_in_bf16_where_the_cpu_computes_it(tiny_dataset, monkeypatch):
    monkeypatch.setattr(precision, "cpu_computes_bf16", lambda: True)
    data_path, name = tiny_dataset
    config = build_config("SASRecPaper", name, overrides={"data_path": data_path, "precision": "auto"})
    assert config["precision"] == "bf16" and "BF16" in trainer_class_for(config).__name__


def test_emulating_avx512_is_not_native_bf16():
    """oneDNN says bf16 is supported on any AVX-512 CPU (it emulates it there, at half float32's speed);
    native bfloat16 is what the CPU's flags say: AVX-512-bf16 or AMX."""
    lines = Path("/proc/cpuinfo").read_text().splitlines() if sys.platform == "linux" else []
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    if not flags:
        pytest.skip("no x86 flags in /proc/cpuinfo")
    assert precision.cpu_computes_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_the_cpu_flags_decide_without_torchs_private_checks(monkeypatch):
    expected = precision.cpu_computes_bf16()
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    if sys.platform == "linux":
        assert precision.cpu_computes_bf16() == expected
    else:
        assert precision.cpu_computes_bf16() is False


@pytest.mark.parametrize("arithmetic, expected", [("fp32", False), ("bf16", True)])
def test_the_training_loss_runs_under_autocast_only_with_bf16(tiny_dataset, tmp_path, monkeypatch, arithmetic, expected):
    monkeypatch.setattr(precision, "cpu_computes_bf16", lambda: True)  # emulated where it is not: tiny data
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
                                                 "train_neg_sample_args": None, "precision": arithmetic},
                 output_dir=tmp_path / "run")
    assert seen and set(seen) == {expected} and result["precision"] == arithmetic
    assert 0.0 <= result["test_result"]["ndcg@10"] <= 1.0
    model_weights = torch.load(next((tmp_path / "run" / "checkpoint").glob("*.pth")), weights_only=False)["state_dict"]
    assert all(w.dtype == torch.float32 for w in model_weights.values() if w.is_floating_point())


def test_autocast_context():
    with autocast("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
