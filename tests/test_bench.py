"""Benchmark grid: tables in three formats, resume, failures, one cell per subprocess."""

from __future__ import annotations

import csv
import json
import statistics

import pytest

from recbole_ext import bench
from recbole_ext.bench import run_grid
from recbole_ext.errors import ConfigError
from tests.helpers import FAST, FAST_SASREC, tiny_rows, write_inter

OVERRIDES = {"SASRec": FAST_SASREC, "GRU4Rec": {**FAST, "embedding_size": 16, "hidden_size": 16}}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A 2 models x 1 dataset x 2 seeds grid, run in-process (once for this module)."""
    tmp_path = tmp_path_factory.mktemp("bench")
    name = "tiny"
    data_path = tmp_path / "data"
    write_inter(data_path / name / f"{name}.inter", tiny_rows())
    overrides = {"*": {"data_path": str(data_path)}, **OVERRIDES}
    out = tmp_path / "grid"
    summary = run_grid(["SASRec", "GRU4Rec"], [name], out, seeds=[1, 2], overrides=overrides, in_process=True)
    return summary, out, overrides, name


def test_grid_writes_markdown_csv_json_and_plot(grid):
    summary, out, _, name = grid
    assert sorted(summary["ran"]) == sorted(f"{m}__{name}__seed{s}" for m in ("SASRec", "GRU4Rec") for s in (1, 2))
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 4 and data["failed"] == []
    assert {(r["model"], r["seed"]) for r in data["runs"]} == {(m, s) for m in ("SASRec", "GRU4Rec") for s in (1, 2)}
    assert data["meta"]["machine"]["cores"] >= 1 and data["meta"]["git_commit"]
    rows = {row["model"]: row for row in data["summary"]}
    assert set(rows) == {"SASRec", "GRU4Rec"}
    for model, row in rows.items():
        runs = [r for r in data["runs"] if r["model"] == model]
        assert row["seeds"] == [1, 2] and row["dataset"] == name
        assert list(row["metrics"]) == ["hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20"]
        values = [r["test_result"]["ndcg@10"] for r in runs]
        assert row["metrics"]["ndcg@10"]["mean"] == pytest.approx(statistics.mean(values))
        assert row["metrics"]["ndcg@10"]["std"] == pytest.approx(statistics.stdev(values))
        assert row["peak_rss_mb"] == max(r["peak_rss_mb"] for r in runs)
        assert row["eval_protocol"].startswith("leave-one-out")
    # two seeds give two different runs: the spread is real, not a copy
    assert len({r["test_result"]["ndcg@10"] for r in data["runs"] if r["model"] == "SASRec"}) == 2
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == ["SASRec", "GRU4Rec"]
    assert table[0]["n_seeds"] == "2" and table[0]["seeds"] == "1 2"
    assert float(table[0]["ndcg@10_mean"]) == pytest.approx(rows["SASRec"]["metrics"]["ndcg@10"]["mean"], rel=1e-5)
    assert {"hit@5_std", "ndcg@20_mean", "epochs_mean", "seconds_per_epoch_mean", "peak_rss_mb_max"} <= set(table[0])
    md = (out / "results.md").read_text()
    assert "| Model | Dataset | Seeds | HR@5 | HR@10 | HR@20 | NDCG@5 | NDCG@10 | NDCG@20 |" in md
    sasrec_line = next(line for line in md.splitlines() if line.startswith("| SASRec |"))
    assert f"{rows['SASRec']['metrics']['hit@10']['mean']:.4f} ± " in sasrec_line
    assert "Protocol (tiny): leave-one-out" in md and "git " in md
    assert (out / "ndcg_vs_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_skips_finished_cells(grid, monkeypatch):
    summary, out, overrides, name = grid
    result_file = out / "cells" / f"SASRec__{name}__seed1" / "result.json"
    before = result_file.stat().st_mtime_ns
    calls = []
    real = bench.run_cell_in_process
    monkeypatch.setattr(bench, "run_cell_in_process", lambda spec: calls.append(spec) or real(spec))
    # an interrupted cell: its directory exists but holds no result.json
    (out / "cells" / f"GRU4Rec__{name}__seed2" / "result.json").unlink()
    again = run_grid(["SASRec", "GRU4Rec"], [name], out, seeds=[1, 2], overrides=overrides, in_process=True)
    assert again["ran"] == [f"GRU4Rec__{name}__seed2"] and len(calls) == 1
    assert sorted(again["skipped"]) == sorted(f"{c}__{name}__seed{s}" for c, s in [("SASRec", 1), ("SASRec", 2), ("GRU4Rec", 1)])
    assert result_file.stat().st_mtime_ns == before
    # same seed, same cell: the re-run reproduces the interrupted cell's metrics
    rerun = next(r for r in again["runs"] if r["cell"] == f"GRU4Rec__{name}__seed2")
    first = next(r for r in summary["runs"] if r["cell"] == f"GRU4Rec__{name}__seed2")
    assert rerun["test_result"] == first["test_result"]
    assert {tuple(row["seeds"]) for row in again["summary"]} == {(1, 2)}


def test_resume_refuses_cells_run_with_other_settings(grid):
    _, out, overrides, name = grid
    result_file = out / "cells" / f"SASRec__{name}__seed1" / "result.json"
    before = result_file.read_bytes()
    changed = {**overrides, "SASRec": {**overrides["SASRec"], "learning_rate": 0.5}}
    with pytest.raises(ConfigError, match=rf"SASRec__{name}__seed1 \(overrides\).*new --out"):
        run_grid(["SASRec", "GRU4Rec"], [name], out, seeds=[1, 2], overrides=changed, in_process=True)
    assert result_file.read_bytes() == before  # nothing finished is lost


def test_cells_run_in_subprocesses_and_failures_are_recorded(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    overrides = {"*": {"data_path": str(data_path)}, "SASRec": {**FAST_SASREC, "topk": [10, 5000]}, "GRU4Rec": OVERRIDES["GRU4Rec"]}
    out = tmp_path / "grid"
    summary = run_grid(["GRU4Rec", "SASRec"], [name], out, seeds=[5], overrides=overrides, jobs=2)  # at once
    assert [r["cell"] for r in summary["runs"]] == [f"GRU4Rec__{name}__seed5"]
    run = summary["runs"][0]
    assert run["seed"] == 5 and run["peak_rss_mb"] > 50  # the child's own peak: torch + recbole loaded
    assert summary["failed"] == [{"cell": f"SASRec__{name}__seed5",
                                  "error": summary["failed"][0]["error"]}]
    assert "5000 is more than the" in (out / "failed" / f"SASRec__{name}__seed5.txt").read_text()  # after loading
    assert "Cells without a result" in (out / "results.md").read_text()
    assert [row["model"] for row in json.loads((out / "results.json").read_text())["summary"]] == ["GRU4Rec"]


def test_command_line_sets_and_model_configs(tmp_path):
    assert bench.parse_sets(["epochs=3", "SASRec:learning_rate=1e-4", "SASRec:block_norm=pre"]) == {
        "*": {"epochs": 3}, "SASRec": {"learning_rate": 1e-4, "block_norm": "pre"}}
    assert bench.parse_model_configs(["SASRec=a.yaml", "SASRec=b.yaml"], ["c.yaml"]) == {
        "*": ["c.yaml"], "SASRec": ["a.yaml", "b.yaml"]}
    assert bench.cell_overrides("SASRec", 7, {"*": {"epochs": 3, "seed": 1}, "SASRec": {"epochs": 4}}, 60.0) == {
        "show_progress": False, "epochs": 4, "seed": 7, "max_train_seconds": 60.0}
