"""python -m recbole_ext.convert: the report it prints, and one line for what it refuses."""

from __future__ import annotations

from tests.data.converters.test_movielens import write_ml100k


from recbole_ext.convert import main


def test_cli_prints_report_and_refuses_recbole_names(tmp_path, capsys):
    src = write_ml100k(tmp_path / "raw")
    assert main(["ml-100k", "--input", str(src), "--output-dir", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("read 5 lines\nwrote 5 rows to ")
    assert "interactions: 3 users, 4 items\nskipped 0 rows\nbad lines: 0\n" in printed
    assert main(["ml-100k", "--input", str(src), "--output-dir", str(tmp_path / "out"), "--name", "ml-100k"]) == 2
    assert "is one RecBole treats specially" in capsys.readouterr().err
    assert not (tmp_path / "out" / "ml-100k").exists()


def test_an_empty_ratings_file_is_one_line(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "u.data").write_text("")
    assert main(["ml-100k", "--input", str(tmp_path / "raw"), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the ratings file is empty (0 lines read): nothing was written" in err
    assert not (tmp_path / "out" / "ml100k").exists()
