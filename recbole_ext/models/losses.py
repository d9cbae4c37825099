"""Training losses for sequential models, in one module.

Every loss takes scores already computed by the model and a boolean ``mask`` of the positions
that count (False at padding), and returns the mean over counted positions (a scalar). Shapes:
``pos`` [...] one score per position, ``neg`` [..., k] k sampled negatives per position,
``logits`` [..., n_items] a score for every item; ``...`` is e.g. [B, L] (every position of a
sequence, SASRec) or [B, T] (Caser's targets). A position without any counted entry contributes
nothing; with no counted position at all the loss is 0 (still connected to the graph).

* :func:`sampled_bce`: BCE with sampled negatives, ``-log s(pos) - sum_k log(1 - s(neg_k))``
  (SASRec paper, GoodReads tutorial with k = 1).
* :func:`gbce`: generalised BCE of gSASRec (Petrov & Macdonald, RecSys 2023):
  ``-beta log s(pos) - sum_k log(1 - s(neg_k))`` with ``beta = alpha (t (1 - 1/alpha) + 1/alpha)``,
  ``alpha = k / (n_items - 1)``; ``t`` = 0 is plain BCE, ``t`` = 1 undoes the sampling's
  overconfidence entirely.
* :func:`softmax_ce`: softmax cross-entropy over all items (``logits`` [..., n_items]), the
  "SASRec with CE" of the full-ranking reference numbers; :func:`shared_softmax_ce` the same
  for several targets of one row (CaserPaper's T targets per window) with one softmax per row.
* :func:`chunked_softmax_ce`: the same loss computed from the hidden states and the item table
  (``logits = hidden @ weight.T + bias``) without ever holding the [rows x items] logits: rows
  (and, for large catalogues, items) are processed in chunks bounded by ``budget_mb``, and the
  gradients are formed chunk by chunk in the same pass. What the models train with.
* :func:`sampled_softmax`: softmax cross-entropy over the positive and its k negatives.
* :func:`bpr`: ``-mean_k log s(pos - neg_k)``.

GRU4Rec's losses (Hidasi et al. 2016; Hidasi & Karatzoglou, CIKM 2018), where the negatives of
a position are the other targets of the mini-batch plus shared sampled items, so some columns of
``neg`` must not count (the row's own target, padding): ``neg_mask`` [..., k] is True where a
negative counts (``None``: all). ``s_j`` is the softmax of the counted negative scores.

* :func:`bpr` (with ``neg_mask``);
* :func:`top1`: ``mean_j s(neg_j - pos) + s(neg_j^2)``;
* :func:`bpr_max`: ``-log sum_j s_j s(pos - neg_j) + bpreg sum_j s_j neg_j^2``;
* :func:`top1_max`: ``sum_j s_j (s(neg_j - pos) + s(neg_j^2))``;
* cross-entropy: :func:`sampled_softmax` with the masked negatives set to ``-inf``;
  :func:`shared_negatives_softmax_ce` the same loss fused, from the hidden states and embeddings
  (what GRU4RecPaper trains with for ``CE``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

DEFAULT_BUDGET_MB = 8.0  # float32 logits of one chunk: 8 MiB holds 565 rows of ML-1M's items (taken as 512)
MIN_CHUNK_ROWS = 64  # below this many rows a chunk's products run as slow matrix-vector products
# A chunk's products take a multiple of ROW_QUANTUM rows (zero rows after the real ones): oneDNN, which runs
# bfloat16 products on the CPU, compiles and keeps code for every new shape, so rows that changed with
# every batch (the real positions) grew a bf16 run's memory by ~1 MiB a step (docs/speed.md, "Memory").
ROW_QUANTUM = 64
MASKED_LOGIT = -1e30  # a masked column where a whole row may be masked: exp(MASKED_LOGIT - l) is 0, never nan


def _masked_mean(per_position: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_position.mean()
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum() / mask.sum().clamp(min=1.0)


def sampled_bce(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """BCE-with-logits: positives labelled 1, each of the k negatives labelled 0, summed per position."""
    per_position = -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)
    return _masked_mean(per_position, mask)


def gbce_beta(n_negatives: int, n_items: int, t: float) -> float:
    """gSASRec's ``beta`` for k = ``n_negatives`` of ``n_items - 1`` real items and calibration ``t``."""
    alpha = n_negatives / (n_items - 1)
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce(pos: torch.Tensor, neg: torch.Tensor, n_items: int, t: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Generalised BCE (gSASRec): the positive term weighted by ``beta`` (see :func:`gbce_beta`)."""
    beta = gbce_beta(neg.size(-1), n_items, t)
    per_position = -beta * F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)
    return _masked_mean(per_position, mask)


def softmax_ce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over all items: ``logits`` [..., n_items], ``target`` [...] item ids."""
    if mask is not None:  # compute only the counted positions
        logits, target = logits[mask], target[mask]
        if target.numel() == 0:
            return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1))


def shared_softmax_ce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over all items of several targets per row sharing one softmax: ``logits``
    [B, n_items], ``targets`` [B, T] item ids, ``mask`` [B, T] the targets counted; the mean over them.

    The same numbers as :func:`softmax_ce` on ``logits`` repeated for each target, with one
    ``log_softmax`` per row instead of T.
    """
    if not bool(mask.any()):
        return logits.sum() * 0.0
    log_p = torch.log_softmax(logits, dim=-1).gather(1, targets)  # [B, T]
    return -log_p[mask].mean()


def chunked_softmax_ce(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    budget_mb: float = DEFAULT_BUDGET_MB,
) -> torch.Tensor:
    """Softmax cross-entropy over items 1 .. n - 1 (item 0, padding, is never a class), fused with
    the scoring product and computed in chunks.

    ``hidden`` [R, H], ``weight`` [n, H] the item table, ``bias`` [n] or None; ``targets`` [R] or
    [R, T] item ids (1 .. n - 1 where counted), ``mask`` the same shape, True where a target counts
    (None: all). Returns the mean over counted targets of ``logsumexp_i(l_ri) - l_r,target``,
    ``l = hidden @ weight.T + bias``: with T > 1 the T targets of a row share its softmax (the
    numbers of :func:`shared_softmax_ce`), with T = 1 it is :func:`softmax_ce` on those logits
    with column 0 at ``-inf``.

    Memory: the float32 logits of one chunk, at most ``budget_mb`` MiB (at least
    ``MIN_CHUNK_ROWS`` rows): rows are taken ``budget / (4 n)`` at a time, rounded down to a multiple
    of ``ROW_QUANTUM`` (the rows are padded to one with rows that count nothing, so that the products
    see few distinct shapes: see ``ROW_QUANTUM``); when fewer than
    ``MIN_CHUNK_ROWS`` rows fit, items are chunked too and each row chunk makes two passes (its
    log-sum-exp, then its gradients), so the budget holds for any catalogue size. Never [R x n].

    Gradients are formed in the forward pass, chunk by chunk (``softmax - one_hot`` times the
    chunk's rows and items), and kept ([R, H] and [n, H], the sizes of the inputs): the backward
    only scales them by the incoming gradient (and adds the counted targets' one-hot part to the
    items'), so nothing is recomputed. They are formed only when an input requires a gradient. The
    bias enters the logits product (``addmm``) and its gradient is one more row of the items'
    gradient product (the rows' weights ``m_r`` beside ``m_r h_r``), not products of its own.

    Precision: under ``torch.autocast`` with bfloat16 (``precision: bf16``) the three products run
    in bfloat16 (AMX / AVX-512-bf16 on CPUs that have it, tensor cores on CUDA); the softmax
    accumulates its max and sum in float32 (torch's kernel) and writes bfloat16 probabilities, which
    feed the two gradient products as their cast would; the loss (``-log p_target``, the exact
    log-sum-exp where ``p`` underflows) and the accumulated gradients are float32.
    """
    if targets.dim() == 1:
        targets = targets.unsqueeze(1)
        mask = None if mask is None else mask.unsqueeze(1)
    if mask is None:
        mask = torch.ones_like(targets, dtype=torch.bool)
    device_type = hidden.device.type
    compute_dtype = hidden.dtype if hidden.dtype != torch.float32 else weight.dtype
    if torch.is_autocast_enabled(device_type):
        compute_dtype = torch.get_autocast_dtype(device_type)
    with torch.autocast(device_type, enabled=False):
        return _ChunkedSoftmaxCE.apply(hidden, weight, bias, targets, mask, compute_dtype, float(budget_mb))


def chunk_sizes(rows: int, classes: int, budget_mb: float) -> tuple[int, int]:
    """(rows, items) of one chunk of float32 logits within ``budget_mb`` MiB (see :func:`chunked_softmax_ce`).

    >>> chunk_sizes(25_600, 3_706, 8.0)   # ML-1M: whole rows of logits, 512 rows a chunk
    (512, 3706)
    >>> chunk_sizes(100, 3_706, 8.0)   # fewer rows than fit: all of them, padded to ROW_QUANTUM
    (128, 3706)
    >>> chunk_sizes(25_600, 2_360_151, 8.0)   # GoodReads' 2.36M items: 64 rows x 32,768 items
    (64, 32768)
    """
    budget = max(1, int(budget_mb * 2**20 / 4))  # float32 entries
    classes = max(classes, 1)
    if budget // classes >= MIN_CHUNK_ROWS:  # a multiple of ROW_QUANTUM (MIN_CHUNK_ROWS is one)
        return min(_padded(rows), budget // classes // ROW_QUANTUM * ROW_QUANTUM), classes
    return MIN_CHUNK_ROWS, max(1, min(classes, budget // MIN_CHUNK_ROWS))


def _padded(rows: int) -> int:
    """``rows`` rounded up to a multiple of ``ROW_QUANTUM`` (at least one)."""
    return max(1, -(-rows // ROW_QUANTUM)) * ROW_QUANTUM


def _pad_rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` with zero rows appended up to :func:`_padded` of its rows (``x`` itself when none are)."""
    extra = _padded(x.size(0)) - x.size(0)
    if extra == 0:
        return x
    return torch.cat([x, x.new_zeros(extra, *x.shape[1:])])


class _ChunkedSoftmaxCE(torch.autograd.Function):
    """See :func:`chunked_softmax_ce`."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, mask, compute_dtype, budget_mb):  # noqa: D401
        # d loss / d logits[r] = scale * (m_r * softmax(logits[r]) - sum of row r's counted one-hots), with
        # m_r the counted targets of row r and scale = 1 / all counted targets. The softmax part enters the
        # two gradient products (chunk by chunk); the one-hot part is a gather and an index_add of H-vectors.
        rows, n_items = hidden.size(0), weight.size(0)
        classes = n_items - 1  # item 0 is padding
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        scale = 1.0 / max(int(mask.sum()), 1)
        per_row = mask.sum(1).to(torch.float32)  # [R] m_r
        # Layouts measured fastest for these shapes (bf16, 565 x 50 x 3,706): the logits product reads the
        # item table transposed and contiguous, and the items' gradient is accumulated transposed
        # ([H, n] += h^T @ probs: 1.8x faster than probs^T @ h, which reads the probabilities across rows).
        # The chunks' logits and probabilities reuse two buffers: a fresh 4 MiB tensor per chunk comes
        # from the kernel as new pages, and faulting them in cost as much as the product (~1 ms a chunk).
        row_step, item_step = chunk_sizes(rows, classes, budget_mb)
        w = weight[1:].to(compute_dtype)  # [n - 1, H]
        w_t = w.T.contiguous() if item_step == classes else w.T  # [H, n - 1]; no copy of a catalogue in item chunks
        b = None if bias is None else bias[1:].to(compute_dtype)  # added to logits already in compute_dtype
        # rows padded to a multiple of ROW_QUANTUM, so that every chunk's products do: a padding row is a zero
        # hidden state with no counted target (m_r = 0), so it adds nothing to the loss or any gradient
        h_all, targets, mask, per_row = (_pad_rows(t) for t in (hidden.to(compute_dtype), targets, mask, per_row))
        device = hidden.device
        grad_hidden = (torch.zeros(len(h_all), hidden.size(1), dtype=torch.float32, device=device)
                       if needs_grad else None)
        # The items' gradient, transposed, with the bias's as one more row: [H (+ 1), n - 1], one product per chunk
        with_bias = bias is not None
        grad_wb_t = (torch.zeros(weight.size(1) + with_bias, classes, dtype=torch.float32, device=device)
                     if needs_grad else None)
        total = torch.zeros((), dtype=torch.float32, device=device)

        def raw_logits(h, lo, hi):  # [C, hi - lo] in compute_dtype, the bias inside the product as for whole rows
            return h @ w_t[:, lo:hi] if b is None else torch.addmm(b[lo:hi], h, w_t[:, lo:hi])

        buffers = None
        for r0 in range(0, len(h_all), row_step):
            r1 = min(len(h_all), r0 + row_step)
            h = h_all[r0:r1]  # [C, H]
            tgt = (targets[r0:r1] - 1).clamp(min=0)  # [C, T] class index
            counted = mask[r0:r1]
            if item_step == classes:  # whole rows: one fused softmax, kept for the gradients
                if buffers is None:  # the chunk's logits and probabilities, allocated once for all chunks
                    buffers = torch.empty(2, row_step, classes, dtype=compute_dtype, device=device)
                out = buffers[0, : r1 - r0]  # [C, n - 1]
                raw = torch.mm(h, w_t, out=out) if b is None else torch.addmm(b, h, w_t, out=out)
                # torch's softmax accumulates its max and sum in float32 whatever the dtype; its output
                # stays in the logits' dtype (bfloat16 under bf16: what the gradient products read)
                probs = torch.ops.aten._softmax.out(raw, 1, False, out=buffers[1, : r1 - r0])  # [C, n - 1]
                log_p = probs.gather(1, tgt).to(torch.float32).log()  # [C, T]
                lost = counted & torch.isinf(log_p)  # the target's probability underflowed: exact log-sum-exp
                if bool(lost.any()):
                    lost_rows = lost.any(1).nonzero().squeeze(1)
                    part = raw[lost_rows].to(torch.float32)
                    exact = part.gather(1, tgt[lost_rows]) - torch.logsumexp(part, dim=1, keepdim=True)
                    log_p[lost_rows] = torch.where(lost[lost_rows], exact, log_p[lost_rows])
            else:  # item chunks: an online log-sum-exp first, the softmax chunks again for the gradients
                lse = torch.full((r1 - r0, 1), float("-inf"), dtype=torch.float32, device=device)
                log_p = torch.zeros(tgt.shape, dtype=torch.float32, device=device)
                for i0 in range(0, classes, item_step):
                    i1 = min(classes, i0 + item_step)
                    part = raw_logits(h, i0, i1).to(torch.float32)
                    lse = torch.logaddexp(lse, torch.logsumexp(part, dim=1, keepdim=True))
                    inside = (tgt >= i0) & (tgt < i1)
                    log_p += torch.where(inside, part.gather(1, (tgt - i0).clamp(0, i1 - i0 - 1)), 0.0)
                log_p -= lse
            total -= (log_p * counted).sum()
            if not needs_grad:
                continue
            m = per_row[r0:r1].unsqueeze(1)  # [C, 1]
            h_m = h * m.to(h.dtype)  # [C, H]: row r weighted by m_r
            h_m_t = (torch.cat([h_m, m.to(h.dtype)], dim=1) if with_bias else h_m).T.contiguous()  # [H (+ 1), C]
            for i0 in range(0, classes, item_step):
                i1 = min(classes, i0 + item_step)
                if item_step != classes:
                    probs = torch.exp(raw_logits(h, i0, i1).to(torch.float32).sub_(lse))  # [C, i1 - i0]
                probs_c = probs.to(compute_dtype)
                grad_hidden[r0:r1] += (probs_c @ w[i0:i1]).to(torch.float32).mul_(m * scale)
                grad_wb_t[:, i0:i1] += (h_m_t @ probs_c).to(torch.float32)
        if needs_grad:  # the one-hot part, for every counted target at once (the items' in the backward)
            row_of, column = mask.nonzero(as_tuple=True)
            class_of = targets[row_of, column] - 1
            grad_hidden.index_add_(0, row_of, w[class_of].to(torch.float32), alpha=-scale)
            grad_wb_t.mul_(scale)
            grad_w_t, grad_b = grad_wb_t[: weight.size(1)], (grad_wb_t[-1] if with_bias else None)
            if with_bias:
                grad_b.index_add_(0, class_of, torch.ones_like(class_of, dtype=torch.float32), alpha=-scale)
            ctx.save_for_backward(grad_hidden[:rows], grad_w_t, grad_b, class_of, h_all[row_of])
            ctx.scale = scale
            ctx.has_bias = with_bias
            ctx.shapes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        return total * scale

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_w_t, grad_b, class_of, picked = ctx.saved_tensors
        hidden_dtype, weight_dtype, bias_dtype = ctx.shapes
        d_hidden = (grad_hidden * grad_output).to(hidden_dtype) if ctx.needs_input_grad[0] else None
        d_weight = None
        if ctx.needs_input_grad[1]:  # the softmax part [H, n - 1] transposed, then each counted target's one-hot
            d_weight = torch.cat([torch.zeros_like(grad_w_t[:, :1].T), grad_w_t.T * grad_output])  # [n, H]
            d_weight[1:].index_add_(0, class_of, picked.to(torch.float32) * (-ctx.scale * grad_output))
            d_weight = d_weight.to(weight_dtype)
        d_bias = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            d_bias = torch.cat([torch.zeros_like(grad_b[:1]), grad_b * grad_output]).to(bias_dtype)
        return d_hidden, d_weight, d_bias, None, None, None, None


def shared_negatives_softmax_ce(
    hidden: torch.Tensor, target_emb: torch.Tensor, target_bias: torch.Tensor, targets: torch.Tensor,
    sample_emb: torch.Tensor, sample_bias: torch.Tensor, samples: torch.Tensor,
    target_offset: torch.Tensor | None = None, sample_offset: torch.Tensor | None = None,
    budget_mb: float = DEFAULT_BUDGET_MB,
) -> torch.Tensor:
    """GRU4Rec's cross-entropy over in-batch and shared negatives, fused: the same loss and gradients as
    :func:`sampled_softmax` over ``[pos, in-batch targets, samples]`` with the own column and every
    column of the same item or of padding masked, in a few passes instead of a dozen.

    Step-major: ``hidden`` [L, B, H], ``target_emb`` / ``target_bias`` [L, B, H] / [L, B] (the output
    embedding and bias of ``targets`` [L, B], 0 = padding), ``sample_emb`` / ``sample_bias`` [S, H] / [S]
    of ``samples`` [S]. Row (t, b) scores column j < B as ``hidden[t, b] . target_emb[t, j] +
    target_bias[t, j]`` (its own column j = b is the positive) and the samples after them;
    ``target_offset`` [L, B] / ``sample_offset`` [S] are added to the columns (logQ). The mean over the
    real positions (``targets != 0``).

    The small ``[L, B, B]`` in-batch logits are made whole; the sampled logits only at the ``P`` real
    positions, ``[P, S]``, one chunk of rows at a time (at most ``budget_mb`` MiB of float32, at least
    ``MIN_CHUNK_ROWS`` rows, in buffers reused by every chunk; the products' rows padded with zero rows to a
    multiple of ``ROW_QUANTUM``), each chunk turned into its probabilities
    by torch's fused softmax (the chunk's log-sum-exp is read from its largest probability, which sits at
    the largest logit and is ``1 / sum_j exp(l_j - max)``), then into gradients (``softmax - one_hot``)
    in place, multiplied into the hidden states' and samples' gradients at once, as
    :func:`chunked_softmax_ce` does: nothing of size ``P S`` is kept for the backward. A masked sample
    column is ``MASKED_LOGIT``, not ``-inf``, so a row whose samples are all masked stays finite.

    Precision: under ``torch.autocast`` with bfloat16 (``precision: bf16``) the sampled block's three
    products run in bfloat16; its logits are added to their biases, and the softmax, the loss and every
    gradient are accumulated, in float32. The in-batch block is float32 throughout.
    """
    device_type = hidden.device.type
    compute_dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else torch.float32
    with torch.autocast(device_type, enabled=False):
        return _SharedNegativesCE.apply(hidden, target_emb, target_bias, sample_emb, sample_bias, targets, samples,
                                        target_offset, sample_offset, compute_dtype, float(budget_mb))


class _SharedNegativesCE(torch.autograd.Function):
    """See :func:`shared_negatives_softmax_ce`."""

    @staticmethod
    def forward(ctx, hidden, target_emb, target_bias, sample_emb, sample_bias, targets, samples, target_offset,
                sample_offset, compute_dtype, budget_mb):  # noqa: D401
        ctx.dtypes = tuple(t.dtype for t in (hidden, target_emb, target_bias, sample_emb, sample_bias))
        hidden, target_emb, target_bias, sample_emb, sample_bias = (
            t.float() for t in (hidden, target_emb, target_bias, sample_emb, sample_bias))
        steps, batch, width = hidden.shape
        rows, n_samples = steps * batch, sample_emb.size(0)
        device = hidden.device
        # the in-batch block, whole and float32: [L, B, B], row (t, b) = flat row t B + b
        columns = target_bias if target_offset is None else target_bias + target_offset  # [L, B]
        in_batch = torch.baddbmm(columns.unsqueeze(1), hidden, target_emb.transpose(1, 2))  # [L, B, B]
        own = torch.eye(batch, dtype=torch.bool, device=device)  # [B, B]
        same = targets.unsqueeze(2) == targets.unsqueeze(1)  # [L, B, B] column j holds row b's item
        in_batch.masked_fill_((same & ~own) | (targets == 0).unsqueeze(1), float("-inf"))
        # only the real positions are scored against the samples (ML-1M's session chunks: 13% padding)
        real = (targets.reshape(-1) != 0).nonzero().squeeze(1)  # [P] flat row t B + b of each real position
        count = max(real.numel(), 1)
        in_rows = in_batch.view(rows, batch)[real]  # [P, B] a copy: becomes the gradients in place
        pos = in_rows.gather(1, (real % batch).unsqueeze(1)).squeeze(1)  # [P] the own column
        # the sampled block, chunk by chunk of real positions
        sample_columns = sample_bias if sample_offset is None else sample_bias + sample_offset  # [S]
        hit_rows, hit_columns = _equal_pairs(targets.reshape(-1)[real], samples)  # a sample that is the row's target
        flat = _pad_rows(hidden.reshape(rows, width)[real].to(compute_dtype))  # [P padded, H]
        s = sample_emb.to(compute_dtype)  # [S, H]
        s_t = s.T.contiguous()  # [H, S]: the layout the logits product reads fastest (as chunked_softmax_ce)
        row_step = chunk_sizes(len(real), n_samples, budget_mb)[0]  # a multiple of ROW_QUANTUM; S never chunked
        # buffers reused by every chunk: the float32 logits and probabilities, and in bfloat16 the products' own
        logits, probs = torch.empty(2, row_step, n_samples, dtype=torch.float32, device=device)
        cast = logits if compute_dtype == torch.float32 else torch.empty_like(probs, dtype=compute_dtype)
        needs_grad = any(ctx.needs_input_grad[:5])
        grad_real = torch.empty(len(real), width, dtype=torch.float32, device=device) if needs_grad else None
        grad_s_t = torch.zeros(width, n_samples, dtype=torch.float32, device=device) if needs_grad else None
        grad_sample_bias = torch.zeros(n_samples, dtype=torch.float32, device=device) if needs_grad else None
        loss = torch.zeros((), dtype=torch.float32, device=device)
        for r0 in range(0, len(real), row_step):
            r1 = min(len(real), r0 + row_step)
            h = flat[r0: r0 + _padded(r1 - r0)]  # [C padded, H]: the products' rows, zeros after the C real ones
            part = torch.mm(h, s_t, out=cast[: len(h)])[: r1 - r0]  # [C, S] in compute_dtype
            if cast is not logits:
                part = logits[: r1 - r0].copy_(part)  # float32 from here on
            part.add_(sample_columns)
            inside = (hit_rows >= r0) & (hit_rows < r1)
            part[hit_rows[inside] - r0, hit_columns[inside]] = MASKED_LOGIT
            # torch's fused softmax (one pass where exp_ alone took longer); its largest probability, at the
            # largest logit, is 1 / sum_j exp(l_j - max), so the block's log-sum-exp costs two row maxima
            top = part.amax(1)  # [C]
            p = torch.ops.aten._softmax.out(part, 1, False, out=probs[: r1 - r0])  # [C, S]
            sampled_lse = top - p.amax(1).log()  # [C]
            in_part = in_rows[r0:r1]  # [C, B]
            lse = torch.logaddexp(sampled_lse, torch.logsumexp(in_part, 1))  # [C] over both blocks
            loss += (lse - pos[r0:r1]).sum()
            if not needs_grad:
                continue
            # the gradient of the mean with respect to the logits: (softmax over both blocks - one_hot) / count
            in_part.sub_(lse.unsqueeze(1)).exp_().div_(count)
            p.mul_(torch.exp(sampled_lse - lse).div_(count).unsqueeze(1))
            grad_sample_bias += p.sum(0)
            probs[r1 - r0: len(h)].zero_()  # the padding rows: no gradient
            g = probs[: len(h)] if cast is logits else cast[: len(h)].copy_(probs[: len(h)])  # [C padded, S]
            grad_real[r0:r1] = (g @ s)[: r1 - r0]
            grad_s_t += h.T @ g
        if needs_grad:
            in_rows[torch.arange(len(real), device=device), real % batch] -= 1.0 / count  # the one-hot part
            grad_in_batch = torch.zeros(rows, batch, dtype=torch.float32, device=device).index_copy_(0, real, in_rows)
            grad_hidden = torch.zeros(rows, width, dtype=torch.float32, device=device).index_copy_(0, real, grad_real)
            ctx.save_for_backward(hidden, target_emb, grad_in_batch.view(steps, batch, batch),
                                  grad_hidden.view(steps, batch, width), grad_s_t, grad_sample_bias)
        return loss / count

    @staticmethod
    def backward(ctx, grad_output):
        hidden, target_emb, g_in, grad_hidden, grad_s_t, grad_sample_bias = ctx.saved_tensors
        if not bool(grad_output == 1):  # the loss itself (grad 1): no scaling
            g_in, grad_hidden = g_in * grad_output, grad_hidden * grad_output
            grad_s_t, grad_sample_bias = grad_s_t * grad_output, grad_sample_bias * grad_output
        d_hidden = torch.baddbmm(grad_hidden, g_in, target_emb)  # [L, B, H]
        d_target_emb = torch.bmm(g_in.transpose(1, 2), hidden)  # [L, B, H]
        d_target_bias = g_in.sum(1)  # [L, B]
        grads = (d_hidden, d_target_emb, d_target_bias, grad_s_t.T, grad_sample_bias)
        return (*(g.to(dtype) for g, dtype in zip(grads, ctx.dtypes)), None, None, None, None, None, None)


def _equal_pairs(keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (i, j) with ``keys[i] == values[j]``, found by sorting ``values`` (no ``[len(keys) x len(values)]``
    comparison).

    >>> [t.tolist() for t in _equal_pairs(torch.tensor([5, 1, 5]), torch.tensor([5, 2, 5]))]
    [[0, 0, 2, 2], [0, 2, 0, 2]]
    """
    ordered, order = torch.sort(values)
    first = torch.searchsorted(ordered, keys)
    last = torch.searchsorted(ordered, keys, right=True)
    counts = last - first  # [K] equal values per key
    rows = torch.repeat_interleave(torch.arange(len(keys), device=keys.device), counts)
    offset = torch.arange(len(rows), device=keys.device) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    return rows, order[torch.repeat_interleave(first, counts) + offset]


def sampled_softmax(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the positive against its k negatives (the positive is class 0)."""
    logits = torch.cat([pos.unsqueeze(-1), neg], dim=-1)  # [..., 1 + k]
    per_position = -torch.log_softmax(logits, dim=-1)[..., 0]
    return _masked_mean(per_position, mask)


def bpr(
    pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None, neg_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """BPR: ``-mean_k log sigmoid(pos - neg_k)`` per position (over the negatives ``neg_mask`` keeps)."""
    per_position = _neg_mean(-F.logsigmoid(pos.unsqueeze(-1) - neg), neg_mask)
    return _masked_mean(per_position, mask)


def _neg_mean(per_negative: torch.Tensor, neg_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the last dimension of the entries ``neg_mask`` keeps (0 where none is kept)."""
    if neg_mask is None:
        return per_negative.mean(-1)
    keep = neg_mask.to(per_negative.dtype)
    return (per_negative * keep).sum(-1) / keep.sum(-1).clamp(min=1.0)


def _neg_softmax(neg: torch.Tensor, neg_mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the counted negatives of each position (0 at the others): [..., k]."""
    if neg_mask is None:
        return torch.softmax(neg, dim=-1)
    weights = torch.softmax(neg.masked_fill(~neg_mask, float("-inf")), dim=-1)
    return torch.nan_to_num(weights, nan=0.0)  # a position without any counted negative


def top1(
    pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None, neg_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """TOP1 (GRU4Rec 2016): ``mean_j sigmoid(neg_j - pos) + sigmoid(neg_j ** 2)``."""
    per_negative = torch.sigmoid(neg - pos.unsqueeze(-1)) + torch.sigmoid(neg.pow(2))
    return _masked_mean(_neg_mean(per_negative, neg_mask), mask)


def bpr_max(
    pos: torch.Tensor,
    neg: torch.Tensor,
    bpreg: float,
    mask: torch.Tensor | None = None,
    neg_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """BPR-max (GRU4Rec 2018): ``-log sum_j s_j sigmoid(pos - neg_j) + bpreg sum_j s_j neg_j ** 2``."""
    weights = _neg_softmax(neg, neg_mask)  # [..., k]
    ranked = (weights * torch.sigmoid(pos.unsqueeze(-1) - neg)).sum(-1)
    per_position = -torch.log(ranked + 1e-24) + bpreg * (weights * neg.pow(2)).sum(-1)
    return _masked_mean(per_position, mask)


def top1_max(
    pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None, neg_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """TOP1-max (GRU4Rec 2018): ``sum_j s_j (sigmoid(neg_j - pos) + sigmoid(neg_j ** 2))``."""
    weights = _neg_softmax(neg, neg_mask)  # [..., k]
    per_negative = torch.sigmoid(neg - pos.unsqueeze(-1)) + torch.sigmoid(neg.pow(2))
    return _masked_mean((weights * per_negative).sum(-1), mask)


# The losses over a positive and sampled negatives, by the ``loss_type`` names the models accept: each
# takes (pos, neg, mask, neg_mask) and the parameters some need (gBCE: n_items, gbce_t; BPR-max: bpreg).
SAMPLED_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "BCE": lambda pos, neg, mask, neg_mask, **_: sampled_bce(pos, neg, mask),
    "gBCE": lambda pos, neg, mask, neg_mask, *, n_items, gbce_t, **_: gbce(pos, neg, n_items, gbce_t, mask),
    "SSM": lambda pos, neg, mask, neg_mask, **_: sampled_softmax(
        pos, neg if neg_mask is None else neg.masked_fill(~neg_mask, float("-inf")), mask),
    "BPR": lambda pos, neg, mask, neg_mask, **_: bpr(pos, neg, mask, neg_mask),
    "TOP1": lambda pos, neg, mask, neg_mask, **_: top1(pos, neg, mask, neg_mask),
    "BPR-max": lambda pos, neg, mask, neg_mask, *, bpreg, **_: bpr_max(pos, neg, bpreg, mask, neg_mask),
    "TOP1-max": lambda pos, neg, mask, neg_mask, **_: top1_max(pos, neg, mask, neg_mask),
}


def sampled_loss(name: str, pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None,
                 neg_mask: torch.Tensor | None = None, **params: Any) -> torch.Tensor:
    """The loss ``name`` of :data:`SAMPLED_LOSSES` (softmax CE over sampled negatives is ``SSM``).

    >>> pos, neg = torch.tensor([2.0]), torch.tensor([[0.0, 1.0]])
    >>> round(float(sampled_loss("SSM", pos, neg)), 4) == round(float(sampled_softmax(pos, neg)), 4)
    True
    """
    return SAMPLED_LOSSES[name](pos, neg, mask, neg_mask, **params)

