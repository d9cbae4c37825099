"""SASRecPaper: loss on every position, padding never attended to, shapes, presets, same seed."""

from __future__ import annotations

import pytest
import torch

from recbole_ext import build_config, run
from recbole_ext.models import losses
from recbole_ext.config import CONFIGS_DIR
from recbole_ext.errors import ConfigError
from recbole_ext.models.sasrecpaper import SASRecPaper
from tests.helpers import FAST_SASREC
from tests.data.test_user_sequences import prepared

SMALL = {"n_layers": 2, "n_heads": 1, "hidden_size": 8, "inner_size": 16,
         "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0}
NEG3 = {"distribution": "uniform", "sample_num": 3, "alpha": 1.0, "dynamic": False, "candidate_num": 0}
FORMS = {
    "tutorial": {},
    "paper": {"block_norm": "pre", "embedding_layer_norm": False, "embedding_scale": True},
    "recbole_layout": {"pad_left": False, "hidden_act": "gelu"},
}


def model_and_batch(tmp_path, **overrides):
    config, _, train, valid, test = prepared(tmp_path, model="SASRecPaper", **{**SMALL, **overrides})
    loader = train
    torch.manual_seed(0)
    model = SASRecPaper(config, loader._dataset)
    batch = loader.make_batch(torch.arange(loader.num_samples()))
    return model, batch, valid, test


@pytest.mark.parametrize("loss, form", [("BCE", "tutorial"), ("BCE", "paper"), ("CE", "paper"),
                                        ("CE", "recbole_layout"), ("gBCE", "tutorial"), ("SSM", "recbole_layout")])
def test_loss_reaches_every_non_padding_position_and_no_padding(tmp_path, loss, form):
    extra = {"loss_type": loss, **FORMS[form]}
    if loss in ("gBCE", "SSM"):
        extra["train_neg_sample_args"] = NEG3
    model, batch, *_ = model_and_batch(tmp_path, **extra)
    outputs = []
    encode = model.encode

    def keep_output(item_seq):
        hidden = encode(item_seq)
        hidden.retain_grad()
        outputs.append((item_seq, hidden))
        return hidden

    model.encode = keep_output
    loss_value = model.calculate_loss(batch)
    assert loss_value.dim() == 0 and torch.isfinite(loss_value)
    loss_value.backward()
    item_seq, hidden = outputs[0]
    touched = hidden.grad.abs().sum(-1) > 0  # [B, L]
    assert torch.equal(touched, item_seq != 0)  # every real input position gets a loss, padding none
    assert int(touched.sum()) == int((batch["item_id"] != 0).sum())  # one loss term per next item
    # gradient reaches the earliest input item of the longest row
    longest = int(batch["item_length"].argmax())
    first_item = int(batch["item_id_list"][longest, 0])
    assert model.item_embedding.weight.grad[first_item].abs().sum() > 0


@pytest.mark.parametrize("form", list(FORMS))
def test_padding_is_never_attended_to(tmp_path, form):
    model, batch, *_ = model_and_batch(tmp_path, **FORMS[form])
    model.eval()
    item_seq = model.layout(batch["item_id_list"], batch["item_length"])  # [B, L]
    assert bool((item_seq == 0).any()), "fixture needs padded rows"
    clean = model.encode_columns(item_seq, 0)
    noise = torch.Generator().manual_seed(0)

    def poison(module, args, kwargs):  # random values at padding positions before every block
        hidden = args[0].clone()
        hidden[item_seq == 0] = torch.randn(int((item_seq == 0).sum()), hidden.size(-1), generator=noise) * 10
        return (hidden, *args[1:]), kwargs

    handles = [block.register_forward_pre_hook(poison, with_kwargs=True) for block in model.blocks]
    poisoned = model.encode_columns(item_seq, 0)
    real = item_seq != 0
    assert torch.allclose(clean[real], poisoned[real], atol=1e-5)
    # control: with no mask at all padding leaks in, and the check above catches it
    length = item_seq.size(1)
    model.attention_mask = lambda seq: torch.zeros(length, length, dtype=torch.bool)
    leaky = model.encode_columns(item_seq, 0)
    for handle in handles:
        handle.remove()
    assert not torch.allclose(clean[real], leaky[real], atol=1e-5)


@pytest.mark.parametrize("form", list(FORMS))
def test_rows_grouped_by_length_give_the_numbers_of_whole_rows(tmp_path, form, monkeypatch):
    model, batch, *_ = model_and_batch(tmp_path, **FORMS[form])
    model.eval()
    item_seq = model.layout(batch["item_id_list"], batch["item_length"])  # [B, L]
    lengths = (item_seq != 0).sum(1)
    monkeypatch.setattr("recbole_ext.models.sasrecpaper.LENGTH_GROUPS", 3)
    groups = model.length_groups(item_seq)
    assert len(groups) == 3 and sorted(torch.cat([rows for rows, _, _ in groups]).tolist()) == list(range(len(item_seq)))
    assert any(hi - lo < item_seq.size(1) for _, lo, hi in groups), "fixture needs a group shorter than L"
    for rows, lo, hi in groups:  # every item of a group's rows is inside its columns
        assert int(lengths[rows].max()) == hi - lo and bool((item_seq[rows][:, :lo] == 0).all())
        assert bool((item_seq[rows][:, hi:] == 0).all())
    whole = model.encode_columns(item_seq, 0)
    grouped = model.encode(item_seq)
    assert torch.allclose(grouped, whole, atol=1e-5) and bool((grouped[item_seq == 0] == 0).all())
    last = torch.full_like(lengths, item_seq.size(1) - 1) if model.pad_left else lengths - 1  # evaluation's rows
    assert torch.allclose(model.encode(item_seq, last), model.encode_columns(item_seq, 0, last), atol=1e-5)
    # and the gradients the loss sends back are the same
    model.train()
    for dropout in (m for m in model.modules() if isinstance(m, torch.nn.Dropout)):
        assert dropout.p == 0.0
    grads = []
    for encode in (lambda seq: model.encode_columns(seq, 0), model.encode):
        model.zero_grad()
        monkeypatch.setattr(model, "encode", encode)
        model.calculate_loss(batch).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_predict_and_full_sort_predict_shapes(tmp_path):
    model, _, valid, test = model_and_batch(tmp_path)
    model.eval()
    for loader in (valid, test):
        interaction = next(iter(loader))[0]
        assert model.full_sort_predict(interaction).shape == (len(interaction), model.n_items)
        assert model.predict(interaction).shape == (len(interaction),)
        # predict equals the matching column of full_sort_predict
        full = model.full_sort_predict(interaction)
        assert torch.allclose(model.predict(interaction), full.gather(1, interaction["item_id"].unsqueeze(1)).squeeze(1), atol=1e-5)


def test_left_padding_puts_the_latest_item_last(tmp_path):
    model, batch, *_ = model_and_batch(tmp_path)
    seq = model.layout(batch["item_id_list"], batch["item_length"])
    last = batch["item_id_list"].gather(1, (batch["item_length"] - 1).unsqueeze(1)).squeeze(1)
    assert torch.equal(seq[:, -1], last)


def test_bad_settings_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="loss_type='BPR' is not allowed for SASRecPaper"):
        model_and_batch(tmp_path, loss_type="BPR")
    with pytest.raises(ValueError, match="needs train_neg_sample_args"):
        model_and_batch(tmp_path / "b", loss_type="BCE", train_neg_sample_args=None)
    with pytest.raises(ConfigError, match="block_norm='sandwich' is not allowed for SASRecPaper: block_norm takes one of post, pre"):
        model_and_batch(tmp_path / "c", block_norm="sandwich")


def test_loss_values_exact():
    pos, neg = torch.tensor([[0.0, 2.0]]), torch.tensor([[[0.0, 1.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, False]])
    log2 = torch.log(torch.tensor(2.0))
    expected = log2 + log2 + torch.nn.functional.softplus(torch.tensor(1.0))
    assert torch.allclose(losses.sampled_bce(pos, neg, mask), expected)
    assert torch.allclose(losses.gbce(pos, neg, n_items=101, t=0.0, mask=mask), expected)
    assert losses.gbce_beta(2, 101, 1.0) == pytest.approx(0.02) and losses.gbce_beta(2, 101, 0.0) == 1.0
    ssm = torch.log(torch.tensor(1.0 + 1.0 + torch.e))  # -log(e^0 / (e^0 + e^0 + e^1))
    assert torch.allclose(losses.sampled_softmax(pos, neg, mask), ssm)
    logits = torch.tensor([[[0.0, 0.0, 0.0], [9.0, 0.0, 0.0]]])
    assert torch.allclose(losses.softmax_ce(logits, torch.tensor([[1, 2]]), mask), torch.log(torch.tensor(3.0)))


def test_presets_hold_the_documented_hyperparameters():
    tutorial = build_config("SASRecPaper", "ml-100k", [CONFIGS_DIR / "sasrec-goodreads-tutorial.yaml"])
    expected = {"MAX_ITEM_LIST_LENGTH": 50, "hidden_size": 50, "n_heads": 1, "n_layers": 2,
                "hidden_dropout_prob": 0.5, "learning_rate": 1e-3, "train_batch_size": 128, "epochs": 10,
                "loss_type": "BCE", "layer_norm_eps": 1e-6, "hidden_act": "relu", "block_norm": "post",
                "embedding_layer_norm": True, "ranking_protocol": "sampled_masked", "ranking_neg_num": 100,
                "split_protocol": "user_holdout", "holdout_user_num": 1000}
    assert {k: tutorial[k] for k in expected} == expected
    assert tutorial["train_neg_sample_args"]["sample_num"] == 1
    paper = build_config("SASRecPaper", "ml-100k", [CONFIGS_DIR / "sasrec-paper-ml1m.yaml"])
    expected = {"MAX_ITEM_LIST_LENGTH": 200, "hidden_size": 50, "n_heads": 1, "n_layers": 2,
                "hidden_dropout_prob": 0.2, "learning_rate": 1e-3, "train_batch_size": 128, "loss_type": "BCE",
                "block_norm": "pre", "embedding_layer_norm": False, "embedding_scale": True}
    assert {k: paper[k] for k in expected} == expected
    cpu = build_config("SASRecPaper", "ml-100k", [CONFIGS_DIR / "sasrec-ml100k-cpu.yaml"])
    assert cpu["loss_type"] == "CE" and cpu["train_neg_sample_args"]["distribution"] == "none"


def test_same_seed_same_metrics(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    overrides = {**FAST_SASREC, "data_path": data_path, "epochs": 2, "ranking_protocol": "full_masked"}
    first = run("SASRecPaper", name, overrides=overrides, output_dir=tmp_path / "a")
    second = run("SASRecPaper", name, overrides=overrides, output_dir=tmp_path / "b")
    assert first["test_result"] == second["test_result"] and first["best_valid_result"] == second["best_valid_result"]
    assert first["eval_protocol"] == "leave-one-out, full ranking, items seen before the target masked"
    other = run("SASRecPaper", name, overrides={**overrides, "seed": 7}, output_dir=tmp_path / "c")
    assert other["test_result"] != first["test_result"]


def test_recbole_sequential_models_leave_anomaly_detection_off():
    import recbole.model.sequential_recommender.sine  # noqa: F401  (its import turns anomaly mode on)

    assert not torch.is_anomaly_enabled()
