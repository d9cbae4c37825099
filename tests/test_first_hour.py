"""A researcher's first hour: documented defaults, the quick-start preset, configuration checked before
any data loads, recommendations from a saved run, resume after a crash."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from recbole_ext import build_config, cli, run
from recbole_ext.bench import run_grid
from recbole_ext.config import CONFIGS_DIR, read_yaml
from recbole_ext.errors import ConfigError, RunError, UnknownModelError
from recbole_ext.models import resolve_model
from recbole_ext.outputs import FAILED_MARK, RESUME_STATE, RUN_SPEC
from recbole_ext.training.pipeline import resume
from recbole_ext.recommend import recommend
from tests.helpers import FAST_SASREC, REPO_ROOT, tiny_rows, write_inter


# ------------------------------------------------------------------------------ documented defaults
@pytest.mark.parametrize("model, preset, keys", [
    ("SASRecPaper", "sasrec-paper-ml1m", ["MAX_ITEM_LIST_LENGTH", "hidden_size", "inner_size", "n_heads", "n_layers",
                                          "hidden_dropout_prob", "attn_dropout_prob", "block_norm", "loss_type",
                                          "learning_rate", "train_batch_size", "layer_norm_eps", "embedding_scale"]),
    ("CaserPaper", "caser-paper", ["embedding_size", "MAX_ITEM_LIST_LENGTH", "n_targets", "nh", "nv", "dropout_prob",
                                   "learning_rate", "weight_decay", "train_batch_size", "loss_type"]),
])
def test_defaults_are_the_papers_documented_set(model, preset, keys):
    """With no preset a model trains with one documented set in full (batch size included)."""
    bare = build_config(model, "ml-100k")
    documented = build_config(model, "ml-100k", [preset])
    for key in keys:
        assert bare[key] == documented[key], key
    assert bare["train_neg_sample_args"]["sample_num"] == documented["train_neg_sample_args"]["sample_num"]
    assert bare["ranking_protocol"] == "full_masked"


def test_gru4recpaper_defaults_are_the_official_rsc15_set():
    bare = build_config("GRU4RecPaper", "ml-100k")
    official = build_config("GRU4RecPaper", "ml-100k", ["gru4rec-official-rsc15"])
    protocol = {"split_protocol", "ranking_protocol", "test_days", "metrics", "topk", "valid_metric"}
    for key in set(read_yaml(CONFIGS_DIR / "gru4rec-official-rsc15.yaml")) - protocol:  # the hyperparameters
        assert bare[key] == official[key], key
    assert bare["ranking_protocol"] == "full_masked" and bare["split_protocol"] == "leave_one_out"
    assert (official["split_protocol"], official["valid_metric"]) == ("session", "MRR@20")  # the official protocol


# ------------------------------------------------------------------------------------ quick start
def test_quickstart_preset_holds_under_other_flags(monkeypatch, tmp_path):
    seen = {}

    def fake_run(model, dataset, config_files=(), overrides=None, output_dir=None):
        seen.update(model=model, dataset=dataset, config_files=list(config_files), overrides=overrides)
        raise ConfigError("stop here")

    monkeypatch.setattr(cli, "run", fake_run)
    assert cli.main(["--result_file", str(tmp_path / "r.json"), "--epochs=2"]) == 2
    assert seen == {"model": "SASRecPaper", "dataset": "ml-100k", "config_files": ["quickstart"],
                    "overrides": {"epochs": "2"}}
    cli.main(["--output_dir", str(tmp_path / "o"), "--config_files", "extra.yaml"])
    assert seen["config_files"] == ["quickstart", "extra.yaml"]  # the user's files on top of the preset
    cli.main(["--model", "SASRec"])  # a model of their own choice: no preset
    assert seen["model"] == "SASRec" and seen["config_files"] == []


# ---------------------------------------------------------------------- configuration before data
@pytest.mark.parametrize("overrides, message", [
    ({"epochs": "-1"}, "epochs=-1 is not allowed for SASRecPaper: epochs takes an integer >= 0."),
    ({"loss_type": "XYZ"}, "loss_type='XYZ' is not allowed for SASRecPaper: use one of BCE, gBCE, SSM, CE."),
    ({"ranking_protocol": "bogus"}, "ranking_protocol='bogus' is not allowed for SASRecPaper: ranking_protocol takes one of recbole"),
    ({"ranking_neg_num": "0"}, "ranking_neg_num=0 is not allowed for SASRecPaper: ranking_neg_num takes an integer >= 1."),
    ({"hidden_dropout_prob": "1.0"}, "hidden_dropout_prob=1.0 is not allowed for SASRecPaper: hidden_dropout_prob takes a number in [0, 1)."),
    ({"train_batch_size": "0"}, "train_batch_size=0 is not allowed"),
    ({"learning_rate": "0"}, "learning_rate=0 is not allowed for SASRecPaper: learning_rate takes a number in (0, inf)."),
    ({"block_norm": "mid"}, "block_norm='mid' is not allowed for SASRecPaper: block_norm takes one of post, pre."),
    ({"train_neg_sample_args": "{'distribution': 'uniform', 'sample_num': 0}"}, "sample_num=0 is not allowed"),
    ({"valid_metric": "MRR@10"}, "valid_metric='MRR@10' is not among metrics"),
    ({"valid_metric": "NDCG@7"}, "@7 is not among topk"),
])
def test_wrong_values_are_refused_before_any_data_loads(overrides, message, monkeypatch):
    import recbole_ext.training.pipeline as pipeline

    monkeypatch.setattr(pipeline, "load_dataset", lambda config: pytest.fail("data loaded before the check"))
    with pytest.raises(ConfigError) as error:
        run("SASRecPaper", "ml-100k", overrides=overrides)
    assert message in str(error.value)


def test_model_name_case_slip_suggests_the_exact_model_first():
    with pytest.raises(UnknownModelError, match=r"Did you mean SASRec, "):
        resolve_model("sasrec")


# ------------------------------------------------------------------------- recommendations
@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("recs")
    write_inter(root / "data" / "tiny" / "tiny.inter", tiny_rows())
    runs = {}
    for model, extra in (("SASRec", FAST_SASREC), ("SASRecPaper", {**FAST_SASREC, "ranking_protocol": "full_masked"})):
        runs[model] = run(model, "tiny", overrides={**extra, "epochs": 2, "data_path": root / "data"},
                          output_dir=root / model)["output_dir"]
    return root, runs


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}


@pytest.mark.parametrize("model", ["SASRec", "SASRecPaper"])
def test_recommendations_are_original_ids_unseen_top_k(trained_runs, model):
    root, runs = trained_runs
    before = snapshot(Path(runs[model]))
    recs = recommend(runs[model], users=["u3", "u7"], k=5)
    assert snapshot(Path(runs[model])) == before  # nothing written into the run directory
    assert [r["user_id"] for r in recs] == ["u3"] * 5 + ["u7"] * 5
    assert [r["rank"] for r in recs[:5]] == [1, 2, 3, 4, 5]
    seen = {f"u{u}": set() for u in range(30)}
    for user, item, _ in tiny_rows():
        seen[f"u{user}"].add(f"i{item}")
    for r in recs:
        assert r["item_id"].startswith("i") and r["item_id"] not in seen[r["user_id"]]
    scores = [r["score"] for r in recs[:5]]
    assert scores == sorted(scores, reverse=True)
    with_seen = recommend(runs[model], users=["u3"], k=40, include_seen=True)
    assert {r["item_id"] for r in with_seen} >= seen["u3"]  # every item ranked, seen ones included


def test_recommend_command_writes_csv_and_refuses_what_is_not_a_run(trained_runs, tmp_path, capsys):
    from recbole_ext.recommend import main

    root, runs = trained_runs
    out = tmp_path / "recs.csv"
    assert main([runs["SASRecPaper"], "--k", "3", "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 30 * 3 and set(rows[0]) == {"user_id", "rank", "item_id", "score"}
    assert main([str(tmp_path), "--k", "3"]) == 2
    assert "is not a run directory with a trained model" in capsys.readouterr().err
    assert main([runs["SASRec"], "--users", "nobody"]) == 2
    assert "User(s) nobody are not in dataset 'tiny'" in capsys.readouterr().err
    assert main([runs["SASRec"], "--output", str(Path(runs["SASRec"]) / "recs.csv")]) == 2


# ----------------------------------------------------------------------------------------- resume
def slow_tiny(root: Path) -> Path:
    """Enough rows that an epoch takes a noticeable fraction of a second, so a kill lands mid-run."""
    write_inter(root / "data" / "slow" / "slow.inter", tiny_rows(n_users=120, n_items=50, per_user=20))
    return root / "data"


def start_and_kill(command: list[str], run_dir: Path, after_epochs: int = 2) -> None:
    """Start ``python -m <command>`` in a subprocess, SIGKILL it once it has saved ``after_epochs`` epochs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", *command], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            state = run_dir / RESUME_STATE
            if state.is_file() and torch.load(state, weights_only=False)["epoch"] + 1 >= after_epochs:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the run saved no resume state in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_run_killed_mid_training_resumes_and_loses_nothing(tmp_path):
    data_path = slow_tiny(tmp_path)
    run_dir = tmp_path / "run"
    epochs = 6
    args = ["--model", "SASRec", "--dataset", "slow", f"--data_path={data_path}", "--output_dir", str(run_dir),
            *[f"--{k}={v}" for k, v in {**FAST_SASREC, "epochs": epochs, "stopping_step": 100}.items()]]
    start_and_kill(["recbole_ext.cli", *args], run_dir)
    killed = torch.load(run_dir / RESUME_STATE, weights_only=False)
    assert not (run_dir / "result.json").exists() and (run_dir / RUN_SPEC).is_file()
    first_log = (run_dir / "run.log").read_text()

    assert cli.main(["--resume", str(run_dir)]) == 0
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed"] is True and result["resumed_after_epoch"] == killed["epoch"] + 1
    assert result["epochs"] == epochs and [p["epoch"] for p in result["valid_curve"]] == list(range(1, epochs + 1))
    assert result["valid_curve"][: len(killed["curve_points"])] == killed["curve_points"]  # first part kept
    assert result["train_seconds"] >= killed["seconds"]
    assert (run_dir / "run.log").read_text().startswith(first_log)  # the first part's log is still there
    assert not (run_dir / FAILED_MARK).exists()
    best = next((run_dir / "checkpoint").glob("*.pth"))
    assert torch.load(best, weights_only=False)["state_dict"]  # a loadable best checkpoint
    assert len(recommend(run_dir, users=["u1"], k=3)) == 3
    with pytest.raises(RunError, match="already finished"):
        resume(run_dir)
    with pytest.raises(RunError, match="is not a recbole-ext run directory"):
        resume(tmp_path)


@pytest.mark.slow
def test_killed_bench_cell_resumes_instead_of_starting_over(tmp_path):
    data_path = slow_tiny(tmp_path)
    overrides = {**FAST_SASREC, "epochs": 6, "stopping_step": 100, "data_path": str(data_path)}
    out = tmp_path / "grid"
    cell_dir = out / "cells" / "SASRec__slow__seed2020"
    # The cell exactly as the grid's subprocess runs it, killed halfway.
    spec = {"model": "SASRec", "dataset": "slow", "config_files": [], "output_dir": str(cell_dir),
            "overrides": {"show_progress": False, **overrides, "seed": 2020}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    start_and_kill(["recbole_ext.bench", "--cell", str(tmp_path / "spec.json")], cell_dir)
    first_part = torch.load(cell_dir / RESUME_STATE, weights_only=False)["curve_points"]
    summary = run_grid(["SASRec"], ["slow"], out, seeds=[2020], overrides={"*": overrides}, in_process=True)
    assert summary["failed"] == []
    result = json.loads((cell_dir / "result.json").read_text())
    assert result["resumed"] is True and result["epochs"] == 6
    assert result["valid_curve"][: len(first_part)] == first_part
