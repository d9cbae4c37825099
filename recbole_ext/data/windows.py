"""Sliding windows over users' training sequences: Caser's training samples (paper and d2l).

Every window of ``L`` consecutive training items of a user is one sample, with the next ``T``
items as its targets. A user with fewer than ``L + T`` items (but more than ``T``) gives one
window padded with 0 at the front, as caser_pytorch does; a user with ``T`` items or fewer gives
none. Everything is vectorised: one ``unfold`` over the right-aligned sequence matrix::

    >>> seqs = torch.tensor([[1, 2, 3, 4, 0], [5, 6, 0, 0, 0]]); lengths = torch.tensor([4, 2])
    >>> rows, windows, targets = sliding_windows(seqs, lengths, window=2, n_targets=1)
    >>> rows.tolist(), windows.tolist(), targets.tolist()
    ([0, 0, 1], [[1, 2], [2, 3], [0, 5]], [[3], [4], [6]])
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def right_align(item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
    """Move each row's first ``item_seq_len`` items to its end, padding (0) first: [B, M] -> [B, M].

    Lengths above M count as M (RecBole hands over the latest M items, left-aligned).
    """
    width = item_seq.size(1)
    shift = width - item_seq_len.clamp(max=width).unsqueeze(1)  # [B, 1]
    source = torch.arange(width, device=item_seq.device).unsqueeze(0) - shift  # [B, M]
    aligned = item_seq.gather(1, source.clamp(min=0))  # [B, M]
    return aligned.masked_fill(source < 0, 0)


def sliding_windows(
    item_seqs: torch.Tensor, lengths: torch.Tensor, window: int, n_targets: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (window, targets) samples of left-aligned sequences ``item_seqs`` [U, M] (0 = padding).

    Returns ``rows`` [W] (the row of ``item_seqs`` each sample comes from), ``windows`` [W, L] and
    ``targets`` [W, T], ordered by row, then by position in the sequence.
    """
    if window < 1 or n_targets < 1:
        raise ValueError(f"window and n_targets must be >= 1, got {window} and {n_targets}.")
    span = window + n_targets
    n_rows, width = item_seqs.shape
    if width < span:  # room for one front-padded window
        item_seqs = F.pad(item_seqs, (0, span - width))
        width = span
    lengths = lengths.to(item_seqs.device).clamp(max=width)
    spans = right_align(item_seqs, lengths).unfold(1, span, 1)  # [U, width - span + 1, span]
    start = torch.arange(spans.size(1), device=item_seqs.device)  # [S]
    first = width - lengths.clamp(min=span)  # [U] first start inside the sequence (or padded once)
    valid = (start.unsqueeze(0) >= first.unsqueeze(1)) & (lengths > n_targets).unsqueeze(1)  # [U, S]
    rows, starts = valid.nonzero(as_tuple=True)  # [W], [W]
    samples = spans[rows, starts]  # [W, span]
    return rows, samples[:, :window], samples[:, window:]
