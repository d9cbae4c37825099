"""run.py / recbole_ext.cli: the run command, its result file and its one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FAST_SASREC

from recbole_ext import cli as run_script


def test_run_script_writes_result_file(tiny_dataset, tmp_path, capsys):
    data_path, name = tiny_dataset
    result_file = tmp_path / "out" / "result.json"
    overrides = [f"--{key}={value}" for key, value in FAST_SASREC.items()]
    code = run_script.main(["--model", "SASRec", "--dataset", name, f"--data_path={data_path}",
                            "--result_file", str(result_file), "--output_dir", str(tmp_path / "r"), *overrides])
    assert code == 0
    result = json.loads(result_file.read_text())
    for key in ("model", "dataset", "best_valid_result", "test_result", "train_seconds", "epochs"):
        assert key in result
    assert "test: hit@5" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--model", "SASRek", "--dataset", "ml-100k"], "Unknown model 'SASRek'. Did you mean SASRec"),
        (["--model", "SASRec", "--dataset", "ml-1m", "--data_path=/nonexistent"], "python -m recbole_ext.convert"),
        (["--model", "SASRec", "--epochs"], "overrides are written --key=value"),
        (["--model", "SASRec", "--dataset", "ml-100k", "--epochs=abc"], "epochs takes a number"),
    ],
)
def test_run_script_errors_are_one_clear_line(args, expected, capsys):
    assert run_script.main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_under_torchrun_a_rank_ends_through_the_shim_with_its_status(monkeypatch, capsys):
    ended = []

    class Ended(Exception):
        pass

    def end_rank(status):
        ended.append(status)
        raise Ended

    monkeypatch.setattr(run_script, "end_torchrun_rank", end_rank)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(Ended):
        run_script.main(["--model", "SASRek", "--dataset", "ml-100k"])
    assert ended == [2] and "Unknown model 'SASRek'" in capsys.readouterr().err
    monkeypatch.delenv("WORLD_SIZE")
    assert run_script.main(["--model", "SASRek", "--dataset", "ml-100k"]) == 2 and ended == [2]
