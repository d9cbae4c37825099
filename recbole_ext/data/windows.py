"""Sliding windows over users' training sequences: Caser's training samples (paper and d2l).

Every window of ``L`` consecutive training items of a user is one sample, with the next ``T``
items as its targets. A user with fewer than ``L + T`` items (but more than ``T``) gives one
shorter window (its first ``n - T`` items), as caser_pytorch does by padding in front; a user
with ``T`` items or fewer gives none. Windows are left-aligned with their length, RecBole's
convention for ``item_id_list`` (the model right-aligns them). Vectorised over the CSR arrays of
:class:`recbole_ext.data.user_sequences.UserSequences`::

    >>> indptr, items = torch.tensor([0, 4, 6]), torch.tensor([1, 2, 3, 4, 5, 6])
    >>> rows, windows, lengths, targets = sliding_windows(indptr, items, window=2, n_targets=1)
    >>> rows.tolist(), windows.tolist(), lengths.tolist(), targets.tolist()
    ([0, 0, 1], [[1, 2], [2, 3], [5, 0]], [2, 2, 1], [[3], [4], [6]])

:class:`WindowDataLoader` is the shared one-row-per-user training loader
(:class:`~recbole_ext.data.user_sequences.UserSequenceDataLoader`) with these windows as its
samples and the shared sampler's negatives for every target.
"""

from __future__ import annotations

from typing import Any

import torch
from recbole.data.interaction import Interaction

from recbole_ext.data.user_sequences import UserSequenceDataLoader


def sliding_windows(
    indptr: torch.Tensor, items: torch.Tensor, window: int, n_targets: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (window, targets) samples of the sequences ``items[indptr[r]:indptr[r + 1]]``.

    Returns ``rows`` [W] (the sequence each sample comes from), ``windows`` [W, L] (left-aligned,
    0 after ``lengths``), ``lengths`` [W] and ``targets`` [W, T], ordered by row, then position.
    """
    if window < 1 or n_targets < 1:
        raise ValueError(f"window and n_targets must be >= 1, got {window} and {n_targets}.")
    span = window + n_targets
    indptr, items = indptr.long(), items.long()
    n = indptr[1:] - indptr[:-1]  # [U]
    counts = torch.where(n > n_targets, (n - span + 1).clamp(min=1), torch.zeros_like(n))  # [U]
    rows = torch.repeat_interleave(torch.arange(len(n)), counts)  # [W]
    first = torch.repeat_interleave(counts.cumsum(0) - counts, counts)  # [W]
    start = indptr[rows] + torch.arange(len(rows)) - first  # [W] position of the window's first item
    lengths = (n[rows] - n_targets).clamp(max=window)  # [W] L, or n - T for a short sequence
    offset = torch.arange(window).unsqueeze(0)  # [1, L]
    valid = offset < lengths.unsqueeze(1)  # [W, L]
    windows = torch.where(valid, items[(start.unsqueeze(1) + offset).clamp(max=max(len(items) - 1, 0))], 0)
    targets = items[(start + lengths).unsqueeze(1) + torch.arange(n_targets).unsqueeze(0)]  # [W, T]
    return rows, windows, lengths, targets


class WindowDataLoader(UserSequenceDataLoader):
    """Training loader whose samples are the sliding windows of each user's training sequence.

    ==================  ==========  ===================================================
    field               shape       content
    ==================  ==========  ===================================================
    ``user_id``         [B]         RecBole's user id
    ``item_id_list``    [B, L]      the window, left-aligned (0 after ``item_length``)
    ``item_length``     [B]         items in the window (L, less for a short user)
    ``item_id``         [B, T]      the T items that follow the window
    ``neg_item_id``     [B, T, k]   k negatives per target, never an item of the user's
                                    training sequence (``train_neg_sample_args``)
    ==================  ==========  ===================================================

    L is ``MAX_ITEM_LIST_LENGTH``, T is ``n_targets``. Windows are fixed; negatives are drawn
    anew for every batch from the loader's seeded generator.
    """

    def __init__(self, config: Any, dataset: Any, sampler: Any = None, shuffle: bool = True) -> None:
        self.n_targets: int = int(config["n_targets"] or 1)  # T; before super(): num_samples needs it
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def num_samples(self) -> int:
        """Number of windows; builds them (called by the parent's ``__init__`` once ``sequences`` exist)."""
        self.window_rows, self.windows, self.window_lengths, self.targets = sliding_windows(
            self.sequences.indptr, self.sequences.items, self.max_len, self.n_targets
        )
        return len(self.window_rows)

    def make_batch(self, index: torch.Tensor) -> Interaction:
        rows = self.window_rows[index]  # [B]
        targets = self.targets[index]  # [B, T]
        fields = {
            self.uid_field: self.sequences.users[rows],
            self.item_seq_field: self.windows[index],
            self.item_seq_len_field: self.window_lengths[index],
            self.iid_field: targets,
        }
        if self.neg_sampler is not None:
            fields[self.neg_item_field] = self.sample_negatives(rows, targets)  # [B, T, k]
        return Interaction(fields)
