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
  "SASRec with CE" of the full-ranking reference numbers.
* :func:`sampled_softmax`: softmax cross-entropy over the positive and its k negatives.
* :func:`bpr`: ``-mean_k log s(pos - neg_k)``.
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


def sampled_softmax(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the positive against its k negatives (the positive is class 0)."""
    logits = torch.cat([pos.unsqueeze(-1), neg], dim=-1)  # [..., 1 + k]
    per_position = -torch.log_softmax(logits, dim=-1)[..., 0]
    return _masked_mean(per_position, mask)


def bpr(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """BPR: ``-mean_k log sigmoid(pos - neg_k)`` per position."""
    per_position = -F.logsigmoid(pos.unsqueeze(-1) - neg).mean(-1)
    return _masked_mean(per_position, mask)
