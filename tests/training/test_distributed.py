"""Data-parallel runs under torchrun on the CPU (gloo): 2 processes train and score as 1 does.

The 2-process run trains on the same global batches as the 1-process run (each rank builds half
of every batch); DDP averages the two halves' gradients, weighted by their loss terms. The
gradients are then sums in another order, so parameters differ from the 1-process run's in the last
bits of float32. With dropout 0 and cross-entropy (no draw inside a batch), the losses agree to
1e-5 relative and the metrics, which RecBole rounds to 4 decimals, are equal: we allow 1e-4, one
unit of that rounding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from recbole_ext.training import distributed
from recbole_ext.errors import RecboleExtError
from recbole_ext.outputs import FAILED_MARK, RESULT, RESUME_STATE
from tests.helpers import REPO_ROOT, tiny_rows, write_inter

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch built without gloo")

EXACT = ["--n_layers=1", "--n_heads=1", "--hidden_size=16", "--inner_size=32", "--hidden_dropout_prob=0",
         "--attn_dropout_prob=0", "--loss_type=CE", "--train_batch_size=8", "--eval_batch_size=16",
         "--MAX_ITEM_LIST_LENGTH=10", "--ranking_protocol=full_masked", "--show_progress=False",
         "--state=INFO", "--torch_threads=1"]


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "data"
    write_inter(path / "tiny" / "tiny.inter", tiny_rows(n_users=41, per_user=14))  # 41: uneven shares
    return path


def command(n_procs: int, *args: str) -> list[str]:
    run_py = str(REPO_ROOT / "run.py")
    if n_procs == 1:
        return [sys.executable, run_py, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_procs}", run_py, *args]


def launch(n_procs: int, *args: str, cwd: Path, wait: bool = True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if wait:
        return subprocess.run(command(n_procs, *args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(command(n_procs, *args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def train_losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "run.log").read_text().splitlines()
    return [float(line.rsplit("train loss:", 1)[1].strip(" ]")) for line in lines if "train loss:" in line]


def test_two_processes_end_with_the_one_process_metrics(data_path, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where rank 0 puts the arrays both ranks map
    args = ["--model", "SASRecPaper", "--dataset", "tiny", f"--data_path={data_path}", "--epochs=4", *EXACT]
    results = {}
    for n_procs in (1, 2):
        done = launch(n_procs, *args, f"--output_dir={tmp_path / str(n_procs)}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        results[n_procs] = json.loads((tmp_path / str(n_procs) / RESULT).read_text())
    one, two = results[1], results[2]
    assert two["world_size"] == 2 and len(two["peak_rss_mb_per_rank"]) == 2 and len(two["pss_mb_per_rank"]) == 2
    assert not list(tmp_path.glob("recbole-ext-shared-data-*"))  # removed once both ranks mapped it
    assert train_losses(tmp_path / "2") == pytest.approx(train_losses(tmp_path / "1"), rel=1e-5)
    assert [p["valid_score"] for p in two["valid_curve"]] == pytest.approx(
        [p["valid_score"] for p in one["valid_curve"]], abs=1e-4)
    assert two["test_result"] == pytest.approx(one["test_result"], abs=1e-4)
    assert len(list((tmp_path / "2" / "checkpoint").iterdir())) == 1  # rank 0's best model only


def test_bad_data_stops_every_rank_with_the_loading_rank_s_error(tmp_path, monkeypatch):
    """Only rank 0 reads the file; its error reaches rank 1, which does not wait for data that never comes."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    path = tmp_path / "data" / "bad" / "bad.inter"
    write_inter(path, tiny_rows(n_users=6, per_user=5))
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\t"  # a missing timestamp on line 4
    path.write_text("\n".join(lines) + "\n")
    done = launch(2, "--model", "SASRecPaper", "--dataset", "bad", f"--data_path={tmp_path / 'data'}", *EXACT,
                  f"--output_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert done.returncode != 0
    assert "bad.inter:4: timestamp missing" in done.stderr
    assert "rank 0 could not load the data" in done.stderr  # rank 1's line
    assert not list(tmp_path.glob("recbole-ext-shared-data-*"))


def test_a_full_disk_for_the_shared_data_is_one_line_naming_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # what TMPDIR sets, once per process
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        def full_disk(value, folder):
            folder.mkdir()
            raise OSError(28, "No space left on device")

        with pytest.raises(RecboleExtError, match=f"{tmp_path}/recbole-ext-shared-data-.*No space left on device"
                                                  ".*point TMPDIR at a folder with room"):
            distributed.one_copy_per_machine(lambda: "data", full_disk, None, distributed.World(0, 1, 0))
        assert not list(tmp_path.glob("recbole-ext-shared-data-*"))
    finally:
        torch.distributed.destroy_process_group()


def worker_pids(launcher: subprocess.Popen) -> dict[int, int]:
    """{rank: pid} of the workers torchrun started."""
    found = {}
    for child in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        rank = next((int(v.split(b"=")[1]) for v in environ if v.startswith(b"RANK=")), None)
        if rank is not None:
            found[rank] = int(child)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the ranks")
def test_killing_one_rank_fails_with_one_line_and_the_run_resumes(data_path, tmp_path):
    run_dir = tmp_path / "run"
    args = ["--model", "SASRecPaper", "--dataset", "tiny", f"--data_path={data_path}", "--epochs=60",
            "--stopping_step=1000", *EXACT]
    launcher = launch(2, *args, f"--output_dir={run_dir}", cwd=tmp_path, wait=False)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / RESUME_STATE).is_file() and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.2)
        assert (run_dir / RESUME_STATE).is_file(), launcher.communicate()[1][-3000:]
        os.kill(worker_pids(launcher)[1], signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode != 0
    ours = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(ours) == 1, stderr[-3000:]
    assert "resume with: torchrun --standalone --nproc_per_node 2 run.py --resume" in ours[0]
    # Ours is that one line; torchrun then prints its own failure summary (one traceback of its launcher).
    assert not [line for line in stderr.splitlines() if line.startswith("[rank")], stderr[-3000:]
    assert stderr.count("Traceback") <= 1
    assert (run_dir / FAILED_MARK).is_file() and not (run_dir / RESULT).exists()

    other_size = launch(1, "--resume", str(run_dir), cwd=tmp_path)
    assert other_size.returncode == 2
    assert "saved by a run of 2 process(es); this one has 1" in other_size.stderr

    resumed = launch(2, "--resume", str(run_dir), cwd=tmp_path, wait=False)
    try:
        _, stderr = resumed.communicate(timeout=600)
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    assert resumed.returncode == 0, stderr[-3000:]
    result = json.loads((run_dir / RESULT).read_text())
    assert result["resumed"] and result["world_size"] == 2 and result["epochs"] == 60


