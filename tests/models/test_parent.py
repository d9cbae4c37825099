"""recbole_ext.models.parent: the parent class sees the keys it knows; our class keeps the user's."""

from __future__ import annotations

from recbole_ext import build_config
from recbole_ext.models.parent import ParentConfig
from recbole_ext.models.sasrecpaper import SASRecPaper
from tests.helpers import FAST_SASREC


def test_replaced_keys_and_the_rest_pass_through():
    view = ParentConfig({"loss_type": "gBCE", "hidden_size": 16}, {"loss_type": "CE"})
    assert (view["loss_type"], view["hidden_size"]) == ("CE", 16)


def test_a_loss_the_parent_does_not_know_builds(tiny_dataset):
    """SASRec.__init__ accepts only BPR and CE: SASRecPaper hands it CE and keeps gBCE for itself."""
    data_path, name = tiny_dataset
    config = build_config("SASRecPaper", name, overrides={
        **FAST_SASREC, "data_path": str(data_path), "loss_type": "gBCE",
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 2}})
    from recbole_ext.loading import load_dataset, make_loaders

    train, _, _ = make_loaders(config, load_dataset(config))
    model = SASRecPaper(config, train._dataset)
    assert model.loss_type == "gBCE" and config["loss_type"] == "gBCE"
