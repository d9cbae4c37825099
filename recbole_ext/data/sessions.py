"""Sessions: each user's training sequence cut at inactivity gaps, then into GRU-sized chunks.

GRU4Rec (Hidasi et al. 2016) trains on *sessions*: the hidden state starts from zero at the
first click of a session and never carries over into the next one. RecBole's data has users, not
sessions. ``session_gap_seconds`` (config key; ``~`` = one session per user, the default) cuts
a user's time-ordered training sequence wherever two consecutive interactions are more than that
many seconds apart (e.g. 1800 for 30 minutes, 86400 for a day). Users never share a session.

Each session is then cut into *chunks* of at most ``L + 1`` items (``L`` =
``MAX_ITEM_LIST_LENGTH``) that overlap by one item, so every next-item target of the session
occurs in exactly one chunk; a chunk is one training row (inputs = its first items, targets =
the next ones). The GRU starts from zero at each chunk, as it does on RecBole's evaluation rows
(the last ``L`` items of a history). Everything is vectorised over the CSR arrays of
:class:`recbole_ext.data.user_sequences.UserSequences`::

    >>> indptr = torch.tensor([0, 5, 8])
    >>> times = torch.tensor([0., 10., 20., 5000., 5010., 0., 9999., 10000.])
    >>> session_bounds(indptr, times, gap=100).tolist()
    [[0, 3], [3, 5], [5, 6], [6, 8]]
    >>> chunk_bounds(torch.tensor([[0, 5]]), max_len=2).tolist()
    [[0, 3], [2, 5]]
"""

from __future__ import annotations

from typing import Any

import torch
from recbole.data.interaction import Interaction

from recbole_ext.data.user_sequences import UserSequenceDataLoader


def session_gap(config: Any) -> float | None:
    """``session_gap_seconds`` as a number of seconds, or None (one session per user).

    >>> session_gap({"session_gap_seconds": "none"}), session_gap({"session_gap_seconds": 1800})
    (None, 1800.0)
    """
    gap = config["session_gap_seconds"]
    return None if gap in (None, "none", "None") else float(gap)


def session_bounds(indptr: torch.Tensor, timestamps: torch.Tensor | None, gap: float | None) -> torch.Tensor:
    """``[S, 2]`` (start, end) positions in the items array of every session, in order.

    A session ends where the user changes or, when ``gap`` is set, where the next interaction of
    the same user comes more than ``gap`` seconds later. Empty users give no session.
    """
    n = int(indptr[-1])
    is_start = torch.zeros(n + 1, dtype=torch.bool)  # [N + 1]; position N closes the last one
    is_start[indptr] = True
    if gap is not None:
        if timestamps is None:
            raise ValueError("session_gap_seconds needs the timestamp column (load_col inter: timestamp).")
        is_start[1:n] |= (timestamps[1:] - timestamps[:-1]) > float(gap)
    bounds = is_start.nonzero().flatten()  # [S + 1] (duplicates removed: empty users vanish)
    return torch.stack([bounds[:-1], bounds[1:]], dim=1)


def chunk_bounds(sessions: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[C, 2]`` chunks of at most ``max_len + 1`` items, overlapping by one, of every session.

    A session of ``n >= 2`` items gives ``ceil((n - 1) / max_len)`` chunks; one of a single item
    gives none (it has no next item).
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    start, end = sessions[:, 0], sessions[:, 1]
    targets = (end - start - 1).clamp(min=0)  # [S] next-item targets per session
    n_chunks = (targets + max_len - 1) // max_len  # [S]
    owner = torch.repeat_interleave(torch.arange(len(sessions)), n_chunks)  # [C]
    first = torch.repeat_interleave(n_chunks.cumsum(0) - n_chunks, n_chunks)  # [C]
    k = torch.arange(len(owner)) - first  # [C] chunk number inside its session
    chunk_start = start[owner] + k * max_len
    chunk_end = torch.minimum(chunk_start + max_len + 1, end[owner])
    return torch.stack([chunk_start, chunk_end], dim=1)


class SessionDataLoader(UserSequenceDataLoader):
    """Training loader with one row per chunk of a session (see the module docstring).

    ==================  ==========  ===================================================
    field               shape       content
    ==================  ==========  ===================================================
    ``user_id``         [B]         RecBole's user id of the session
    ``item_id_list``    [B, L]      the chunk's inputs, left-aligned (0 after ``item_length``)
    ``item_length``     [B]         number of inputs (>= 1)
    ``item_id``         [B, L]      the next item at every input position (0 at padding)
    ==================  ==========  ===================================================

    No negatives: models sample their own (GRU4RecPaper shares them across the mini-batch).
    ``loader.chunks`` [C, 2] and ``loader.chunk_user_rows`` [C] keep the chunks.
    """

    def __init__(self, config: Any, dataset: Any, sampler: Any = None, shuffle: bool = True) -> None:
        self.session_gap: float | None = session_gap(config)
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def needs_times(self) -> bool:
        return self.session_gap is not None  # sessions are cut at time gaps

    def num_samples(self) -> int:
        """Number of chunks; builds them (the parent's ``__init__`` calls it once ``sequences`` exist)."""
        seqs = self.sequences
        self.sessions = session_bounds(seqs.indptr, seqs.timestamps, self.session_gap)  # [S, 2]
        self.chunks = chunk_bounds(self.sessions, self.max_len)  # [C, 2]
        self.chunk_user_rows = torch.searchsorted(seqs.indptr, self.chunks[:, 0].contiguous(), right=True) - 1  # [C]
        return len(self.chunks)

    def make_batch(self, index: torch.Tensor) -> Interaction:
        start, end = self.chunks[index, 0], self.chunks[index, 1]  # [B], [B]
        offset = torch.arange(self.max_len + 1).unsqueeze(0)  # [1, L + 1]
        valid = offset < (end - start).unsqueeze(1)  # [B, L + 1]
        pos = (start.unsqueeze(1) + offset).clamp(max=len(self.sequences.items) - 1)
        items = torch.where(valid, self.sequences.items[pos], torch.zeros_like(pos))  # [B, L + 1]
        inputs, targets = items[:, :-1].clone(), items[:, 1:]  # [B, L], [B, L]
        inputs[targets == 0] = 0  # the last item of a chunk is only a target
        return Interaction({
            self.uid_field: self.sequences.users[self.chunk_user_rows[index]],
            self.item_seq_field: inputs,
            self.item_seq_len_field: end - start - 1,
            self.iid_field: targets.clone(),
        })
