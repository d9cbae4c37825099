"""RecBole's prefix rows, cut per batch from the sequence arrays: what stock sequential models train on.

RecBole's ``SequentialDataset.data_augmentation`` stores one row per training target (the user's
previous ``MAX_ITEM_LIST_LENGTH`` items -> the next item) for the whole dataset before training.
:class:`PrefixRowDataLoader` draws the same samples (every training item but a user's first is a
target once per epoch, shuffled) and builds only the batch's rows, from
:attr:`~recbole_ext.data.sequence_dataset.SequenceDataset.sequences`:

====================  ===========  ========================================================
field                 shape        content
====================  ===========  ========================================================
``user_id``           [B]          RecBole's user id
``item_id_list``      [B, L]       the items before the target, latest last, left-aligned
                                   (RecBole's layout: padding 0 after ``item_length``)
``item_length``       [B]          number of items in ``item_id_list`` (1..L)
``item_id``           [B]          the target
``<field>_list``      [B, L]       every other column of the ``.inter`` file the same way
``<field>``           [B]          (the time, ...), and its value at the target
``neg_item_id``       [B * k]      k negatives per row (rows repeated k times), only when
                                   ``train_neg_sample_args`` asks for them: never the target
====================  ===========  ========================================================

:func:`prefix_fields` builds these fields for any target positions: the evaluation loaders use it
for validation and test targets (:mod:`recbole_ext.protocols`).
"""

from __future__ import annotations

from typing import Any

import torch
from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
from recbole.data.interaction import Interaction
from recbole.data.transform import construct_transform
from recbole.utils import ModelType

from recbole_ext.errors import ConfigError
from recbole_ext.data.sampling import NegativeArgs, NegativeSampler


def prefix_fields(dataset: Any, positions: torch.Tensor, max_len: int) -> dict[str, torch.Tensor]:
    """RecBole's prefix-row fields (module docstring) of the targets at ``positions`` [B]."""
    sequences, everything = dataset.sequences, dataset.all_interactions
    users = everything[dataset.uid_field][positions]  # [B]
    first = sequences.indptr[sequences.rows_of(users)]  # [B]
    start = torch.maximum(first, positions - max_len)
    lengths = positions - start  # [B]
    offset = torch.arange(max_len).unsqueeze(0)  # [1, L]
    valid = offset < lengths.unsqueeze(1)  # [B, L]
    index = torch.where(valid, start.unsqueeze(1) + offset, torch.zeros_like(offset))  # [B, L]
    fields = {dataset.uid_field: users, dataset.item_list_length_field: lengths}
    suffix = dataset.config["LIST_SUFFIX"]
    for field in everything.interaction:
        if field == dataset.uid_field:
            continue
        values = everything[field]
        fields[field] = values[positions]
        fields[field + suffix] = torch.where(valid, values[index], torch.zeros((), dtype=values.dtype))
    return fields


class ArrayDataLoader(AbstractDataLoader):
    """RecBole's ``AbstractDataLoader`` over ``range(sample_size)`` instead of a list of Python ints.

    RecBole hands torch's ``DataLoader`` ``list(range(n))``: about 36 bytes per training sample
    held for the whole run. A ``range`` costs nothing; shuffling, the seeded generator and the
    batching stay torch's and RecBole's.
    """

    def __init__(self, config: Any, dataset: Any, sampler: Any, shuffle: bool = False) -> None:
        self.shuffle = shuffle
        self.config = config
        self._dataset = dataset
        self._sampler = sampler
        self._batch_size = self.step = self.model = None
        self._init_batch_size_and_step()
        self.generator = torch.Generator()
        self.generator.manual_seed(config["seed"])
        self.transform = construct_transform(config)
        self.is_sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
        torch.utils.data.DataLoader.__init__(
            self, dataset=range(self.sample_size), batch_size=self.step, collate_fn=self.collate_fn,
            num_workers=config["worker"], shuffle=shuffle, generator=self.generator)


class PrefixRowDataLoader(ArrayDataLoader):
    """Stock sequential models' training loader: RecBole's prefix rows, built per batch."""

    def __init__(self, config: Any, dataset: Any, sampler: Any = None, shuffle: bool = True) -> None:
        self.positions = dataset.split.train_target_positions(dataset.sequences)  # [T] training targets
        self.sample_size = len(self.positions)
        self.max_len = config["MAX_ITEM_LIST_LENGTH"]
        negatives = NegativeArgs.of(config)
        if negatives.dynamic:
            raise ConfigError("train_neg_sample_args dynamic: True (RecBole's dynamic negative sampling) is not "
                              "supported by the sequence-native loaders: set dynamic: False.")
        self.neg_num = negatives.sample_num
        self.neg_item_field = config["NEG_PREFIX"] + dataset.iid_field
        targets = dataset.all_interactions[dataset.iid_field][self.positions] if self.neg_num else None  # [T]
        self.neg_sampler = negatives.sampler(dataset.item_num, popularity_of=targets)
        self.neg_generator = torch.Generator().manual_seed(int(config["seed"]) + 3)
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def _init_batch_size_and_step(self) -> None:
        batch_size = self.config["train_batch_size"]
        times = max(self.neg_num, 1)  # RecBole: k negatives repeat each row k times in a batch
        self.step = max(batch_size // times, 1)
        self.set_batch_size(self.step * times)

    def collate_fn(self, index: list[int]) -> Interaction:
        positions = self.positions[torch.as_tensor(index, dtype=torch.long)]
        interaction = Interaction(prefix_fields(self._dataset, positions, self.max_len))
        if self.neg_sampler is not None:
            interaction = interaction.repeat(self.neg_num)
            targets = interaction[self._dataset.iid_field]
            owners = torch.arange(len(targets))
            excluded = NegativeSampler(self._dataset.item_num, torch.arange(len(targets) + 1), targets,
                                       weights=self.neg_sampler.weights)
            interaction.update(Interaction({self.neg_item_field: excluded.sample(owners, 1, self.neg_generator)[:, 0]}))
        return self.transform(self, interaction)
