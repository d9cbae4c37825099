"""recommend: one clear line for a model without a ranking and for data that moved."""

from __future__ import annotations

import shutil

from recbole_ext import run
from recbole_ext.recommend import main
from tests.helpers import FAST, FAST_SASREC, tiny_rows, write_inter


def test_a_rating_model_is_refused_with_what_to_use(tmp_path, capsys):
    root = tmp_path / "data" / "tinyr"
    root.mkdir(parents=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"u{u}\ti{i}\t{1 + (u + i) % 5}\t{t}" for u, i, t in tiny_rows()]
    (root / "tinyr.inter").write_text("\n".join(lines) + "\n")
    run("BiasedMF", "tinyr", overrides={**FAST, "data_path": tmp_path / "data"}, output_dir=tmp_path / "run")
    capsys.readouterr()
    assert main([str(tmp_path / "run"), "--users", "u1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BiasedMF" in err and "cannot rank every item" in err


def test_moved_data_is_named_and_found_again_with_data_path(tmp_path, capsys):
    write_inter(tmp_path / "d1" / "tiny" / "tiny.inter", tiny_rows())
    run("SASRecPaper", "tiny", overrides={**FAST_SASREC, "data_path": tmp_path / "d1"}, output_dir=tmp_path / "run")
    shutil.move(tmp_path / "d1", tmp_path / "d2")
    capsys.readouterr()
    assert main([str(tmp_path / "run"), "--users", "u1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "d1/tiny/tiny.inter is missing" in err and "--data_path" in err
    assert main([str(tmp_path / "run"), "--users", "u1", "--k", "3", "--data_path", str(tmp_path / "d2")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 3  # header and three items


def test_phase_lists_refuse_a_user_filter_before_any_work(tmp_path, capsys):
    from recbole_ext.recommend import main

    assert main([str(tmp_path / "no-run"), "--phase", "test", "--users", "u1"]) == 2
    assert "--phase lists every target of the phase" in capsys.readouterr().err
