"""Each fix in recbole_ext/compat.py has a test that fails without it, and the stack check names its fix."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from functools import partial

import numpy as np
import pandas as pd
import pytest
import recbole.trainer.trainer as recbole_trainer
import torch
from recbole.config import Config
from recbole.data import create_dataset
from recbole.trainer import hyper_tuning

from recbole_ext import build_config, compat
from recbole_ext.errors import EnvironmentProblem
from tests.helpers import write_inter

LOAD_ITEMS = {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "price", "tags", "scores"]}


def test_installed_stack_has_no_known_problem():
    assert compat.stack_problems() == []


def test_unsupported_versions_are_named_with_their_fix():
    problems = compat.stack_problems(
        {"recbole": None, "numpy": "1.23.5", "pandas": "1.5.3", "hyperopt": "0.2.7"}
    )
    assert problems == [
        "recbole is not installed: pip install --no-deps recbole==1.2.1",
        'numpy 1.23.5 is installed but recbole-ext needs numpy >= 1.24: pip install -U "numpy>=1.24"',
        'pandas 1.5.3 is installed but recbole-ext needs pandas >= 2.0: pip install -U "pandas>=2.0"',
        'hyperopt 0.2.7 is installed but recbole-ext needs hyperopt >= 0.3.0: pip install -U "hyperopt>=0.3"',
    ]
    assert compat.stack_problems({"recbole": "1.2.0"}) == [
        "recbole 1.2.0 is installed but recbole-ext patches recbole 1.2.1: pip install --no-deps recbole==1.2.1"]


@pytest.mark.parametrize("versions", [
    {"numpy": "2.5.2", "pandas": "3.0.6", "hyperopt": "0.3.0", "recbole": "1.2.1"},  # today's
    {"numpy": "1.26.4", "pandas": "2.2.3", "hyperopt": "0.3.0", "recbole": "1.2.1"},  # oldest tested
    {"numpy": "2.0.0rc1", "pandas": "3.0.0.dev0+123", "hyperopt": "0.3.0"},
])
def test_todays_and_older_stacks_are_accepted(versions):
    assert compat.stack_problems(versions) == []


def test_check_stack_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(compat, "stack_problems", lambda: ["numpy 1.23.5 is installed but ..."])
    with pytest.raises(EnvironmentProblem, match="numpy 1.23.5"):
        compat.check_stack()


def test_numpy_aliases_recbole_uses_are_restored(monkeypatch):
    """RecBole's Config runs np.float_ / np.unicode_ (gone in numpy 2); its metrics use np.float."""
    removed = [alias for alias in compat.NUMPY_ALIASES if alias not in ("bool", "long")]
    for alias in removed:
        monkeypatch.delattr(np, alias, raising=False)
    with pytest.raises(AttributeError):
        Config.compatibility_settings(None)
    compat.restore_numpy_aliases()
    Config.compatibility_settings(None)
    assert np.float_ is np.float64 and np.bool8 is np.bool_ and np.unicode_ is np.str_ and np.float is np.float64


def test_recbole_checkpoint_reloads_on_new_torch(tiny_dataset, tmp_path):
    """RecBole pickles its Config into checkpoints; torch >= 2.6 refuses them by default."""
    data_path, name = tiny_dataset
    config = build_config("SASRec", name, overrides={"data_path": data_path})
    checkpoint = tmp_path / "model.pth"
    torch.save({"config": config, "state_dict": {}}, checkpoint)
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        torch.load(checkpoint)  # what RecBole's trainer did before the fix
    assert recbole_trainer.torch.load(checkpoint)["config"]["model"] == "SASRec"
    assert torch.load is not compat.load_trusted_checkpoint  # the rest of torch keeps its safe default


def test_nothing_needs_pkg_resources():
    """setuptools >= 81 has no pkg_resources: the package, RecBole's tuning and hyperopt import without it."""
    code = ("import sys; sys.modules['pkg_resources'] = None\n"
            "import recbole_ext.tuning, recbole_ext.training.pipeline, hyperopt, torch.utils.tensorboard\n"
            "from hyperopt import tpe, rand\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_recbole_exhaustive_search_runs_on_current_hyperopt():
    """hyperopt >= 0.2.7 samples with Generator methods; RecBole's exhaustive search made a RandomState."""
    from hyperopt import Trials, fmin, hp

    trials = Trials()
    fmin(lambda params: params["a"] + params["b"], {"a": hp.choice("a", [1, 2, 3]), "b": hp.choice("b", [0, 10])},
         algo=partial(hyper_tuning.exhaustive_search, nbMaxSucessiveFailures=1000), max_evals=6,
         trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    seen = {(t["misc"]["vals"]["a"][0], t["misc"]["vals"]["b"][0]) for t in trials.trials}
    assert seen == {(a, b) for a in range(3) for b in range(2)}  # every combination once


def write_item_side_features(tmp_path, name: str) -> None:
    write_inter(tmp_path / name / f"{name}.inter", [(0, 0, 1), (0, 1, 2), (1, 1, 3), (1, 0, 4), (1, 2, 5)])
    (tmp_path / name / f"{name}.item").write_text(
        "item_id:token\tprice:float\ttags:token_seq\tscores:float_seq\n"
        "i0\t2.0\ta b\t1 2\n"
        "i1\t\t\t\n"  # every side feature of i1 missing
        "i2\t4.0\tb c d\t3\n"
    )


def test_missing_side_features_are_filled_as_on_pandas_2(tmp_path):
    """pandas 3 silently skips RecBole's fillna(inplace=True): NaN would reach the model, and an
    empty token_seq / float_seq cell would crash the loader ('float' object has no attribute 'split')."""
    write_item_side_features(tmp_path, "nan")
    config = build_config("SASRec", "nan", overrides={"data_path": tmp_path, "load_col": LOAD_ITEMS})
    dataset = create_dataset(config)
    item_feat, items = dataset.item_feat, dataset.field2id_token["item_id"].tolist()
    row = {token: i for i, token in enumerate(items)}
    prices = item_feat["price"].tolist()
    assert not any(math.isnan(p) for p in prices)
    assert prices[row["i1"]] == pytest.approx(3.0)  # the mean of the given prices (RecBole's rule)
    assert list(item_feat["tags"][row["i1"]]) == [] and list(item_feat["scores"][row["i1"]]) == []
    assert items[0] == "[PAD]"


def test_token_sequences_are_remapped_cell_by_cell(tmp_path):
    """RecBole splits remapped token_seq ids at cumsum(Series.agg(len)): per cell on pandas 2,
    the Series' length on pandas 3."""
    write_item_side_features(tmp_path, "seq")
    config = build_config("SASRec", "seq", overrides={"data_path": tmp_path, "load_col": LOAD_ITEMS})
    dataset = create_dataset(config)
    row = {token: i for i, token in enumerate(dataset.field2id_token["item_id"].tolist())}
    tags = dataset.field2id_token["tags"]
    as_tokens = lambda item: [tags[t] for t in dataset.item_feat["tags"][row[item]].tolist() if t]  # noqa: E731
    assert as_tokens("i0") == ["a", "b"] and as_tokens("i2") == ["b", "c", "d"]
    assert list(dataset.item_feat["scores"][row["i2"]]) == [3.0]


def test_series_agg_keeps_pandas_meaning_outside_recbole():
    cells = pd.Series([[1, 2], [3]])
    expected = 2 if int(pd.__version__.split(".")[0]) >= 3 else [2, 1]
    result = cells.agg(len)
    assert (result.tolist() if hasattr(result, "tolist") else result) == expected


def test_torch_not_writable_warning_is_silenced():
    """RecBole's Dataset hands torch read-only pandas arrays: the warning says nothing to a user."""
    import warnings

    import numpy as np
    import torch

    array = np.arange(3)
    array.flags.writeable = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        import recbole_ext.compat as compat

        compat.silence_recbole_future_warnings()
        torch.as_tensor(array)
    assert not [w for w in caught if "not writable" in str(w.message)]


def test_joining_a_ray_cluster_uses_its_token_as_ray_start_does(tmp_path):
    """Ray 2.60's ``ray start`` turns token authentication on when a token exists; the client must too
    (``tests/test_tuning.py::test_ray_tune_joins_a_running_cluster`` is the end-to-end case). In a
    subprocess: Ray keeps the mode and the token process-wide, and later Ray tests must not see them."""
    pytest.importorskip("ray")
    pytest.importorskip("ray._private.authentication.authentication_token_setup")
    token = tmp_path / "auth_token"
    token.write_text("0123456789abcdef" * 4)
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env["RAY_AUTH_TOKEN_PATH"] = str(token)
    code = ("import os; from recbole_ext import compat; compat.ray_client_auth_like_ray_start(); "
            "print(os.environ.get('RAY_AUTH_MODE'))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "token"


GLOO_THREADS_AFTER_DESTROY = """
import os, sys, torch, torch.distributed as dist
dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=0, world_size=1)
if sys.argv[2] == "ddp":
    torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 1))
dist.destroy_process_group()
names = [open(f"/proc/self/task/{task}/comm").read().strip() for task in os.listdir("/proc/self/task")]
print(names.count("pt_gloo_runloop"))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="thread names are read from Linux's /proc")
@pytest.mark.parametrize("use", ["none", "ddp"])
def test_gloo_worker_threads_outlive_the_group_once_ddp_used_it(use, tmp_path):
    """Why the ``run`` command's torchrun ranks end with ``compat.end_torchrun_rank``: after DDP
    (and only then) gloo's worker threads survive ``destroy_process_group`` and run into Python's
    shutdown. When a torch release joins them, this fails and the shim can go."""
    proc = subprocess.run([sys.executable, "-c", GLOO_THREADS_AFTER_DESTROY, str(tmp_path / "store"), use],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    surviving_workers = int(proc.stdout.split()[-1])
    assert (surviving_workers > 0) == (use == "ddp")


def test_a_torchrun_rank_ends_with_its_status_and_its_output_flushed(tmp_path):
    script = ("import logging, sys\n"
              "from recbole_ext.compat import end_torchrun_rank\n"
              f"logging.basicConfig(filename={str(tmp_path / 'run.log')!r})\n"
              "logging.warning('logged')\n"
              "print('printed', end='')\n"
              "sys.stderr.write('on stderr')\n"
              "end_torchrun_rank(3)\n"
              "print('never')\n")
    buffered = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=buffered)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "printed", "on stderr")
    assert "logged" in (tmp_path / "run.log").read_text()
