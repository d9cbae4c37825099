"""The package stands alone: a wheel installed in a fresh venv trains, finds its presets by name and
its data in ./atomic_data, from a directory that is not the repository."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import FAST_SASREC, REPO_ROOT, tiny_rows, write_inter


def sh(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_a_job_and_a_preset_by_name(tmp_path):
    sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
       "-w", tmp_path / "dist", REPO_ROOT)
    wheel = next((tmp_path / "dist").glob("recbole_ext-*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = Path(sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # The fresh venv sees this environment's dependencies (torch, recbole, ...) but not its
    # recbole_ext: a .pth line adds a directory without running that directory's own .pth files
    # (where an editable install of recbole_ext lives), and no directory holding recbole_ext is added.
    outer = [p for p in [*sys.path, sysconfig.get_paths()["purelib"], *site.getsitepackages()]
             if p and Path(p).is_dir() and not (Path(p) / "recbole_ext").exists()]
    (purelib / "outer-deps.pth").write_text("\n".join(dict.fromkeys(outer)) + "\n")
    # PYTHONPATH may hold the checkout (whose recbole_ext.egg-info the wheel build just wrote): drop it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sh(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--ignore-installed",
       wheel, env=env)

    work = tmp_path / "elsewhere"
    write_inter(work / "atomic_data" / "tiny" / "tiny.inter", tiny_rows())  # found without --data_path
    where = sh(python, "-c", "import recbole_ext; print(recbole_ext.__file__)", cwd=work, env=env).stdout
    assert where.startswith(str(env_dir)), where

    fast = [f"--{key}={value}" for key, value in FAST_SASREC.items()]
    sh(env_dir / "bin" / "recbole-ext-run", "--model", "SASRec", "--dataset", "tiny", *fast,
       "--result_file", "plain.json", cwd=work, env=env)
    sh(env_dir / "bin" / "recbole-ext-run", "--model", "SASRecPaper", "--dataset", "tiny",
       "--config_files", "quickstart", "--epochs=1", "--train_batch_size=8", "--result_file", "preset.json",
       cwd=work, env=env)
    plain, preset = (json.loads((work / name).read_text()) for name in ("plain.json", "preset.json"))
    assert plain["epochs"] == 1 and preset["epochs"] == 1
    assert preset["eval_protocol"] == "leave-one-out, full ranking, items seen before the target masked"
    assert Path(preset["output_dir"]).is_relative_to(work / "outputs")
    for command in ("recbole-ext-tune", "recbole-ext-bench", "recbole-ext-convert", "recbole-ext-split"):
        assert "usage" in sh(env_dir / "bin" / command, "--help", cwd=work, env=env).stdout
