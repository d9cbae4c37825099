"""From a configuration to the dataset and its three loaders: the one place every run loads data.

Sequential models (ours and stock) go through the sequence-native path: :class:`SequenceDataset`
(exact time order, memory linear in the interactions), its split (``split_protocol``), the model's
own training loader (``train_loader_class``) or RecBole's prefix rows cut per batch
(:class:`PrefixRowDataLoader`), and the evaluation loaders of ``ranking_protocol``
(:mod:`recbole_ext.protocols`). Other models keep RecBole's ``create_dataset`` and
``data_preparation``.
"""

from __future__ import annotations

import importlib
from typing import Any

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.data import create_dataset, data_preparation
from recbole.utils import ModelType

from recbole_ext.training import distributed
from recbole_ext.errors import ConfigError
from recbole_ext.protocols import general_eval_loaders, sequential_eval_loaders
from recbole_ext.data.prefix_rows import PrefixRowDataLoader
from recbole_ext.data.sequence_dataset import SequenceDataset


def is_sequential(config: Any) -> bool:
    return config["MODEL_TYPE"] == ModelType.SEQUENTIAL


def load_dataset(config: Any, world: Any = None) -> Any:
    """The whole dataset: a :class:`SequenceDataset` for sequential models, else RecBole's.

    Under ``torchrun`` (``world``, a :class:`recbole_ext.training.distributed.World`), a sequential dataset
    is loaded once per machine and its arrays shared by the machine's ranks."""
    if not is_sequential(config):
        return create_dataset(config)
    own = config["model"] + "Dataset"
    if hasattr(importlib.import_module("recbole.data.dataset"), own):
        raise ConfigError(f"{config['model']} needs RecBole's {own} (knowledge-graph data), which the sequence-native "
                          "data path does not build: use another sequential model.")
    split = config["eval_args"]["split"] if config["eval_args"] else None
    if split not in (None, {"LS": "valid_and_test"}):
        raise ConfigError(f"eval_args split {split} is RecBole's split for other models; sequential models are split "
                          "per user in time order: use split_protocol leave_one_out (default) or user_holdout, and "
                          "eval_args split: {LS: valid_and_test}.")
    if world is None or world.size == 1:
        return SequenceDataset(config)
    return distributed.one_copy_per_machine(lambda: SequenceDataset(config), SequenceDataset.to_shared_files,
                                            SequenceDataset.from_shared_files, world)


def make_loaders(config: Any, dataset: Any) -> tuple[Any, Any, Any]:
    """(train, valid, test) loaders of ``dataset`` under the configured split and protocol."""
    if not is_sequential(config):
        train, valid, test = data_preparation(config, dataset)
        return (train, *general_eval_loaders(config, valid, test))
    train_view, valid_view, test_view = dataset.build()
    loader_class = getattr(config.model_class, "train_loader_class", None) or PrefixRowDataLoader
    train = loader_class(config, train_view, None, shuffle=config["shuffle"])
    return (train, *sequential_eval_loaders(config, valid_view, test_view))
