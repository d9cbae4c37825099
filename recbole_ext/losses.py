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
* cross-entropy: :func:`sampled_softmax` with the masked negatives set to ``-inf``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


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
