"""No output file a user names is replaced without --overwrite; with it, the old file is replaced whole."""

from __future__ import annotations

from recbole_ext import cli
from recbole_ext.convert import main as convert_main
from recbole_ext.recommend import main as recommend_main
from recbole_ext.split import main as split_main
from tests.helpers import FAST_SASREC
from tests.data.converters.test_movielens import write_ml100k

OLD = "a result someone kept\n"


def refused(capsys, path, flag="--output"):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{flag} '{path}' already exists" in err and "--overwrite" in err
    assert path.read_text() == OLD


def test_split_output(tiny_dataset, tmp_path, capsys):
    data_path, name = tiny_dataset
    out = tmp_path / "split.tsv"
    out.write_text(OLD)
    args = ["--dataset", name, "--output", str(out), f"--data_path={data_path}"]
    assert split_main(args) == 2
    refused(capsys, out)
    assert split_main([*args, "--overwrite"]) == 0
    assert out.read_text().startswith("phase") or out.read_text() != OLD
    assert not list(tmp_path.glob("*.tmp"))


def test_recommend_output_is_checked_before_any_work(tmp_path, capsys):
    out = tmp_path / "recs.csv"
    out.write_text(OLD)
    assert recommend_main([str(tmp_path / "no-such-run"), "--output", str(out)]) == 2
    refused(capsys, out)


def test_result_file_is_checked_before_any_training(tiny_dataset, tmp_path, capsys):
    data_path, name = tiny_dataset
    out = tmp_path / "result.json"
    out.write_text(OLD)
    overrides = [f"--{key}={value}" for key, value in {**FAST_SASREC, "data_path": data_path}.items()]
    args = ["--model", "SASRecPaper", "--dataset", name, "--result_file", str(out), *overrides]
    assert cli.main([*args, "--output_dir", str(tmp_path / "run1")]) == 2
    refused(capsys, out, "--result_file")
    assert not (tmp_path / "run1").exists()
    assert cli.main([*args, "--output_dir", str(tmp_path / "run2"), "--overwrite"]) == 0
    assert '"test_result"' in out.read_text()


def test_converted_files(tmp_path, capsys):
    src = write_ml100k(tmp_path / "raw")
    args = ["ml-100k", "--input", str(src), "--output-dir", str(tmp_path / "out")]
    assert convert_main(args) == 0
    inter = tmp_path / "out" / "ml100k" / "ml100k.inter"
    inter.write_text(OLD)
    capsys.readouterr()
    assert convert_main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--overwrite" in err
    assert inter.read_text() == OLD
    assert convert_main([*args, "--overwrite"]) == 0
    assert inter.read_text().startswith("user_id:token")
