"""The fused, chunked softmax cross-entropy: the numbers of F.cross_entropy on the full matrix, in any chunking."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from recbole_ext.models import losses


def reference(hidden, weight, targets, mask, bias=None):
    """F.cross_entropy over items 1 .. n - 1 on the whole [R x n] matrix, averaged over counted targets."""
    logits = hidden @ weight.T + (0 if bias is None else bias)  # [R, n]
    logits = logits[:, 1:]  # item 0 (padding) is never a class
    if targets.dim() == 1:
        targets, mask = targets.unsqueeze(1), mask.unsqueeze(1)
    rows = torch.arange(targets.size(0)).unsqueeze(1).expand_as(targets)
    return F.cross_entropy(logits[rows[mask]], targets[mask] - 1)


def inputs(rows, n_items, width, targets_per_row, bias, seed=0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, width, generator=generator).requires_grad_()
    weight = torch.randn(n_items, width, generator=generator).requires_grad_()
    b = torch.randn(n_items, generator=generator).requires_grad_() if bias else None
    shape = (rows,) if targets_per_row == 1 else (rows, targets_per_row)
    targets = torch.randint(1, n_items, shape, generator=generator)
    mask = torch.rand(shape, generator=generator) > 0.3
    return hidden, weight, b, targets, mask


def gradients(loss, tensors):
    return torch.autograd.grad(loss, [t for t in tensors if t is not None])


@pytest.mark.parametrize("rows, n_items, width, per_row, bias, budget_mb", [
    (200, 60, 8, 1, False, 8.0),        # one chunk holds everything
    (1000, 3707, 50, 1, False, 1.0),     # ML-1M's catalogue, row chunks of 70
    (300, 50, 8, 3, True, 0.001),        # shared softmax of 3 targets, row and item chunks (64 x 4)
    (17, 1000, 4, 2, True, 0.01),        # fewer rows than a chunk, item chunks
    (129, 257, 16, 1, False, 0.05),      # ragged last chunks in both directions
])
def test_loss_and_gradients_equal_cross_entropy_on_the_full_matrix(rows, n_items, width, per_row, bias, budget_mb):
    hidden, weight, b, targets, mask = inputs(rows, n_items, width, per_row, bias)
    expected = reference(hidden, weight, targets, mask, b)
    expected_grads = gradients(expected, [hidden, weight, b])
    got = losses.chunked_softmax_ce(hidden, weight, targets, mask, bias=b, budget_mb=budget_mb)
    got_grads = gradients(got, [hidden, weight, b])
    assert torch.allclose(got, expected, rtol=1e-5, atol=0)
    for e, g in zip(expected_grads, got_grads):
        assert torch.allclose(g, e, rtol=1e-5, atol=1e-5 * float(e.abs().max()))
    assert float(got_grads[1][0].abs().sum()) == 0.0  # padding's row of the table gets no gradient


def test_chunking_never_holds_the_whole_matrix(monkeypatch):
    rows, n_items = 300, 1001
    shapes = []
    matmul = torch.Tensor.__matmul__

    def recording(a, b):
        out = matmul(a, b)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(torch.Tensor, "__matmul__", recording)
    hidden, weight, _, targets, mask = inputs(rows, n_items, 8, 1, False)
    budget_mb = 64 * 1000 * 4 / 2**20  # 64 rows of 1,000 float32 logits
    losses.chunked_softmax_ce(hidden, weight, targets, mask, budget_mb=budget_mb).backward()
    assert shapes and max(a * b for a, b in shapes) <= 64 * 1000


def test_same_numbers_as_the_matrix_losses_with_padding_at_minus_infinity():
    hidden, weight, _, targets, mask = inputs(40, 30, 8, 3, False)
    logits = hidden @ weight.T
    logits[:, 0] = float("-inf")
    shared = losses.shared_softmax_ce(logits, targets, mask)
    assert torch.allclose(losses.chunked_softmax_ce(hidden, weight, targets, mask), shared, rtol=1e-6)
    single = losses.softmax_ce(logits, targets[:, 0], mask[:, 0])
    assert torch.allclose(losses.chunked_softmax_ce(hidden, weight, targets[:, 0], mask[:, 0]), single, rtol=1e-6)


def test_no_counted_target_gives_zero_loss_and_zero_gradients():
    hidden, weight, _, targets, _ = inputs(10, 20, 4, 1, False)
    loss = losses.chunked_softmax_ce(hidden, weight, targets, torch.zeros_like(targets, dtype=torch.bool))
    assert float(loss.detach()) == 0.0
    assert all(float(g.abs().sum()) == 0.0 for g in gradients(loss, [hidden, weight]))


def test_a_target_far_below_the_others_keeps_an_exact_finite_loss():
    # The target's probability underflows float32 (logit gap 200): the loss is the exact log-sum-exp gap.
    hidden = torch.tensor([[1.0]], requires_grad=True)
    weight = torch.tensor([[0.0], [-100.0], [100.0]], requires_grad=True)  # item 1 the target, item 2 far above
    loss = losses.chunked_softmax_ce(hidden, weight, torch.tensor([1]))
    assert torch.isfinite(loss) and abs(float(loss) - 200.0) < 1e-3
    assert torch.allclose(loss, reference(hidden, weight, torch.tensor([1]), torch.tensor([True])))


def test_no_gradient_work_when_nothing_needs_it():
    hidden, weight, _, targets, mask = inputs(50, 40, 8, 1, False)
    with torch.no_grad():
        loss = losses.chunked_softmax_ce(hidden, weight, targets, mask)
    assert torch.allclose(loss, reference(hidden.detach(), weight.detach(), targets, mask), rtol=1e-5)


def test_bf16_autocast_stays_close_to_float32():
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU computes no bfloat16 natively")
    hidden, weight, _, targets, mask = inputs(500, 400, 32, 1, False)
    exact = losses.chunked_softmax_ce(hidden, weight, targets, mask)
    exact_grad = gradients(exact, [hidden, weight])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = losses.chunked_softmax_ce(hidden, weight, targets, mask)
    assert fast.dtype == torch.float32
    fast_grad = gradients(fast, [hidden, weight])
    assert abs(float(fast) - float(exact)) < 0.02 * float(exact)
    for e, g in zip(exact_grad, fast_grad):
        assert g.dtype == torch.float32
        cosine = F.cosine_similarity(e.flatten(), g.flatten(), dim=0)
        assert float(cosine) > 0.99


def test_chunk_sizes_respect_the_budget():
    assert losses.chunk_sizes(10_000, 3_706, 8.0) == (512, 3_706)  # 565 fit: a multiple of ROW_QUANTUM
    rows, items = losses.chunk_sizes(10_000, 2_360_151, 8.0)
    assert rows == losses.MIN_CHUNK_ROWS and rows * items * 4 <= 8 * 2**20
    assert losses.chunk_sizes(10, 3_706, 8.0) == (losses.ROW_QUANTUM, 3_706)  # the rows there are, padded


@pytest.mark.parametrize("with_offsets", [False, True])
@pytest.mark.parametrize("steps, batch, budget_mb", [(5, 7, 8.0), (20, 10, 1e-6)])  # 1 chunk; 64-row chunks
def test_shared_negatives_ce_equals_the_unfused_loss_and_gradients(with_offsets, steps, batch, budget_mb):
    """GRU4Rec's CE over in-batch and shared negatives, fused: the value and every gradient of the
    log-softmax over [pos, masked in-batch targets, masked samples] (duplicates, padding, a sample equal to a
    target, logQ offsets), float32 to 1e-5 relative, in one chunk of rows and in several."""
    from recbole_ext.models.gru4recpaper import in_batch_candidates
    from recbole_ext.models.losses import sampled_softmax, shared_negatives_softmax_ce

    torch.manual_seed(0)
    width, n_items, n_samples = 6, 12, 9
    targets = torch.randint(1, n_items, (batch, steps))
    targets[0, 3:] = 0  # a short row: padding
    targets[2, 1] = targets[4, 1]  # two rows with the same target at one step
    samples = torch.randint(1, n_items, (n_samples,))
    samples[0] = targets[1, 0]  # a sample equal to some row's target
    out_emb = torch.randn(n_items, width, requires_grad=True)
    out_bias = torch.randn(n_items, requires_grad=True)
    hidden = torch.randn(batch, steps, width, requires_grad=True)
    log_count = torch.rand(n_items) * 3
    logq, alpha = (0.7, 0.5) if with_offsets else (0.0, 0.0)

    pos, neg, neg_mask, mask, neg_items = in_batch_candidates(hidden, targets, samples, out_emb, out_bias)
    if with_offsets:
        q = log_count[neg_items]
        q = torch.cat([q[:, :batch], alpha * q[:, batch:]], dim=1)
        pos, neg = pos - logq * log_count[targets.t()], neg - logq * q.unsqueeze(1)
    expected = sampled_softmax(pos, neg.masked_fill(~neg_mask, float("-inf")), mask)
    expected_grads = torch.autograd.grad(expected, (hidden, out_emb, out_bias))

    targets_t = targets.t()
    offsets = (-logq * log_count[targets_t], -logq * alpha * log_count[samples]) if with_offsets else (None, None)
    got = shared_negatives_softmax_ce(hidden.transpose(0, 1), out_emb[targets_t], out_bias[targets_t], targets_t,
                                      out_emb[samples], out_bias[samples], samples, *offsets, budget_mb=budget_mb)
    got_grads = torch.autograd.grad(2.5 * got, (hidden, out_emb, out_bias))  # a scaled loss: grad_output 2.5
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)
    for g, e in zip(got_grads, expected_grads):
        assert torch.allclose(g, 2.5 * e, rtol=1e-5, atol=1e-6), (g - 2.5 * e).abs().max()


def test_shared_negatives_ce_in_bf16_stays_near_float32():
    """Under bf16 autocast the sampled block's products run in bfloat16 and everything else in float32: the
    loss and gradients stay within bfloat16's rounding of the float32 ones, and come back float32."""
    from recbole_ext.models.losses import shared_negatives_softmax_ce

    torch.manual_seed(0)
    steps, batch, width, n_items, n_samples = 20, 16, 32, 300, 100
    targets = torch.randint(1, n_items, (steps, batch))
    targets[10:, 0] = 0
    samples = torch.randint(1, n_items, (n_samples,))
    out_emb = (0.3 * torch.randn(n_items, width)).requires_grad_()
    out_bias = (0.1 * torch.randn(n_items)).requires_grad_()
    hidden = torch.randn(steps, batch, width, requires_grad=True)

    def loss_and_grads():
        loss = shared_negatives_softmax_ce(hidden, out_emb[targets], out_bias[targets], targets, out_emb[samples],
                                           out_bias[samples], samples, budget_mb=1e-6)
        return loss, torch.autograd.grad(loss, (hidden, out_emb, out_bias))

    loss32, grads32 = loss_and_grads()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss16, grads16 = loss_and_grads()
    assert loss16.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads16)
    assert abs(loss16.item() - loss32.item()) < 1e-2 * loss32.item()
    for g16, g32 in zip(grads16, grads32):
        assert (g16 - g32).norm() < 2e-2 * g32.norm(), ((g16 - g32).norm() / g32.norm()).item()


def test_the_products_see_rows_in_multiples_of_the_quantum():
    """Both fused losses pad the rows of their products to a multiple of ``ROW_QUANTUM`` (a batch's real
    positions change every step, and every new shape of a bf16 product leaves memory behind in oneDNN:
    docs/speed.md): 100 rows, and 70 real positions of GRU4Rec's 77, reach the products as 128."""
    from torch.profiler import ProfilerActivity, profile

    from recbole_ext.models.losses import shared_negatives_softmax_ce

    hidden, weight, bias, targets, mask = inputs(100, 40, 8, 1, True)
    steps, batch, width, n_samples = 7, 11, 8, 13
    gru_targets = torch.randint(1, 30, (steps, batch))
    gru_targets[:, 0] = 0  # one row of padding: 70 real positions
    gru_hidden = torch.randn(steps, batch, width, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        losses.chunked_softmax_ce(hidden, weight, targets, mask, bias=bias).backward()
        shared_negatives_softmax_ce(gru_hidden, torch.randn(steps, batch, width), torch.zeros(steps, batch),
                                    gru_targets, torch.randn(n_samples, width), torch.zeros(n_samples),
                                    torch.randint(1, 30, (n_samples,))).backward()
    products = [[dim for shape in event.input_shapes if len(shape) == 2 for dim in shape]
                for event in prof.events() if event.name in ("aten::mm", "aten::addmm")]
    assert len(products) == 6  # three a loss
    for dims in products:
        assert 128 in dims and 100 not in dims and 70 not in dims, dims
