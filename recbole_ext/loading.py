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
from typing import Any, Callable

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.data import create_dataset, data_preparation
from recbole.data.utils import create_samplers, get_dataloader
from recbole.utils import ModelType

from recbole_ext.errors import ConfigError
from recbole_ext.protocols import sequential_eval_loaders
from recbole_ext.data.prefix_rows import PrefixRowDataLoader
from recbole_ext.data.sequence_dataset import SequenceDataset
from recbole_ext.data.shards import Shard, sharded


def is_sequential(config: Any) -> bool:
    return config["MODEL_TYPE"] == ModelType.SEQUENTIAL


def load_dataset(config: Any, one_copy: Callable[..., Any] | None = None) -> Any:
    """The whole dataset: a :class:`SequenceDataset` for sequential models, else RecBole's.

    ``one_copy(build, to_files, from_files)``: how the processes of one machine share a sequential
    dataset's arrays (under ``torchrun``: :func:`recbole_ext.training.distributed.one_copy_per_machine`
    of the run's world); None: this process builds its own."""
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
    if one_copy is None:
        return SequenceDataset(config)
    return one_copy(lambda: SequenceDataset(config), SequenceDataset.to_shared_files, SequenceDataset.from_shared_files)


def make_loaders(config: Any, dataset: Any, shard: Shard | None = None) -> tuple[Any, Any, Any]:
    """(train, valid, test) loaders of ``dataset`` under the configured split and protocol; with ``shard``
    (a data-parallel run) each builds only that share of every batch (:mod:`recbole_ext.data.shards`)."""
    if not is_sequential(config):
        return data_preparation(config, dataset) if shard is None else general_loaders(config, dataset, shard)
    train_view, valid_view, test_view = dataset.build()
    loader_class = getattr(config.model_class, "train_loader_class", None) or PrefixRowDataLoader
    train = sharded(loader_class, shard)(config, train_view, None, shuffle=config["shuffle"])
    return (train, *sequential_eval_loaders(config, valid_view, test_view, shard))


def general_loaders(config: Any, dataset: Any, shard: Shard) -> tuple[Any, Any, Any]:
    """What RecBole's ``data_preparation`` builds for a general or context-aware model, each loader sharded."""
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        raise ConfigError(f"{config['model']} trains on knowledge-graph batches, which torchrun does not shard here: "
                          "train it in one process (python run.py ...).")
    built = dataset.build()
    samplers = create_samplers(config, dataset, built)
    return tuple(sharded(get_dataloader(config, phase), shard)(config, part, sampler, shuffle=phase == "train" and config["shuffle"])
                 for phase, part, sampler in zip(("train", "valid", "test"), built, samplers))
