"""recbole_ext.torchrun: what torchrun's environment says about this process."""

from __future__ import annotations

from recbole_ext.torchrun import resume_command


def test_resume_command_names_torchrun_under_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert resume_command("d") == "python run.py --resume d"
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resume_command("d").startswith("torchrun --nnodes 2")
