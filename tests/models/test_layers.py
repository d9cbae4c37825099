"""recbole_ext.models.layers: the CPU dropout, the transformer block that uses it, and the CPU GRU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recbole_ext.models.layers import GRU, Dropout, TransformerBlock, dropout, keep_scale


def test_dropout_drops_p_of_the_entries_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(2_000, 1_000)
    y = dropout(x, 0.2)
    assert abs(float((y == 0).float().mean()) - 0.2) < 0.002
    assert abs(float(y.mean()) - 1.0) < 0.005
    assert torch.equal(torch.unique(y), torch.tensor([0.0, keep_scale(0.2)]))
    assert abs(keep_scale(0.2) - 1.25) < 1e-4


def test_dropout_is_seeded_by_torch_and_passes_gradients_through_the_kept_entries():
    torch.manual_seed(3)
    a = dropout(torch.ones(100, 100), 0.5)
    torch.manual_seed(3)
    b = dropout(torch.ones(100, 100), 0.5)
    assert torch.equal(a, b)
    x = torch.randn(50, 50, requires_grad=True)
    y = dropout(x, 0.3)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * keep_scale(0.3))


def test_dropout_off_in_evaluation_and_at_zero():
    x = torch.randn(10, 10)
    layer = Dropout(0.5).eval()
    assert layer(x) is x
    assert dropout(x, 0.0) is x


def test_block_equals_torchs_layer_without_dropout_in_training_and_in_evaluation():
    torch.manual_seed(0)
    for norm_first, heads in ((True, 1), (False, 2)):
        ours = TransformerBlock(d_model=8, nhead=heads, dim_feedforward=16, dropout=0.0, batch_first=True,
                                norm_first=norm_first)
        stock = nn.TransformerEncoderLayer(d_model=8, nhead=heads, dim_feedforward=16, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        stock.load_state_dict(ours.state_dict())
        x = torch.randn(3, 5, 8)
        mask = torch.ones(5, 5, dtype=torch.bool).triu(1).repeat(3 * heads, 1, 1)  # causal, True = may not attend
        for mode in (True, False):
            ours.train(mode), stock.train(mode)
            assert torch.allclose(ours(x, src_mask=mask), stock(x, src_mask=mask), atol=1e-5)


def test_block_keeps_the_state_dict_of_torchs_layer():
    ours = TransformerBlock(d_model=8, nhead=1, dim_feedforward=16, batch_first=True)
    stock = nn.TransformerEncoderLayer(d_model=8, nhead=1, dim_feedforward=16, batch_first=True)
    assert ours.state_dict().keys() == stock.state_dict().keys()


def test_forward_rows_equals_the_full_layer_at_those_rows():
    torch.manual_seed(0)
    for norm_first, heads in ((True, 1), (False, 2)):
        block = TransformerBlock(d_model=8, nhead=heads, dim_feedforward=16, dropout=0.3, batch_first=True,
                                 norm_first=norm_first).eval()
        x = torch.randn(4, 6, 8)
        mask = torch.ones(6, 6, dtype=torch.bool).triu(1)
        mask = mask.unsqueeze(0).repeat(4 * heads, 1, 1)
        mask[:, :, 0] = True  # position 0 is padding for every query ...
        mask[:, 0, 0] = False  # ... but attends to itself
        position = torch.tensor([5, 3, 5, 1])
        full = block(x, src_mask=mask)[torch.arange(4), position]
        assert torch.allclose(block.forward_rows(x, position, mask).squeeze(1), full, atol=1e-5)


@pytest.mark.parametrize("in_width, width", [(7, 5), (12, 12)])
def test_gru_equals_torchs_gru_outputs_and_gradients(in_width, width):
    """layers.GRU's own CPU recurrence: the outputs, h_n and every gradient (input, both weights, both
    biases) of nn.GRU with the same state dict, float32 to 1e-5; under bf16 autocast it runs in float32."""
    torch.manual_seed(0)
    reference = torch.nn.GRU(in_width, width, batch_first=True)
    ours = GRU(in_width, width, batch_first=True)
    ours.load_state_dict(reference.state_dict())
    assert list(ours.state_dict()) == list(reference.state_dict())
    x = torch.randn(4, 9, in_width, requires_grad=True)
    upstream = torch.randn(4, 9, width)
    (expected, expected_h), (got, got_h) = reference(x), ours(x)
    assert torch.allclose(got, expected, atol=1e-6) and torch.allclose(got_h, expected_h, atol=1e-6)
    expected_grads = torch.autograd.grad((expected * upstream).sum(), (x, *reference.parameters()))
    got_grads = torch.autograd.grad((got * upstream).sum(), (x, *ours.parameters()))
    for g, e in zip(got_grads, expected_grads):
        assert torch.allclose(g, e, rtol=1e-5, atol=1e-6), (g - e).abs().max()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.allclose(ours(x)[0], expected, atol=1e-6)
    with torch.no_grad():  # evaluation: nn.GRU's own path
        assert torch.allclose(ours(x)[0], expected, atol=1e-6)


def test_gru_with_an_initial_state_or_frozen_input_weights():
    """A given h_0 goes to nn.GRU's own path; frozen input weights (GRU4RecPaper's one-hot input) get no
    gradient while the input still does."""
    torch.manual_seed(0)
    gru = GRU(6, 4, batch_first=True)
    x = torch.randn(3, 5, 6, requires_grad=True)
    h0 = torch.randn(1, 3, 4)
    assert torch.allclose(gru(x, h0)[0], torch.nn.GRU.forward(gru, x, h0)[0])
    gru.weight_ih_l0.requires_grad_(False)
    gru(x)[0].sum().backward()
    assert gru.weight_ih_l0.grad is None and x.grad is not None and gru.weight_hh_l0.grad is not None
