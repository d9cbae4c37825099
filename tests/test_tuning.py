"""Hyperparameter search through the pipeline: HyperTuning (hyperopt) and Ray Tune on a tiny dataset."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from recbole.trainer.hyper_tuning import _spacesize

from recbole_ext.config import SEARCH_SPACES_DIR, read_yaml
from recbole_ext.errors import ConfigError
from recbole_ext.config import build_config
from recbole_ext.models import MODELS
from recbole_ext.tuning import FAILED_LOSS, hyperopt_space, read_space, tune
from tests.helpers import FAST_SASREC

from recbole_ext import cli as run_script


BENCHMARK_SPACES_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "spaces"  # the presets' searches
SPACES = sorted(SEARCH_SPACES_DIR.glob("*.hyper")) + sorted(BENCHMARK_SPACES_DIR.glob("*.hyper"))


def test_trial_table_cells_keep_small_values_readable():
    """A weight decay of 1e-05 was printed 0.0000 in trials.md: small values keep their digits."""
    from recbole_ext.tuning import _cell

    assert [_cell(v) for v in (1e-05, 3e-5, 0.1688, 0.0, 0.001, 12345.0, None, 64)] == \
        ["1e-05", "3e-05", "0.1688", "0.0000", "0.0010", "1.234e+04", "", "64"]


def test_a_space_for_each_of_our_models_and_the_stock_ones():
    assert set(MODELS) | {"SASRec", "GRU4Rec", "Caser"} <= {path.stem for path in SPACES}


@pytest.mark.parametrize("space_file", SPACES, ids=lambda path: path.stem)
def test_search_spaces_name_real_keys_of_their_model(space_file):
    """A typo would silently tune nothing: RecBole's config["typo"] is None.

    A model's own space is named after it (``SASRecPaper.hyper``); a preset's searches start with the
    model's name in lower case (``caserpaper-ml1m-ce-wd.hyper``).
    """
    by_lower_name = {name.lower(): name for name in [*MODELS, "SASRec", "GRU4Rec", "Caser"]}
    model = by_lower_name.get(space_file.stem.lower()) or by_lower_name.get(space_file.stem.split("-")[0])
    assert model, f"{space_file.name} names no model: start its name with one of {sorted(by_lower_name)}"
    config = build_config(model, "ml-100k")
    space = read_space(space_file)
    unknown = [name for name in space if name not in config.final_config_dict]
    assert not unknown, f"{space_file.name}: {unknown} are not configuration keys of {model}"
    if space_file.stem != model:
        return  # a preset's search: its comment gives the command and the trials
    stated = re.search(r"Exhaustive: .*= (\d+) trials", space_file.read_text())
    assert stated and _spacesize(hyperopt_space(space_file)) == int(stated.group(1))


@pytest.fixture
def two_point_space(tmp_path):
    path = tmp_path / "space.hyper"
    path.write_text("# two learning rates\nlearning_rate choice [0.01,0.001]\n")
    return path


def test_read_space_parses_recbole_syntax(tmp_path):
    path = tmp_path / "s.hyper"
    path.write_text("learning_rate loguniform -8,-5\ndropout_prob choice [0.2, 0.5]\n\n"
                    "n_layers quniform 1,3,1\nw uniform 0,0.5\n")
    assert read_space(path) == {
        "learning_rate": ("loguniform", [-8.0, -5.0]), "dropout_prob": ("choice", [0.2, 0.5]),
        "n_layers": ("quniform", [1.0, 3.0, 1.0]), "w": ("uniform", [0.0, 0.5]),
    }
    path.write_text("learning_rate lognormal 1,2\n")
    with pytest.raises(ConfigError, match=r"s.hyper:1: .*unknown type 'lognormal'"):
        read_space(path)
    path.write_text("learning_rate choice [0.1]\n# a comment\nhidden_size choice [8]\nlearning_rate choice [0.2]\n")
    with pytest.raises(ConfigError, match=r"s.hyper:4: 'learning_rate' is already searched on line 1"):
        read_space(path)


def test_exhaustive_search_writes_table_and_loadable_best_params(tiny_dataset, tmp_path, two_point_space):
    data_path, name = tiny_dataset
    out = tmp_path / "search"
    result = tune("SASRec", name, two_point_space, algo="exhaustive",
                  overrides={**FAST_SASREC, "data_path": data_path}, output_dir=out)
    rows = result["trials"]
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert sorted(row["params"]["learning_rate"] for row in rows) == [0.001, 0.01]
    # every trial ran in its own directory, through the pipeline
    assert {row["output_dir"] for row in rows} == {str(out / "trials" / "0000"), str(out / "trials" / "0001")}
    for row in rows:
        run_result = json.loads((out / "trials" / row["trial"] / "result.json").read_text())
        assert run_result["test_result"] == row["test_result"]
        assert row["best_valid_score"] == run_result["best_valid_result"]["ndcg@10"]
    best = max(rows, key=lambda row: row["best_valid_score"])
    assert result["best"] == best
    with open(out / "trials.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["trial"] for r in table] == ["0000", "0001"]
    assert {"learning_rate", "valid ndcg@10", "test hit@10", "test ndcg@20", "train_seconds"} <= set(table[0])
    assert float(table[1]["test ndcg@10"]) == pytest.approx(rows[1]["test_result"]["ndcg@10"], abs=1e-4)
    assert (out / "trials.md").read_text().count("| ok |") == 2
    assert read_yaml(out / "best_params.yaml") == {"learning_rate": best["params"]["learning_rate"]}
    # the best parameters file is a config file the pipeline accepts: same params -> same metrics
    rerun = run_script.main(["--model", "SASRec", "--dataset", name, f"--data_path={data_path}",
                             "--config_files", str(out / "best_params.yaml"), "--output_dir", str(tmp_path / "re"),
                             *[f"--{k}={v}" for k, v in FAST_SASREC.items()]])
    assert rerun == 0
    assert json.loads((tmp_path / "re" / "result.json").read_text())["test_result"] == best["test_result"]


def test_failing_trial_is_recorded_and_search_goes_on(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    space = tmp_path / "space.hyper"
    space.write_text("n_heads choice [3,1]\n")  # hidden_size 16 is not a multiple of 3 heads
    out = tmp_path / "search"
    result = tune("SASRec", name, space, overrides={**FAST_SASREC, "data_path": data_path}, output_dir=out)
    by_heads = {row["params"]["n_heads"]: row for row in result["trials"]}
    assert set(by_heads) == {1, 3}
    assert by_heads[3]["status"] == "failed" and by_heads[3]["loss"] == FAILED_LOSS
    assert "not a multiple of n_heads=3" in by_heads[3]["error"]
    assert "Traceback" in (out / "trials" / by_heads[3]["trial"] / "error.txt").read_text()
    assert by_heads[1]["status"] == "ok" and result["best"] is by_heads[1]
    assert read_yaml(out / "best_params.yaml") == {"n_heads": 1}
    assert "| failed |" in (out / "trials.md").read_text()


def test_random_search_draws_max_evals_trials_reproducibly(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    space = tmp_path / "space.hyper"
    space.write_text("learning_rate loguniform -8,-5\n")
    overrides = {**FAST_SASREC, "data_path": data_path}
    first = tune("SASRec", name, space, algo="random", max_evals=2, overrides=overrides, output_dir=tmp_path / "a")
    lrs = [row["params"]["learning_rate"] for row in first["trials"]]
    assert len(lrs) == 2 and all(0.000335 < lr < 0.00674 for lr in lrs) and lrs[0] != lrs[1]
    again = tune("SASRec", name, space, algo="random", max_evals=1, overrides=overrides, output_dir=tmp_path / "b")
    assert again["trials"][0]["params"]["learning_rate"] == lrs[0]


@pytest.mark.slow
def test_ray_tune_runs_two_concurrent_cpu_trials(tiny_dataset, tmp_path, two_point_space, monkeypatch, capsys):
    pytest.importorskip("ray")
    data_path, name = tiny_dataset
    monkeypatch.chdir(tmp_path)  # a relative data_path, as typed: Ray trials run in folders of their own
    data_path = os.path.relpath(data_path)
    out = tmp_path / "ray-search"
    result = tune("SASRec", name, two_point_space, tool="ray", overrides={**FAST_SASREC, "data_path": data_path},
                  output_dir=out, ray_options={"num_cpus": 2, "cpus_per_trial": 1})
    rows = result["trials"]
    assert [row["status"] for row in rows] == ["ok", "ok"], [row["error"] for row in rows]
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial ")]
    assert [line.split(" (")[0] for line in printed] == ["trial 1/2", "trial 2/2"]  # one line per finished trial
    assert sorted(row["params"]["learning_rate"] for row in rows) == [0.001, 0.01]
    # same trial, same metrics as the in-process search (the pipeline is deterministic per seed)
    local = tune("SASRec", name, two_point_space, overrides={**FAST_SASREC, "data_path": data_path},
                 output_dir=tmp_path / "local")
    by_lr = {row["params"]["learning_rate"]: row["test_result"] for row in local["trials"]}
    for row in rows:
        assert row["test_result"] == pytest.approx(by_lr[row["params"]["learning_rate"]], abs=1e-6)
        assert (out / "trials" / row["trial"] / "result.json").is_file()
    assert (out / "best_params.yaml").is_file() and (out / "trials.csv").is_file()
    # the two trials overlapped in time: both ran at once on the 2 CPUs Ray was given
    first, second = sorted(rows, key=lambda row: row["started_at"])
    assert second["started_at"] < first["finished_at"]


def test_run_py_tune_flag_runs_the_search(tiny_dataset, tmp_path, two_point_space, capsys):
    data_path, name = tiny_dataset
    out = tmp_path / "cli"
    code = run_script.main(["--model", "SASRec", "--dataset", name, "--tune", str(two_point_space),
                            "--output_dir", str(out), f"--data_path={data_path}",
                            *[f"--{k}={v}" for k, v in FAST_SASREC.items()]])
    assert code == 0
    captured = capsys.readouterr()
    assert "2 trials, 2 ok" in captured.out
    # one line per finished trial with its count, parameters, valid metric and the best so far
    lines = [line for line in captured.out.splitlines() if line.startswith("trial ")]
    assert [line.split(" (")[0] for line in lines] == ["trial 1/2", "trial 2/2"]
    assert all("learning_rate=" in line and "-> valid ndcg@10 " in line and "best so far" in line for line in lines)
    assert "\x1b[" not in captured.out + captured.err  # no colour codes when not on a terminal
    assert "SASRec(" not in captured.out + captured.err  # the model structure goes to the trial's run.log only
    assert "SASRec(" in (out / "trials" / "0000" / "run.log").read_text()
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 2
    assert "learning_rate" in read_yaml(out / "best_params.yaml")


def stop_processes_of(temp_dir: str) -> None:
    """Stop the processes of the Ray cluster whose ``--temp-dir`` is ``temp_dir`` (they name it on
    their command lines), and only those: a search the user runs beside the tests keeps running."""
    import signal
    import time

    def pids() -> list[int]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if temp_dir.encode() in cmdline.read_bytes():
                    found.append(int(cmdline.parent.name))
            except OSError:
                continue
        return found

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 30
        while pids() and time.monotonic() < deadline:
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(), reason="finds the cluster's processes in Linux /proc")
def test_ray_tune_joins_a_running_cluster(tiny_dataset, tmp_path, two_point_space, capsys):
    """``ray start --head`` then ``--ray_address HOST:PORT``: the trials run on that cluster's CPUs."""
    pytest.importorskip("ray")
    import os
    import socket
    import subprocess
    import sys
    import tempfile

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    temp_dir = tempfile.mkdtemp(prefix="rbx-head-", dir="/tmp")  # short: Ray's socket paths
    started = subprocess.run([*ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
                              "--include-dashboard=false", f"--temp-dir={temp_dir}", "--disable-usage-stats"],
                             capture_output=True, text=True, timeout=180, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        data_path, name = tiny_dataset
        result = tune("SASRec", name, two_point_space, tool="ray", overrides={**FAST_SASREC, "data_path": data_path},
                      output_dir=tmp_path / "on-cluster",
                      ray_options={"address": f"127.0.0.1:{port}", "cpus_per_trial": 1})
    finally:
        stop_processes_of(temp_dir)  # never `ray stop`: it would stop every Ray cluster on the machine
    rows = result["trials"]
    assert [row["status"] for row in rows] == ["ok", "ok"], [row["error"] for row in rows]
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial ")]
    assert [line.split(" (")[0] for line in printed] == ["trial 1/2", "trial 2/2"]  # one line per finished trial
    assert all(row["test_result"] for row in rows)
