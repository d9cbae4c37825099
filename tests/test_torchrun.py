"""recbole_ext.torchrun: what torchrun's environment says about this process."""

from __future__ import annotations

from recbole_ext.torchrun import resume_command


import pytest
import torch


pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch built without gloo")

EXACT = ["--n_layers=1", "--n_heads=1", "--hidden_size=16", "--inner_size=32", "--hidden_dropout_prob=0",
         "--attn_dropout_prob=0", "--loss_type=CE", "--train_batch_size=8", "--eval_batch_size=16",
         "--MAX_ITEM_LIST_LENGTH=10", "--ranking_protocol=full_masked", "--show_progress=False",
         "--state=INFO", "--torch_threads=1"]


def test_resume_command_names_torchrun_under_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert resume_command("d") == "python run.py --resume d"
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resume_command("d").startswith("torchrun --nnodes 2")
