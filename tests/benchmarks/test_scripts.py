"""Every script under benchmarks/ runs as shipped: a smoke test each, on a tiny fixture, in a subprocess.

They check that a script starts, trains what it trains and prints its table, not its numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, tiny_rows, write_inter

pytestmark = pytest.mark.slow
BENCHMARKS = REPO_ROOT / "benchmarks"
SMALL_SEQ = ["MAX_ITEM_LIST_LENGTH=10", "train_batch_size=64", "eval_batch_size=256"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench-data")
    write_inter(root / "tiny" / "tiny.inter", tiny_rows(n_users=30, n_items=40, per_user=12))
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"u{u}\ti{i}\t{1 + (u + i) % 5}\t{t}" for u, i, t in tiny_rows(n_users=30, n_items=40, per_user=12)]
    (root / "tinyr").mkdir()
    (root / "tinyr" / "tinyr.inter").write_text("\n".join(lines) + "\n")
    return root


def run_script(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_every_script_has_a_smoke_test():
    tested = {"bench_sasrec.py", "bench_gru4rec.py", "bench_caser.py", "bench_rating.py", "bench_defaults.py",
              "bench_gpu.py", "bench_data.py", "bench_sampled_eval.py", "bench_convert.py", "make_synthetic.py",
              "bench_ddp.py", "bench_scale.py", "bench_step.py", "bench_grid.py", "bench_peers.py"}
    helpers = {"results_page.py"}  # imported by the scripts; tests/benchmarks/test_results_page.py
    assert {p.name for p in BENCHMARKS.glob("*.py")} == tested | helpers
    for path in BENCHMARKS.glob("*.py"):
        assert "sys.path" not in path.read_text(), f"{path.name} edits sys.path"


def test_bench_sasrec(data, tmp_path):
    out = run_script("bench_sasrec.py", "--dataset", "tiny", "--data-path", str(data), "--epochs", "1",
                     "--stock-max-minutes", "0", "--ours-max-minutes", "0", "--out", str(tmp_path),
                     "--set", *SMALL_SEQ, "hidden_size=16", "inner_size=32", "n_layers=1", "n_heads=1", cwd=tmp_path)
    assert "time-to-quality" in out


def test_bench_gru4rec(data, tmp_path):
    out = run_script("bench_gru4rec.py", "--dataset", "tiny", "--epochs", "1", "--stock-max-minutes", "0",
                     "--ours-max-minutes", "0", "--out", str(tmp_path), "--set", f"data_path={data}", *SMALL_SEQ,
                     cwd=tmp_path)
    assert "test NDCG@10 ratio" in out


def test_bench_caser(data, tmp_path):
    out = run_script("bench_caser.py", "--dataset", "tiny", "--data_path", str(data), "--epochs", "1",
                     "--stock-minutes", "0", "--sweep", "3", "--sweep-epochs", "1", "--out", str(tmp_path), cwd=tmp_path)
    assert "L sweep" in out and "| L=3 |" in out


def test_bench_rating(data, tmp_path):
    out = run_script("bench_rating.py", "--dataset", "tinyr", "--data_path", str(data), "--only", "tutorial-mf",
                     "--epochs-scale", "0.01", "--out", str(tmp_path), cwd=tmp_path)
    assert "BiasedMF (tutorial preset)" in out


def test_bench_defaults(data, tmp_path):
    out = run_script("bench_defaults.py", "--models", "SASRecPaper", "--dataset", "tiny", "--data_path", str(data),
                     "--cap", "0", "--jobs", "2", "--out", str(tmp_path), "--set", "epochs=1", *SMALL_SEQ, cwd=tmp_path)
    assert "SASRecPaper" in out


def test_bench_gpu(data, tmp_path):
    out = run_script("bench_gpu.py", "--datasets", "tiny", "--models", "SASRec", "SASRecPaper", "--cap_ml1m", "0",
                     "--jobs", "2", "--data_path", str(data), "--out", str(tmp_path), cwd=tmp_path)
    assert "SASRecPaper" in out


def test_bench_data(data, tmp_path):
    out = run_script("bench_data.py", "--dataset", "tiny", "--data_path", str(data), "--sides", "recbole", "ours",
                     "run", cwd=tmp_path)
    assert "ours / recbole" in out and "| run |" in out


def test_bench_sampled_eval(data, tmp_path):
    out = run_script("bench_sampled_eval.py", "--dataset", "tiny", "--data_path", str(data), "--old_rows", "8",
                     "--repeats", "1", "--config_files", "sasrec-paper-ml1m", "--set", "ranking_neg_num=10",
                     "MAX_ITEM_LIST_LENGTH=10", cwd=tmp_path)
    assert out.strip()


def test_bench_convert(tmp_path):
    out = run_script("bench_convert.py", "--rows", "3000", "--workdir", str(tmp_path / "work"), cwd=tmp_path)
    assert "same rows: True" in out
    out = run_script("bench_convert.py", "--csv-scale", "0.0001", "--workdir", str(tmp_path / "csv"), cwd=tmp_path)
    assert "same file written: True" in out and "| ours: recbole_ext converter |" in out


def test_make_synthetic(tmp_path):
    out = run_script("make_synthetic.py", "--shape", "tiny", "--output-dir", str(tmp_path), cwd=tmp_path)
    text = (tmp_path / "tiny-synth" / "tiny-synth.inter").read_text()
    assert "wrote" in out and len(text.splitlines()) == 20_001  # header + the shape's interactions
    again = tmp_path / "again"
    run_script("make_synthetic.py", "--shape", "tiny", "--output-dir", str(again), cwd=tmp_path)
    assert (again / "tiny-synth" / "tiny-synth.inter").read_text() == text  # same seed, same bytes


def test_bench_ddp(data, tmp_path):
    out = run_script("bench_ddp.py", "--dataset", "tiny", "--data_path", str(data), "--config_files", "--epochs", "1",
                     "--set", *SMALL_SEQ, cwd=tmp_path)
    assert "| torchrun | 2 x 1 |" in out and "torchrun / one" in out and "PSS together" in out


def test_bench_scale(tmp_path):
    out = run_script("bench_scale.py", "--work", str(tmp_path / "work"), "--scale", "0.0003", "--steps", "3",
                     "--test_users", "20", cwd=tmp_path)
    raw = tmp_path / "work" / "raw" / "goodreads-synth-0p0003" / "goodreads_interactions.csv"
    assert raw.read_text().splitlines()[0] == "user_id,book_id,is_read,rating,is_reviewed"
    for stage in ("| generate |", "| convert |", "| load (text parsed, cache written) |", "3 steps + test |"):
        assert stage in out
    assert "full_masked" in out and "sampled_masked" in out and "steps/s" in out


def test_bench_step(data, tmp_path):
    out = run_script("bench_step.py", "--dataset", "tiny", "--data_path", str(data), "--steps", "2", "--warmup", "1",
                     "--models", "SASRecPaper=sasrec-ml1m-ce", "CaserPaper=caser-ml1m-ce", "GRU4RecPaper=gru4rec-ml1m",
                     "--precision", "fp32", "--epoch", "--profile", "1", "--set", *SMALL_SEQ,
                     "CaserPaper:MAX_ITEM_LIST_LENGTH=4", "CaserPaper:n_targets=2", cwd=tmp_path)
    for model in ("SASRecPaper", "CaserPaper", "GRU4RecPaper"):
        assert f"| {model} | this commit | fp32 |" in out
        assert f"[bench_step] {model} fp32: the top operations over 1 profiled steps" in out
    assert out.count("| operation | ms a step | share | calls a step |") == 3
    assert "x roofline" in out and "Measured peak at each group's shape" in out


def test_bench_step_asks_each_rows_device_for_bf16(data, tmp_path):
    """A bf16 row runs where its device computes bfloat16 and is left out with its reason elsewhere."""
    from recbole_ext.precision import computes_bf16

    args = ["--dataset", "tiny", "--data_path", str(data), "--steps", "1", "--warmup", "0",
            "--models", "GRU4RecPaper=gru4rec-ml1m", "--set", *SMALL_SEQ, "device=cpu"]
    out = run_script("bench_step.py", *args, "--precision", "fp32", "bf16", cwd=tmp_path)
    if computes_bf16("cpu"):
        assert "| GRU4RecPaper | this commit | bf16 |" in out
        return
    assert "GRU4RecPaper (gru4rec-ml1m): bf16 row left out:" in out
    assert "| GRU4RecPaper | this commit | fp32 |" in out and "| bf16 |" not in out
    alone = subprocess.run([sys.executable, str(BENCHMARKS / "bench_step.py"), *args, "--precision", "bf16"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert alone.returncode == 1 and "no row to measure" in alone.stderr and "--precision fp32" in alone.stderr


def test_bench_step_rounds_against_a_baseline(data, tmp_path):
    """--rounds 2 --baseline HEAD: this commit, then HEAD's package, twice; the ratios round by round."""
    out = run_script("bench_step.py", "--dataset", "tiny", "--data_path", str(data), "--steps", "1", "--warmup", "0",
                     "--models", "GRU4RecPaper=gru4rec-ml1m", "--precision", "fp32", "--rounds", "2",
                     "--baseline", "HEAD", "--set", *SMALL_SEQ, cwd=tmp_path)
    assert out.count("[bench_step] baseline HEAD") == 2 and "| GRU4RecPaper | HEAD | fp32 |" in out
    assert "GRU4RecPaper fp32: step " in out and "(rounds: " in out and "the median of 2 rounds" in out


def test_bench_step_baseline_from_an_archive(data, tmp_path):
    """--baseline REV.tar: the package archived where the history is, for a machine without it (the GPU's)."""
    archive = tmp_path / "base.tar"
    subprocess.run(["git", "archive", "-o", str(archive), "HEAD", "recbole_ext"], cwd=REPO_ROOT, check=True)
    out = run_script("bench_step.py", "--dataset", "tiny", "--data_path", str(data), "--steps", "1", "--warmup", "0",
                     "--models", "GRU4RecPaper=gru4rec-ml1m", "--precision", "fp32", "--baseline", str(archive),
                     "--set", *SMALL_SEQ, cwd=tmp_path)
    assert "| GRU4RecPaper | base | fp32 |" in out and "GRU4RecPaper fp32: step " in out


def test_bench_grid(data, tmp_path):
    out = run_script("bench_grid.py", "--models", "SASRecPaper", "--datasets", "tiny", "--seed_list", "2020",
                     "--in_process", "--out", str(tmp_path / "grid"), "--set", f"data_path={data}", "--set", "epochs=1",
                     *(f"--set={s}" for s in SMALL_SEQ), cwd=tmp_path)
    assert "SASRecPaper" in out and (tmp_path / "grid" / "results.md").is_file()


def test_bench_peers(data, tmp_path):
    """Our side and stock RecBole's (the peers' virtualenvs are optional: --libraries ... rectools)."""
    out = run_script("bench_peers.py", "--dataset", "tiny", "--data_path", str(data), "--budget", "5",
                     "--libraries", "ours", "recbole", "--out", str(tmp_path / "peers"),
                     *(f"--set={s}" for s in [*SMALL_SEQ, "hidden_size=16", "inner_size=16", "epochs=1"]), cwd=tmp_path)
    assert "recbole-ext (SASRecPaper)" in out and "RecBole 1.2.1 (SASRec)" in out
    assert out.count("the evaluator reproduces its run's own test_result") == 2
    assert "Preset `sasrec-ml1m-ce` (d 16, 2 blocks, 1 head(s), dropout 0.1, length 10, batch 64, lr 0.001;" in out
    assert "What maps from the preset to each peer" in out and "| n_layers | n_layers | n_blocks | block_count |" in out


def test_device_check_script_parses_and_says_how_to_use_it():
    """benchmarks/device_check.sh runs on a lent GPU (its dry run needs .device/, made by its prepare step)."""
    script = BENCHMARKS / "device_check.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage: bash benchmarks/device_check.sh prepare|run" in proc.stderr

