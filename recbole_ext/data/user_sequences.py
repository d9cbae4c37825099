"""Whole user sequences: the per-user arrays and the training data loader (one row per user).

RecBole turns each user into one row per prefix (``SequentialDataset.data_augmentation``) and
its sequential models put a loss on the last position only. The papers of SASRec, Caser and
GRU4Rec train on each user's whole training sequence instead. This module gives them:

* :class:`UserSequences`: every user's items in time order as CSR arrays (``users`` [U],
  ``indptr`` [U + 1], ``items`` [N], ``timestamps`` [N] or None): what
  :class:`~recbole_ext.data.sequence_dataset.SequenceDataset` holds, and its split's training
  part (``dataset.split.train_sequences``); :mod:`recbole_ext.protocols` masks with the whole
  history. (:meth:`UserSequences.from_datasets` rebuilds them from a general model's RecBole
  splits, for recommendations.)
* :class:`UserSequenceDataLoader`: the training loader of one row per user (a model's
  ``train_loader_class``, in place of RecBole's prefix rows):

  ====================  ===========  ==================================================
  field                 shape        content
  ====================  ===========  ==================================================
  ``user_id``           [B]          RecBole's user id
  ``item_id_list``      [B, L]       the last L items of the training sequence except its
                                     last item, *left-aligned* (RecBole's convention:
                                     padding 0 after ``item_length`` items)
  ``item_length``       [B]          number of real items in ``item_id_list`` (>= 1)
  ``item_id``           [B, L]       the next item at every position (0 at padding)
  ``neg_item_id``       [B, L, k]    k negatives per position (0 at padding); only when
                                     ``train_neg_sample_args`` asks for negatives
  ====================  ===========  ==================================================

  L is ``MAX_ITEM_LIST_LENGTH``; field names are RecBole's (``ITEM_ID_FIELD``,
  ``LIST_SUFFIX``, ``ITEM_LIST_LENGTH_FIELD``, ``NEG_PREFIX``). Negatives come from
  :mod:`recbole_ext.data.sampling`, configured by RecBole's own ``train_neg_sample_args``
  (``distribution`` uniform or popularity with ``alpha``, ``sample_num`` = k; ``~`` for none),
  never an item of the user's *training* sequence (so never the positive), and are drawn anew
  for every batch from a generator seeded with ``seed`` (same seed -> same batches).
  ``loader.sequences`` keeps the :class:`UserSequences` and ``loader.neg_sampler`` the sampler
  (owners = rows of ``loader.sequences``) for models that build other samples from them:
  subclass and override :meth:`UserSequenceDataLoader.num_samples` and
  :meth:`UserSequenceDataLoader.make_batch` (e.g. sliding windows, session splits).

How it plugs in: a model class sets ``train_loader_class = UserSequenceDataLoader`` (or a
subclass); :func:`recbole_ext.loading.make_loaders` builds ``train_loader_class(config, train_dataset)``.
RecBole's ``Trainer`` iterates it like its own loader; validation and test stay RecBole's
leave-one-out rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
from recbole.data.interaction import Interaction

from recbole_ext.data.sampling import NegativeArgs, NegativeSampler, as_generator


@dataclass(frozen=True)
class UserSequences:
    """Each user's items in time order, as CSR arrays (all LongTensors on the CPU).

    ``users[r]`` is RecBole's internal id of row ``r`` (ascending); its items are
    ``items[indptr[r]:indptr[r + 1]]`` and their ``timestamps`` (None when the data has no time).
    """

    users: torch.Tensor  # [U]
    indptr: torch.Tensor  # [U + 1]
    items: torch.Tensor  # [N]
    timestamps: torch.Tensor | None  # [N]

    def __len__(self) -> int:
        return len(self.users)

    @property
    def lengths(self) -> torch.Tensor:
        """Number of items of each row: [U]."""
        return self.indptr[1:] - self.indptr[:-1]

    def rows_of(self, user_ids: torch.Tensor) -> torch.Tensor:
        """Row of each RecBole user id in ``user_ids`` (each must be present): [B]."""
        rows = torch.searchsorted(self.users, user_ids.long()).clamp(max=len(self.users) - 1)
        if not bool((self.users[rows] == user_ids).all()):
            raise KeyError("some user ids have no sequence")
        return rows

    def sequence(self, row: int) -> list[int]:
        """The items of one row, as a list (for tests and debugging)."""
        return self.items[self.indptr[row] : self.indptr[row + 1]].tolist()

    def last_items(
        self, rows: torch.Tensor, max_len: int, drop_last: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The last ``max_len`` items of each row after dropping its final ``drop_last``, left-aligned.

        Returns ``(seqs [B, max_len], lengths [B], index [B, max_len])`` with padding 0 after
        ``lengths`` items; ``index`` is the position in :attr:`items` (-1 at padding), so other
        per-item arrays (timestamps) can be gathered the same way.
        """
        rows = rows.long()
        end = self.indptr[rows + 1] - drop_last  # [B]
        start = torch.maximum(self.indptr[rows], end - max_len)  # [B]
        lengths = (end - start).clamp(min=0)  # [B]
        offset = torch.arange(max_len).unsqueeze(0)  # [1, M]
        valid = offset < lengths.unsqueeze(1)  # [B, M]
        index = torch.where(valid, start.unsqueeze(1) + offset, torch.full_like(offset, -1))  # [B, M]
        seqs = torch.where(valid, self.items[index.clamp(min=0)], torch.zeros_like(index))
        return seqs, lengths, index

    @classmethod
    def from_datasets(cls, *datasets: Any) -> tuple["UserSequences", list[torch.Tensor]]:
        """Rebuild the users' sequences from RecBole datasets, concatenated in the given order.

        Every row contributes its item (RecBole's general-model splits: one interaction per row; sequential
        models read :class:`~recbole_ext.data.sequence_dataset.SequenceDataset`'s own sequences). Within a
        user, the order is the datasets' order, then the rows' order (RecBole keeps time order inside each
        split). Also returns, per dataset, the position in
        :attr:`items` of each of its rows' item (the target): [rows of that dataset].
        """
        if not datasets:
            raise ValueError("from_datasets needs at least one dataset")
        first = datasets[0]
        uid_field, iid_field, time_field = first.uid_field, first.iid_field, first.time_field
        users, items, times, order, owner = [], [], [], [], []
        has_time = all(time_field is not None and time_field in d.inter_feat for d in datasets)
        for d, dataset in enumerate(datasets):
            inter = dataset.inter_feat
            n = len(inter)
            rows = np.arange(n, dtype=np.int64)
            users.append(inter[uid_field].numpy())
            items.append(inter[iid_field].numpy())
            times.append(inter[time_field].numpy().astype(np.float64) if has_time else np.zeros(n))
            order.append(d * (1 << 40) + rows)
            owner.append(np.full(n, d, dtype=np.int64) * (1 << 40) + rows)
        users_np, items_np = np.concatenate(users).astype(np.int64), np.concatenate(items).astype(np.int64)
        times_np, order_np, owner_np = np.concatenate(times), np.concatenate(order), np.concatenate(owner)
        perm = np.lexsort((order_np, users_np))  # by user, then sequence order
        users_np, items_np, times_np, owner_np = users_np[perm], items_np[perm], times_np[perm], owner_np[perm]
        unique_users, counts = np.unique(users_np, return_counts=True)
        indptr = np.zeros(len(unique_users) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(counts)
        positions = []
        is_row = owner_np >= 0
        token_pos = np.flatnonzero(is_row)
        for d, dataset in enumerate(datasets):
            pos = np.empty(len(dataset.inter_feat), dtype=np.int64)
            mine = owner_np[token_pos] >> 40 == d
            pos[owner_np[token_pos[mine]] & ((1 << 40) - 1)] = token_pos[mine]
            positions.append(torch.from_numpy(pos))
        sequences = cls(
            users=torch.from_numpy(unique_users),
            indptr=torch.from_numpy(indptr),
            items=torch.from_numpy(items_np),
            timestamps=torch.from_numpy(times_np) if has_time else None,
        )
        return sequences, positions


class UserSequenceDataLoader(AbstractDataLoader):
    """RecBole training loader with one row per user: inputs, next items and negatives per position.

    The batch layout is in the module docstring. Built from the split's training view of a
    :class:`~recbole_ext.data.sequence_dataset.SequenceDataset`; ``sampler`` is accepted for
    RecBole's signature and not used.
    """

    def __init__(self, config: Any, dataset: Any, sampler: Any = None, shuffle: bool = True) -> None:
        self.sequences = dataset.split.train_sequences(dataset.sequences, with_times=self.needs_times())
        self.max_len: int = config["MAX_ITEM_LIST_LENGTH"]
        self.uid_field: str = dataset.uid_field
        self.iid_field: str = dataset.iid_field
        self.item_seq_field: str = dataset.iid_field + config["LIST_SUFFIX"]
        self.item_seq_len_field: str = config["ITEM_LIST_LENGTH_FIELD"]
        self.neg_item_field: str = config["NEG_PREFIX"] + dataset.iid_field
        negatives = NegativeArgs.of(config)
        self.neg_sampler: NegativeSampler | None = negatives.sampler(
            dataset.item_num, self.sequences.indptr, self.sequences.items)
        self.neg_num: int = negatives.sample_num
        self.neg_generator = as_generator(config["seed"])
        self.rows = (self.sequences.lengths >= 2).nonzero().flatten()  # users with a next item
        self.sample_size = self.num_samples()
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def needs_times(self) -> bool:
        """Whether the batches need the training items' timestamps (kept in memory only then)."""
        return False

    def num_samples(self) -> int:
        """Number of training samples in an epoch (here: users with >= 2 training items)."""
        return len(self.rows)

    def _init_batch_size_and_step(self) -> None:
        batch_size = self.config["train_batch_size"]
        self.step = batch_size
        self.set_batch_size(batch_size)

    def collate_fn(self, index: list[int]) -> Interaction:
        return self.make_batch(torch.as_tensor(index, dtype=torch.long))

    def sample_negatives(self, rows: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """``k`` negatives for each position of ``positives`` [B, ...] of sequence rows ``rows`` [B].

        Returns [B, ..., k]; 0 where the positive is padding (0).
        """
        shape = positives.shape
        flat = self.neg_sampler.sample(rows, positives[0].numel() * self.neg_num, self.neg_generator)
        negatives = flat.view(*shape, self.neg_num)  # [B, ..., k]
        return negatives.masked_fill((positives == 0).unsqueeze(-1), 0)

    def make_batch(self, index: torch.Tensor) -> Interaction:
        """The batch of samples ``index`` (positions in ``self.rows``): see the module docstring."""
        rows = self.rows[index]  # [B]
        seqs, lengths, _ = self.sequences.last_items(rows, self.max_len + 1)  # [B, L + 1]
        inputs, positives = seqs[:, :-1].clone(), seqs[:, 1:].clone()  # [B, L], [B, L]
        # A row shorter than L + 1: drop its last item from the inputs (it has no next item).
        short = lengths <= self.max_len
        inputs[short, (lengths[short] - 1)] = 0
        fields = {
            self.uid_field: self.sequences.users[rows],
            self.item_seq_field: inputs,
            self.item_seq_len_field: lengths - 1,
            self.iid_field: positives,
        }
        if self.neg_sampler is not None:
            fields[self.neg_item_field] = self.sample_negatives(rows, positives)
        return Interaction(fields)


def right_align(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move the first ``lengths`` entries of each row to its end, padding (0) first: [B, M, ...].

    The loader's batches and RecBole's evaluation rows are left-aligned; the SASRec paper and
    the GoodReads tutorial pad on the left (the latest item always at position M - 1). Works on
    any trailing dimensions (e.g. negatives [B, M, k]); lengths above M count as M.
    """
    width = values.size(1)
    shift = width - lengths.clamp(max=width).unsqueeze(1)  # [B, 1]
    source = torch.arange(width, device=values.device).unsqueeze(0) - shift  # [B, M]
    index = source.clamp(min=0).view(*source.shape, *([1] * (values.dim() - 2))).expand_as(values)
    aligned = values.gather(1, index)
    pad = (source < 0).view(*source.shape, *([1] * (values.dim() - 2)))
    return aligned.masked_fill(pad, 0)
