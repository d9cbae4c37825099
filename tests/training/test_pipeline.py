"""End-to-end runs through the pipeline and run.py on a tiny dataset."""

from __future__ import annotations

import json

import pytest

from recbole_ext import run
from tests.helpers import FAST_SASREC


METRIC_KEYS = {f"{m}@{k}" for m in ("hit", "ndcg") for k in (5, 10, 20)}


@pytest.fixture
def one_epoch(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    return run("SASRec", name, overrides={**FAST_SASREC, "data_path": data_path}, output_dir=tmp_path / "run")


def test_one_epoch_run_returns_metrics(one_epoch, tmp_path):
    result = one_epoch
    assert result["model"] == "SASRec" and result["dataset"] == "tiny" and result["epochs"] == 1
    assert result["stopped_by_time_cap"] is False and [p["epoch"] for p in result["valid_curve"]] == [1]
    assert set(result["test_result"]) == METRIC_KEYS == set(result["best_valid_result"])
    for metrics in (result["test_result"], result["best_valid_result"]):
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
        for k in (5, 10, 20):
            assert metrics[f"ndcg@{k}"] <= metrics[f"hit@{k}"]
        assert metrics["hit@5"] <= metrics["hit@10"] <= metrics["hit@20"]
    assert result["best_valid_score"] == result["best_valid_result"]["ndcg@10"]
    assert result["train_seconds"] > 0
    assert result["eval_protocol"].startswith("leave-one-out, full ranking")
    if result["device"].startswith("cuda"):  # the run's own peak, beside the process's peak RSS
        assert 0 < result["peak_gpu_mb"] < 1024
    else:
        assert result["peak_gpu_mb"] is None


def test_run_writes_its_own_output_directory(one_epoch, tmp_path):
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "result.json").read_text()) == one_epoch
    assert "model: SASRec" in (run_dir / "config.yaml").read_text()
    assert len(list((run_dir / "checkpoint").glob("*.pth"))) == 1
    assert "Loading model structure and parameters" in (run_dir / "run.log").read_text()
    assert any((run_dir / "log_tensorboard").rglob("events.out.tfevents.*"))


def test_same_seed_same_metrics_and_separate_directories(tiny_dataset, tmp_path, monkeypatch):
    data_path, name = tiny_dataset
    monkeypatch.chdir(tmp_path)
    overrides = {**FAST_SASREC, "data_path": data_path, "epochs": 2}
    first, second = run("SASRec", name, overrides=overrides), run("SASRec", name, overrides=overrides)
    assert first["test_result"] == second["test_result"]
    assert first["best_valid_result"] == second["best_valid_result"]
    assert first["output_dir"] != second["output_dir"]
    other_seed = run("SASRec", name, overrides={**overrides, "seed": 7})
    assert other_seed["test_result"] != first["test_result"]


def test_time_cap_stops_after_first_validation_and_keeps_best_model(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    result = run("SASRec", name, overrides={**FAST_SASREC, "data_path": data_path, "epochs": 50,
                                            "max_train_seconds": 0.0}, output_dir=tmp_path / "capped")
    assert result["stopped_by_time_cap"] is True
    assert result["epochs"] == 1 and len(result["valid_curve"]) == 1
    assert result["valid_curve"][0]["valid_score"] == result["best_valid_score"]
    assert set(result["test_result"]) == METRIC_KEYS


def test_torch_threads_sets_the_thread_count(tiny_dataset, tmp_path):
    import torch

    data_path, name = tiny_dataset
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    try:
        result = run("SASRec", name, overrides={**FAST_SASREC, "data_path": data_path, "torch_threads": wanted},
                     output_dir=tmp_path / "threads")
        assert result["torch_threads"] == wanted == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
