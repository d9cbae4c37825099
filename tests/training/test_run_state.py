"""recbole_ext.training.run_state: the validation curve, the saved state and the resume checks."""

from __future__ import annotations

import pytest
import torch

from recbole_ext.errors import RunError
from recbole_ext.outputs import RESUME_STATE
from recbole_ext.training.run_state import RunState, TimeCapReached, check_resume_state, seconds_to_reach


def test_seconds_to_reach_reads_the_curve():
    curve = [{"epoch": 1, "seconds": 2.0, "valid_score": 0.1}, {"epoch": 2, "seconds": 4.0, "valid_score": 0.3}]
    assert (seconds_to_reach(curve, 0.05), seconds_to_reach(curve, 0.3), seconds_to_reach(curve, 0.31)) == (2.0, 4.0, None)


class FakeTrainer:
    """What RunState reads of RecBole's Trainer."""

    def __init__(self, checkpoint_dir):
        self.model = torch.nn.Linear(2, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters())
        self.cur_step, self.stopping_step, self.epochs = 0, 10, 100
        self.best_valid_score, self.best_valid_result, self.train_loss_dict = 0.5, {"ndcg@10": 0.5}, {0: 1.0}
        self.checkpoint_dir = str(checkpoint_dir)
        self.saved_model_file = str(checkpoint_dir / "best.pth")


def test_the_state_saved_after_a_validation_comes_back_whole(tmp_path):
    generator = torch.Generator().manual_seed(7)
    state = RunState(None, {"loader.generator": generator}, tmp_path / RESUME_STATE)
    trainer = FakeTrainer(tmp_path)
    state.after_validation(trainer)(0, 0.25)
    expected_draw = torch.rand(3, generator=generator)  # what the run would draw next
    torch.rand(5, generator=generator)  # ... but it went on drawing, and then stopped

    other_generator = torch.Generator()
    restored = RunState(None, {"loader.generator": other_generator}, tmp_path / RESUME_STATE)
    other = FakeTrainer(tmp_path)
    assert restored.can_resume() and restored.restore(other) == (False, 1)
    assert torch.equal(torch.rand(3, generator=other_generator), expected_draw)
    assert restored.points == [{"epoch": 1, "seconds": state.points[0]["seconds"], "valid_score": 0.25}]
    assert torch.equal(other.model.weight, trainer.model.weight) and other.start_epoch == 1


def test_the_time_cap_stops_after_saving(tmp_path):
    state = RunState(0.0, {}, tmp_path / RESUME_STATE)
    with pytest.raises(TimeCapReached):
        state.after_validation(FakeTrainer(tmp_path))(0, 0.1)
    assert state.cap_reached and (tmp_path / RESUME_STATE).is_file()


def test_a_state_of_other_generators_is_refused(tmp_path):
    RunState(None, {"a": torch.Generator()}, tmp_path / RESUME_STATE).after_validation(FakeTrainer(tmp_path))(0, 0.1)
    with pytest.raises(RunError, match="other random generators"):
        RunState(None, {"b": torch.Generator()}, tmp_path / RESUME_STATE).restore(FakeTrainer(tmp_path))


def test_a_damaged_state_is_refused_before_any_work(tmp_path):
    (tmp_path / RESUME_STATE).write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="truncated or damaged"):
        check_resume_state(tmp_path)
