"""GRU4RecPaper: in-batch negatives, the GRU4Rec losses, sessions, AdagradM, same seed -> same metrics."""

from __future__ import annotations

import pytest
import torch
from recbole_ext.loading import load_dataset, make_loaders
from recbole.data.interaction import Interaction

from recbole_ext import build_config, run
from recbole_ext.models import losses
from recbole_ext.data.sessions import SessionDataLoader
from recbole_ext.models.gru4recpaper import GRU4RecPaper, in_batch_candidates
from tests.helpers import FAST, write_inter

SMALL = {**FAST, "layers": [8], "n_sample": 4}

# A 3 x 4 score matrix: row b scores the mini-batch's 3 targets (items 1, 2, 3: the positive is
# the diagonal) and one shared sample (item 4).
SCORES = torch.tensor([[2.0, 0.5, -1.0, 1.5], [0.3, 1.0, 2.0, -0.5], [-1.0, 0.0, 0.5, 0.2]])


def score_matrix_as_batch(scores: torch.Tensor):
    """Hidden states and output embeddings whose in-batch scores are exactly ``scores``."""
    n_rows, n_cols = scores.shape
    hidden = scores.unsqueeze(1)  # [B, L=1, H=n_cols]
    targets = torch.arange(1, n_rows + 1).unsqueeze(1)  # [B, 1]: items 1..B
    samples = torch.arange(n_rows + 1, n_cols + 1)  # [S]
    out_emb = torch.cat([torch.zeros(1, n_cols), torch.eye(n_cols)])  # item k -> unit vector k - 1
    return in_batch_candidates(hidden, targets, samples, out_emb, torch.zeros(n_cols + 1))


def test_in_batch_negatives_exclude_own_target():
    # Step 0: targets 5, 7, 5 (rows 0 and 2 share an item), samples 7, 9. Step 1: row 1 is padding.
    targets = torch.tensor([[5, 6], [7, 0], [5, 8]])
    samples = torch.tensor([7, 9])
    hidden = torch.randn(3, 2, 4)
    out_emb, out_bias = torch.randn(10, 4), torch.randn(10)
    pos, neg, neg_mask, mask, neg_items = in_batch_candidates(hidden, targets, samples, out_emb, out_bias)
    assert neg.shape == neg_mask.shape == (2, 3, 5) and pos.shape == mask.shape == (2, 3)
    assert neg_items.tolist() == [[5, 7, 5, 7, 9], [6, 0, 8, 7, 9]]
    assert neg_mask[0].tolist() == [
        [False, True, False, True, True],  # row 0 (item 5): own column and row 2's 5 excluded
        [True, False, True, False, True],  # row 1 (item 7): own column and the sample 7 excluded
        [False, True, False, True, True],
    ]
    assert neg_mask[1].tolist() == [
        [False, False, True, True, True],  # padding column (row 1) excluded
        [True, False, True, True, True],  # padding row: ignored through ``mask``
        [True, False, False, True, True],
    ]
    assert mask.tolist() == [[True, True, True], [True, False, True]]
    assert torch.allclose(pos[0, 1], hidden[1, 0] @ out_emb[7] + out_bias[7])
    assert torch.allclose(neg[1, 2, 3], hidden[2, 1] @ out_emb[7] + out_bias[7])  # sample column


def test_losses_match_hand_computed_values_on_3x4_scores():
    pos, neg, neg_mask, mask, _ = score_matrix_as_batch(SCORES)
    assert pos.flatten().tolist() == [2.0, 1.0, 0.5]
    # Expected values computed independently with numpy, for each row i: p = S[i, i],
    # n = np.delete(S[i], i), s = softmax(n), sig = 1 / (1 + exp(-x)):
    #   BPR-max  = -log(sum(s * sig(p - n))) + 0.5 * sum(s * n**2)   -> 1.206021, 2.611445, 0.546436
    #   TOP1-max = sum(s * (sig(n - p) + sig(n**2)))                 -> 1.117280, 1.526176, 0.910014
    #   BPR      = mean(-log(sig(p - n)))                            -> 0.241359, 0.639287, 0.409949
    #   TOP1     = mean(sig(n - p) + sig(n**2))                      -> 0.935093, 1.103990, 0.908860
    # and each loss is the mean over the three rows.
    assert losses.bpr_max(pos, neg, 0.5, mask, neg_mask).item() == pytest.approx(1.454634, abs=1e-5)
    assert losses.top1_max(pos, neg, mask, neg_mask).item() == pytest.approx(1.184490, abs=1e-5)
    assert losses.bpr(pos, neg, mask, neg_mask).item() == pytest.approx(0.430198, abs=1e-5)
    assert losses.top1(pos, neg, mask, neg_mask).item() == pytest.approx(0.982648, abs=1e-5)
    # A padding row does not count; without the mask the own column would enter the negatives.
    assert losses.bpr_max(pos, neg, 0.5, torch.tensor([[True, False, True]]), neg_mask).item() == pytest.approx(
        (1.206021 + 0.546436) / 2, abs=1e-5)
    assert losses.top1_max(pos, neg, mask, None).item() != pytest.approx(1.184490, abs=1e-3)


def session_dataset(tmp_path):
    """User 0: two sessions (items 1-4, then 5-8 after a 1-day gap); user 1: one session (9-13)."""
    rows = [(0, i, 60.0 * i) for i in range(1, 5)] + [(0, i, 86400.0 * 2 + i) for i in range(5, 9)]
    rows += [(1, i, 100.0 * i) for i in range(9, 14)]
    write_inter(tmp_path / "sess" / "sess.inter", rows)
    return tmp_path


def token_ids(dataset, field: str, tokens: list[str]) -> list[int]:
    return [int(dataset.token2id(field, token)) for token in tokens]


def test_hidden_state_never_crosses_a_session_or_user_boundary(tmp_path):
    data_path = session_dataset(tmp_path)
    config = build_config(GRU4RecPaper, "sess", overrides={
        **SMALL, "data_path": str(data_path), "session_gap_seconds": 3600, "MAX_ITEM_LIST_LENGTH": 3})
    dataset = load_dataset(config)
    train, valid, test = make_loaders(config, dataset)
    loader = SessionDataLoader(config, train._dataset, None, shuffle=False)
    batch = next(iter(loader))
    ids = lambda *items: token_ids(dataset, "item_id", [f"i{i}" for i in items])  # noqa: E731
    # Training items: user 0 = 1..6 (7, 8 are valid/test), user 1 = 9..11. Sessions: [1-4], [5, 6],
    # [9-11]; each row is one session chunk: inputs never hold an item of another session or user.
    assert batch["item_id_list"].tolist() == [ids(1, 2, 3), ids(5) + [0, 0], ids(9, 10) + [0]]
    assert batch["item_id"].tolist() == [ids(2, 3, 4), ids(6) + [0, 0], ids(10, 11) + [0]]
    assert batch["item_length"].tolist() == [3, 1, 2]
    # Evaluation: a history 4 | 5, 6 with a session gap after 4 keeps only its current session
    # (5, 6): its scores equal those of the session alone, so the old item cannot reach them.
    torch.manual_seed(0)
    model = GRU4RecPaper(config, train._dataset).eval()
    times = torch.tensor([[60.0 * 4, 86400.0 * 2 + 5, 86400.0 * 2 + 6]])
    with_old = Interaction({"item_id_list": torch.tensor([ids(4, 5, 6)]), "item_length": torch.tensor([3]),
                            "timestamp_list": times, "item_id": torch.tensor(ids(7))})
    alone = Interaction({"item_id_list": torch.tensor([ids(5, 6) + [0]]), "item_length": torch.tensor([2]),
                         "timestamp_list": torch.tensor([[86400.0 * 2 + 5, 86400.0 * 2 + 6, 0.0]]),
                         "item_id": torch.tensor(ids(7))})
    seq, length = model.current_session(with_old)
    assert seq.tolist() == [ids(5, 6) + [0]] and length.tolist() == [2]
    assert torch.equal(model.full_sort_predict(with_old), model.full_sort_predict(alone))
    model.session_gap = None  # without sessions, the old item changes the scores
    assert not torch.allclose(model.full_sort_predict(with_old), model.full_sort_predict(alone))


def test_every_loss_trains_on_a_session_batch(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("GRU4RecPaper", name, overrides={**SMALL, "data_path": str(data_path)})
    dataset = load_dataset(config)
    train, _, _ = make_loaders(config, dataset)
    batch = next(iter(SessionDataLoader(config, train._dataset, None, shuffle=False)))
    values = {}
    for loss_type in ("CE", "BPR-max", "TOP1-max", "BPR", "TOP1"):
        torch.manual_seed(0)
        model = GRU4RecPaper(build_config("GRU4RecPaper", name, overrides={  # no dropout: equal draws, equal losses
            **SMALL, "data_path": str(data_path), "loss_type": loss_type, "logq": 0.0, "dropout_p_hidden": 0.0}),
            train._dataset)
        model.sample_generator.manual_seed(0)
        loss = model.calculate_loss(batch)
        loss.backward()
        assert torch.isfinite(loss) and model.out_embedding.weight.grad.abs().sum() > 0
        values[loss_type] = loss.item()
        model.sample_generator.manual_seed(0)  # the same samples again: only logQ changes
        model.logq = 1.0
        values[loss_type + "+logq"] = model.calculate_loss(batch).item()
    assert len({round(v, 6) for k, v in values.items() if not k.endswith("+logq")}) == 5
    assert values["CE+logq"] != pytest.approx(values["CE"])
    assert values["BPR-max+logq"] == pytest.approx(values["BPR-max"])  # logQ is CE-only, as officially


def test_same_seed_same_metrics(tiny_dataset, tmp_path):
    data_path, name = tiny_dataset
    overrides = {**SMALL, "data_path": str(data_path), "loss_type": "CE", "epochs": 2,
                 "final_act": "elu-0.5", "logq": 1.0, "ranking_protocol": "full_masked"}
    first = run("GRU4RecPaper", name, overrides=overrides, output_dir=tmp_path / "a")
    second = run("GRU4RecPaper", name, overrides=overrides, output_dir=tmp_path / "b")
    assert first["test_result"] == second["test_result"]
    assert first["valid_curve"][-1]["valid_score"] == second["valid_curve"][-1]["valid_score"]
    assert first["epochs"] == 2 and set(first["test_result"]) >= {"ndcg@10", "hit@10"}


@pytest.mark.parametrize("preset, key, value", [
    ("gru4rec-official-rsc15.yaml", "learning_rate", 0.2),
    ("gru4rec-official-retailrocket.yaml", "bpreg", 1.95),
    ("gru4rec-ml100k.yaml", "dropout_p_hidden", 0.4),
    ("gru4rec-goodreads.yaml", "n_sample", 2048),
])
def test_presets_build(tiny_dataset, preset, key, value):
    data_path, name = tiny_dataset
    config = build_config("GRU4RecPaper", name, [preset], {"data_path": str(data_path)})
    assert config[key] == value and config["loss_type"] in ("CE", "BPR-max")
