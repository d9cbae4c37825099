"""Resume is exact: a run interrupted after any validation and resumed ends where the uninterrupted run ends.

Every random state training consumes (torch/numpy/Python globals, the loaders' shuffles, negative
samplers, a model's own generator) is saved after each validation and restored on resume.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from recbole_ext import cli, run
from recbole_ext.errors import ConfigError
from recbole_ext.outputs import FAILED_MARK, RESUME_STATE
from recbole_ext.training.pipeline import resume
from recbole_ext.training.run_state import RunState
from tests.helpers import FAST, FAST_SASREC, REPO_ROOT, tiny_rows, write_inter

EPOCHS = 4
CASES = {  # our three families (their own loaders and generators) and stock models on the prefix-row loader
    "SASRecPaper": {**FAST_SASREC, "hidden_dropout_prob": 0.3},
    "GRU4RecPaper": {**FAST, "layers": [8], "n_sample": 4, "dropout_p_hidden": 0.2},
    "CaserPaper": {**FAST, "embedding_size": 8, "nh": 3, "nv": 2, "MAX_ITEM_LIST_LENGTH": 4},
    "SASRec": {**FAST_SASREC, "loss_type": "BPR", "ranking_protocol": "sampled_masked", "ranking_neg_num": 10,
               "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "alpha": 1.0,
                                         "dynamic": False, "candidate_num": 0}},
    "GRU4Rec": {**FAST, "embedding_size": 8, "hidden_size": 8, "dropout_prob": 0.3},
}


@pytest.fixture
def data_path(tmp_path):
    write_inter(tmp_path / "data" / "tiny" / "tiny.inter", tiny_rows(n_users=40, per_user=14))
    return tmp_path / "data"


def scores(result: dict) -> list[tuple[int, float]]:
    return [(point["epoch"], point["valid_score"]) for point in result["valid_curve"]]


class Interrupted(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("model", sorted(CASES))
def test_resumed_run_ends_exactly_as_the_uninterrupted_one(model, data_path, tmp_path, monkeypatch):
    overrides = {**CASES[model], "epochs": EPOCHS, "stopping_step": 100, "data_path": str(data_path)}
    whole = run(model, "tiny", overrides=overrides, output_dir=tmp_path / "whole")

    save = RunState.save
    for stop_after in (1, EPOCHS - 1):  # right after the first validation, and one before the end
        def save_then_stop(state, trainer, epoch_idx, *args):
            save(state, trainer, epoch_idx, *args)
            if epoch_idx + 1 == stop_after:
                raise Interrupted
        run_dir = tmp_path / f"stopped-after-{stop_after}"
        monkeypatch.setattr(RunState, "save", save_then_stop)
        with pytest.raises(Interrupted):
            run(model, "tiny", overrides=overrides, output_dir=run_dir)
        monkeypatch.setattr(RunState, "save", save)
        resumed = resume(run_dir)
        assert resumed["resumed_after_epoch"] == stop_after
        assert scores(resumed) == scores(whole)
        assert resumed["test_result"] == whole["test_result"]


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_with_one_line_and_the_resumed_run_matches(signal_number, tmp_path):
    write_inter(tmp_path / "data" / "slow" / "slow.inter", tiny_rows(n_users=120, n_items=50, per_user=20))
    overrides = {**FAST_SASREC, "epochs": 5, "stopping_step": 100, "data_path": str(tmp_path / "data")}
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "recbole_ext.cli", "--model", "SASRec", "--dataset", "slow",
                             "--output_dir", str(run_dir), *[f"--{k}={v}" for k, v in overrides.items()]],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (run_dir / RESUME_STATE).is_file():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be stopped"
        time.sleep(0.05)
    proc.send_signal(signal_number)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal_number
    lines = err.strip().splitlines()
    name = signal.Signals(signal_number).name
    assert len(lines) == 1 and lines[0].startswith(f"error: interrupted by {name}"), err
    assert f"python run.py --resume {run_dir}" in lines[0]
    failed = (run_dir / FAILED_MARK).read_text()
    assert f"interrupted by {name}" in failed and f"--resume {run_dir}" in failed
    assert not (run_dir / "result.json").exists()

    assert cli.main(["--resume", str(run_dir)]) == 0
    resumed = json.loads((run_dir / "result.json").read_text())
    whole = run("SASRec", "slow", overrides=overrides, output_dir=tmp_path / "whole")
    assert resumed["resumed"] and scores(resumed) == scores(whole)
    assert resumed["test_result"] == whole["test_result"]


def unfinished_run(data_path, tmp_path):
    """A run directory as a run stopped after its first validation leaves it (result.json gone)."""
    run_dir = tmp_path / "run"
    run("SASRecPaper", "tiny", overrides={**FAST_SASREC, "epochs": 2, "data_path": data_path}, output_dir=run_dir)
    (run_dir / "result.json").unlink()
    return run_dir


def test_resume_refuses_an_edited_config_and_names_the_fresh_run(data_path, tmp_path):
    run_dir = unfinished_run(data_path, tmp_path)
    config_file = run_dir / "config.yaml"
    original = config_file.read_text()
    config_file.write_text(original.replace("learning_rate: 0.001", "learning_rate: 0.01"))
    assert "learning_rate: 0.01" in config_file.read_text()
    with pytest.raises(ConfigError, match=r"config.yaml' was edited since the run wrote it \(learning_rate: "
                                                   r"0.001 -> 0.01\).*python run.py --model SASRecPaper --dataset "
                                                   r"tiny .*--learning_rate=0.01"):
        resume(run_dir)
    assert "learning_rate: 0.01" in config_file.read_text()  # the user's edit is not reverted
    config_file.write_text(original)
    assert resume(run_dir)["resumed"] is True


def test_resume_without_a_saved_state_says_it_starts_over(data_path, tmp_path, caplog):
    run_dir = unfinished_run(data_path, tmp_path)
    (run_dir / RESUME_STATE).unlink()
    with caplog.at_level("WARNING"):
        result = resume(run_dir)
    assert any(f"has no {RESUME_STATE}" in r.getMessage() and "starts over" in r.getMessage() for r in caplog.records)
    assert result["epochs"] == 2


def test_recommend_refuses_an_unfinished_run_unless_asked_and_names_the_epoch(data_path, tmp_path, capsys):
    from recbole_ext.recommend import main as recommend_main, recommend

    run_dir = unfinished_run(data_path, tmp_path)
    assert recommend_main([str(run_dir), "--users", "u1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has not finished" in err and "from epoch" in err and "--allow_unfinished" in err
    rows = recommend(run_dir, users=["u1"], k=3, allow_unfinished=True)
    assert len(rows) == 3 and "recommending from its best checkpoint so far (epoch" in capsys.readouterr().err


def test_resume_after_the_data_moved_takes_data_path(data_path, tmp_path, capsys):
    import shutil

    run_dir = unfinished_run(data_path, tmp_path)
    moved = tmp_path / "moved"
    shutil.move(data_path, moved)
    capsys.readouterr()
    assert cli.main(["--resume", str(run_dir)]) == 2
    assert "--data_path" in capsys.readouterr().err
    assert cli.main(["--resume", str(run_dir), f"--data_path={moved}"]) == 0
    assert json.loads((run_dir / "result.json").read_text())["resumed"] is True
    assert json.loads((run_dir / "run.json").read_text())["overrides"]["data_path"] == str(moved)
