"""recbole_ext.models.optim: AdagradM as the official GRU4Rec updates, and the trainer that knows it."""

from __future__ import annotations

import pytest
import torch
from recbole_ext.loading import load_dataset, make_loaders

from recbole_ext import build_config
from recbole_ext.errors import ConfigError
from recbole_ext.models.gru4recpaper import GRU4RecPaper
from recbole_ext.models.optim import AdagradM, ExtendedTrainer
from tests.helpers import FAST

SMALL = {**FAST, "layers": [8], "n_sample": 4}


def test_adagradm_update_exact():
    # loss = 2 p: g = 2. acc = 4 -> mom = -0.1 * 2 / 2 = -0.1, p = 0.9; acc = 8 ->
    # mom = 0.5 * -0.1 - 0.1 * 2 / sqrt(8) = -0.1207107, p = 0.7792893 (eps 1e-6 inside the sqrt).
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = AdagradM([p], lr=0.1, momentum=0.5)
    for _ in range(2):
        opt.zero_grad()
        (2 * p).sum().backward()
        opt.step()
    assert p.item() == pytest.approx(0.7792893, abs=1e-6)


def test_options_build_and_adagradm_trainer(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("GRU4RecPaper", name, overrides={
        **SMALL, "data_path": str(data_path), "constrained_embedding": False, "embedding_size": 0,
        "layers": [6, 4], "momentum": 0.2})
    dataset = load_dataset(config)
    train, _, _ = make_loaders(config, dataset)
    model = GRU4RecPaper(config, train._dataset)
    # One-hot input: a [n_items, 3 H] table feeding a GRU whose input matrix is a frozen identity.
    assert model.item_embedding.weight.shape == (dataset.item_num, 18)
    assert torch.equal(model.gru_stack[0].weight_ih_l0, torch.eye(18))
    assert not model.gru_stack[0].weight_ih_l0.requires_grad
    assert [g.hidden_size for g in model.gru_stack] == [6, 4] and model.out_embedding.weight.shape[1] == 4
    trainer = ExtendedTrainer(config, model)
    assert isinstance(trainer.optimizer, AdagradM) and trainer.optimizer.param_groups[0]["momentum"] == 0.2
    with pytest.raises(ConfigError, match="loss_type='hinge' is not allowed for GRU4RecPaper: use one of CE"):
        build_config("GRU4RecPaper", name, overrides={**SMALL, "data_path": str(data_path), "loss_type": "hinge"})


def test_fused_adam_is_the_same_update_as_recboles_adam(tiny_dataset):
    """Every run's trainer rebuilds RecBole's adam / adamw as torch's fused kernels (same lr, weight_decay,
    betas, eps): after a few steps the parameters agree with the plain update's to float32 rounding."""
    from recbole.trainer import Trainer

    from recbole_ext.models.optim import fused_adam_takes, with_fused_adam
    from recbole_ext.training.trainers import trainer_class_for

    data_path, name = tiny_dataset
    for learner, optimizer_class in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        config = build_config("SASRecPaper", name, overrides={
            **FAST, "data_path": str(data_path), "learner": learner, "learning_rate": 0.01, "weight_decay": 0.1,
            "state": "WARNING"})
        train, _, _ = make_loaders(config, load_dataset(config))
        batches = [interaction for _, interaction in zip(range(3), train)]
        models = []
        for trainer_class in (Trainer, trainer_class_for(config)):
            torch.manual_seed(0)
            model = config.model_class(config, train._dataset)
            trainer = trainer_class(config, model)
            assert type(trainer.optimizer) is optimizer_class
            assert bool(trainer.optimizer.defaults["fused"]) is (trainer_class is not Trainer)
            assert all(group["fused"] for group in trainer.optimizer.param_groups) is (trainer_class is not Trainer)
            assert trainer.optimizer.defaults["lr"] == 0.01 and trainer.optimizer.defaults["weight_decay"] == 0.1
            torch.manual_seed(1)  # the same dropout masks
            for interaction in batches:
                trainer.optimizer.zero_grad()
                model.calculate_loss(interaction).backward()
                trainer.optimizer.step()
            models.append(model)
        for plain, fused in zip(*(m.parameters() for m in models)):
            torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)
    trainer = with_fused_adam(Trainer)(config, model)
    weights, rest = [p for n, p in model.named_parameters() if n.endswith("weight")], [
        p for n, p in model.named_parameters() if not n.endswith("weight")]
    per_group = trainer._build_optimizer(params=[{"params": weights}, {"params": rest, "lr": 0.5}])
    assert [group["lr"] for group in per_group.param_groups] == [0.01, 0.5]  # each group's own settings kept
    assert all(group["fused"] for group in per_group.param_groups)
    config["learner"] = "sgd"
    assert type(with_fused_adam(Trainer)(config, model).optimizer) is torch.optim.SGD
    assert not fused_adam_takes([torch.zeros(2, dtype=torch.long)]) and not fused_adam_takes([])
