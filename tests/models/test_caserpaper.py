"""CaserPaper: sliding windows, the paper's head, ablation switches, losses, training on a tiny dataset."""

from __future__ import annotations

import pytest
import torch
from recbole_ext.loading import load_dataset
from recbole.data.interaction import Interaction
from torch.nn import functional as F

from recbole_ext import build_config, run
from recbole_ext.errors import ConfigError
from recbole_ext.models.caserpaper import CaserPaper
from tests.helpers import FAST, tiny_rows, write_inter

SMALL = {"embedding_size": 8, "nh": 3, "nv": 2, "MAX_ITEM_LIST_LENGTH": 4, "state": "WARNING"}


# --- windows ------------------------------------------------------------------------------------


# --- model --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data_path = tmp_path_factory.mktemp("caser") / "data"
    write_inter(data_path / "tiny" / "tiny.inter", tiny_rows())
    return data_path


def make_model(data_path, **overrides) -> tuple[CaserPaper, object]:
    config = build_config("CaserPaper", "tiny", overrides={**SMALL, "data_path": data_path, **overrides})
    dataset = load_dataset(config)
    torch.manual_seed(0)
    return CaserPaper(config, dataset), dataset


def batch(model: CaserPaper, n: int = 5, seq_len: int | None = None) -> Interaction:
    generator = torch.Generator().manual_seed(1)
    length = model.max_seq_length
    return Interaction({
        model.USER_ID: torch.randint(1, 30, (n,), generator=generator),
        model.ITEM_SEQ: torch.randint(1, model.n_items, (n, length), generator=generator),
        model.ITEM_SEQ_LEN: torch.full((n,), seq_len or length),
        model.ITEM_ID: torch.randint(1, model.n_items, (n,), generator=generator),
    })


@pytest.mark.parametrize(
    "switches, fc_in",
    [({}, 2 * 8 + 3 * 4), ({"horizontal_conv": False}, 2 * 8), ({"vertical_conv": False}, 3 * 4)],
)
def test_ablation_switches_change_sizes(tiny, switches, fc_in):
    model, _ = make_model(tiny, **switches)
    model.eval()
    assert model.fc1.in_features == fc_in and model.fc1.out_features == 8
    assert (model.conv_v is None) == ("vertical_conv" in switches)
    assert (model.conv_h is None) == ("horizontal_conv" in switches)
    assert not hasattr(model, "fc2")
    interaction = batch(model)
    assert model.forward(interaction[model.USER_ID], interaction[model.ITEM_SEQ]).shape == (5, 16)
    scores = model.full_sort_predict(interaction)
    assert scores.shape == (5, model.n_items) == (5, 41)  # 40 items + padding
    one = model.predict(interaction)
    assert one.shape == (5,)
    assert torch.allclose(one, scores.gather(1, interaction[model.ITEM_ID].unsqueeze(1)).squeeze(1), atol=1e-6)


def test_score_is_output_embedding_dot_z_and_user_plus_bias(tiny):
    model, _ = make_model(tiny)
    model.eval()
    interaction = batch(model)
    seq_output = model.forward(interaction[model.USER_ID], interaction[model.ITEM_SEQ])  # [B, 2k]
    assert torch.equal(seq_output[:, 8:], model.user_embedding(interaction[model.USER_ID]))
    item = interaction[model.ITEM_ID]
    expected = (model.output_embedding(item) * seq_output).sum(1) + model.output_bias(item).squeeze(1)
    assert torch.allclose(model.predict(interaction), expected, atol=1e-6)


@pytest.mark.parametrize("form", ["one product", "unfolded per height"])
def test_matrix_product_convolutions_equal_conv2d(tiny, form, monkeypatch):
    if form == "unfolded per height":  # what windows too long for the product form use
        monkeypatch.setattr("recbole_ext.models.caserpaper.PRODUCT_FORM_MAX_ENTRIES", 0)
    model, _ = make_model(tiny, dropout_prob=0.0)
    assert model.horizontal_as_product == (form == "one product")
    model.eval()
    interaction = batch(model, n=6)
    user, seq = interaction[model.USER_ID], interaction[model.ITEM_SEQ]
    emb = model.item_embedding(seq).unsqueeze(1)  # [B, 1, L, k]: stock Caser's convolutions
    out_v = model.conv_v(emb).reshape(6, -1)
    out_h = [F.relu(conv(emb).squeeze(3)).amax(dim=2) for conv in model.conv_h]
    z = F.relu(model.fc1(torch.cat([out_v, *out_h], dim=1)))
    expected = torch.cat([z, model.user_embedding(user)], dim=1)
    expected.square().sum().backward()
    stock_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    got = model.forward(user, seq)
    assert torch.allclose(got, expected, atol=1e-5)
    got.square().sum().backward()
    for stock, ours in zip(stock_grads, (p.grad for p in model.parameters())):
        assert (stock is None and ours is None) or torch.allclose(stock, ours, atol=1e-5)


def test_short_histories_are_right_aligned_for_scoring(tiny):
    model, _ = make_model(tiny)
    model.eval()
    interaction = batch(model, n=2, seq_len=2)
    seq = interaction[model.ITEM_SEQ]
    aligned = torch.zeros_like(seq)
    aligned[:, 2:] = seq[:, :2]
    expected = model.forward(interaction[model.USER_ID], aligned) @ model.output_embedding.weight.T
    assert torch.allclose(model.full_sort_predict(interaction), expected + model.output_bias.weight.T, atol=1e-6)


def test_bad_settings_are_errors(tiny):
    with pytest.raises(ValueError, match="cannot both be False"):
        make_model(tiny, horizontal_conv=False, vertical_conv=False)
    with pytest.raises(ConfigError, match="loss_type='TOP1' is not allowed for CaserPaper: use one of BPR, BCE, CE"):
        make_model(tiny, loss_type="TOP1")
    with pytest.raises(ValueError, match="loss_type BCE needs train_neg_sample_args"):
        make_model(tiny, loss_type="BCE", train_neg_sample_args=None)


def test_init_std_normal_weights_zero_biases(tiny):
    model, _ = make_model(tiny, init_std=0.01)
    assert torch.count_nonzero(model.fc1.bias) == 0 and torch.count_nonzero(model.conv_v.bias) == 0
    assert torch.count_nonzero(model.item_embedding.weight[0]) == 0
    weights = torch.cat([model.output_embedding.weight.flatten(), model.output_bias.weight.flatten(),
                         model.user_embedding.weight.flatten(), model.fc1.weight.flatten()])
    assert 0.008 < weights.std().item() < 0.012
    stock, _ = make_model(tiny)  # RecBole's init: embeddings Normal(0, 1/k)
    assert 0.09 < stock.user_embedding.weight.std().item() < 0.16


@pytest.mark.parametrize("loss_type", ["BPR", "BCE"])
def test_losses_exact_on_window_batch(tiny, loss_type):
    model, _ = make_model(tiny, loss_type=loss_type, dropout_prob=0.0)
    base = batch(model, n=4)
    targets = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])  # [B, T]
    negatives = torch.arange(13, 37).view(4, 3, 2)  # [B, T, N]
    interaction = Interaction({model.USER_ID: base[model.USER_ID], model.ITEM_SEQ: base[model.ITEM_SEQ],
                               model.ITEM_SEQ_LEN: base[model.ITEM_SEQ_LEN],
                               model.ITEM_ID: targets, model.NEG_ITEM_ID: negatives})
    seq_output = model.forward(base[model.USER_ID], base[model.ITEM_SEQ])
    pos = torch.stack([model.predict(Interaction({model.USER_ID: base[model.USER_ID],
                                                   model.ITEM_SEQ: base[model.ITEM_SEQ],
                                                   model.ITEM_SEQ_LEN: base[model.ITEM_SEQ_LEN],
                                                   model.ITEM_ID: targets[:, t]})) for t in range(3)], 1)
    neg = (model.output_embedding(negatives) * seq_output[:, None, None]).sum(-1) + model.output_bias(negatives).squeeze(-1)
    if loss_type == "BPR":
        expected = -F.logsigmoid(pos[:, :, None] - neg).mean()
    else:
        expected = (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()  # paper: sum over negatives
    assert torch.allclose(model.calculate_loss(interaction), expected, atol=1e-6)


def test_ce_loss_is_a_softmax_over_all_items_per_target(tiny):
    model, _ = make_model(tiny, loss_type="CE", train_neg_sample_args=None, dropout_prob=0.0)
    base = batch(model, n=3)
    targets = torch.tensor([[1, 2, 3], [4, 5, 0], [7, 8, 9]])  # [B, T]; one padding target, not counted
    interaction = Interaction({model.USER_ID: base[model.USER_ID], model.ITEM_SEQ: base[model.ITEM_SEQ],
                               model.ITEM_SEQ_LEN: base[model.ITEM_SEQ_LEN], model.ITEM_ID: targets})
    logits = model.full_sort_predict(interaction)  # [B, n_items]
    logits[:, 0] = float("-inf")
    log_p = F.log_softmax(logits, dim=1)
    terms = [-log_p[b, t] for b in range(3) for t in targets[b].tolist() if t]
    assert torch.allclose(model.calculate_loss(interaction), torch.stack(terms).mean(), atol=1e-6)
    ce = build_config("CaserPaper", "tiny", config_files=["caser-ml1m-ce"], overrides={"data_path": tiny})
    assert ce["loss_type"] == "CE" and ce["train_neg_sample_args"]["distribution"] == "none"


def test_presets_load(tiny):
    d2l = build_config("CaserPaper", "tiny", config_files=["caser-d2l"], overrides={"data_path": tiny})
    assert (d2l["embedding_size"], d2l["MAX_ITEM_LIST_LENGTH"], d2l["nh"], d2l["nv"], d2l["n_targets"]) == (10, 5, 16, 4, 1)
    assert (d2l["learning_rate"], d2l["weight_decay"], d2l["init_std"], d2l["loss_type"]) == (0.04, 1e-5, 0.01, "BPR")
    paper = build_config("CaserPaper", "tiny", config_files=["caser-paper.yaml"], overrides={"data_path": tiny})
    assert (paper["embedding_size"], paper["n_targets"], paper["dropout_prob"], paper["loss_type"]) == (50, 3, 0.5, "BCE")


# --- training ------------------------------------------------------------------------------------

def test_same_seed_same_metrics(tiny, tmp_path):
    overrides = {**FAST, **SMALL, "data_path": tiny, "epochs": 2}
    first = run("CaserPaper", "tiny", overrides=overrides, output_dir=tmp_path / "a")
    second = run("CaserPaper", "tiny", overrides=overrides, output_dir=tmp_path / "b")
    assert first["test_result"] == second["test_result"] and first["epochs"] == 2
    other = run("CaserPaper", "tiny", overrides={**overrides, "seed": 7}, output_dir=tmp_path / "c")
    assert other["test_result"] != first["test_result"]
