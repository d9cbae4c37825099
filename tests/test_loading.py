"""recbole_ext.loading: the dataset and the three loaders a configuration asks for."""

from __future__ import annotations

import pytest

from recbole_ext import build_config
from recbole_ext.loading import load_dataset, make_loaders
from recbole_ext.data.prefix_rows import PrefixRowDataLoader
from recbole_ext.data.sequence_dataset import SequenceDataset
from recbole_ext.data.user_sequences import UserSequenceDataLoader
from recbole_ext.errors import ConfigError
from recbole_ext.protocols import CandidateEvalDataLoader, MaskedFullSortEvalDataLoader
from tests.helpers import FAST_SASREC


def test_sequential_models_get_the_sequence_native_path(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRecPaper", name, overrides={**FAST_SASREC, "data_path": str(data_path),
                                                          "ranking_protocol": "full_masked"})
    dataset = load_dataset(config)
    train, valid, test = make_loaders(config, dataset)
    assert isinstance(dataset, SequenceDataset)
    assert isinstance(train, UserSequenceDataLoader)  # the model's own train_loader_class
    assert isinstance(valid, MaskedFullSortEvalDataLoader) and isinstance(test, MaskedFullSortEvalDataLoader)


def test_stock_sequential_models_read_prefix_rows_and_sampled_candidates(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRec", name, overrides={**FAST_SASREC, "data_path": str(data_path), "loss_type": "CE",
                                                     "ranking_protocol": "sampled_masked", "ranking_neg_num": 5})
    train, valid, test = make_loaders(config, load_dataset(config))
    assert isinstance(train, PrefixRowDataLoader)
    assert isinstance(valid, CandidateEvalDataLoader) and test.negatives.shape[1] == 5


def test_general_models_keep_recbole_s_dataset_and_loaders(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("BPR", name, overrides={"data_path": str(data_path), "state": "WARNING"})
    dataset = load_dataset(config)
    assert not isinstance(dataset, SequenceDataset)
    train, valid, test = make_loaders(config, dataset)
    assert type(valid).__module__.startswith("recbole.")


def test_a_recbole_split_for_a_sequential_model_is_refused_with_the_fix(tiny_dataset):
    data_path, name = tiny_dataset
    config = build_config("SASRec", name, overrides={
        **FAST_SASREC, "data_path": str(data_path), "loss_type": "CE",
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "group_by": "user", "mode": "full"}})
    with pytest.raises(ConfigError, match="split_protocol leave_one_out"):
        load_dataset(config)
