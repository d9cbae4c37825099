"""One place per rule: every value the configuration check accepts constructs the model, and the
values it refuses end in one line before any data loads."""

from __future__ import annotations

import pytest

from recbole_ext import build_config, cli
from recbole_ext.models import MODELS
from recbole_ext.loading import load_dataset, make_loaders
from tests.helpers import FAST, tiny_rows, write_inter

FINAL_ACT_FORMS = ["linear", "tanh", "elu", "elu-0.5", "ELU-2"]  # samples of GRU4RecPaper's parser's forms


def accepted_values():
    cases = []
    for name, model_class in sorted(MODELS.items()):
        for key, values in getattr(model_class, "value_choices", {}).items():
            cases += [(name, key, value) for value in values]
        for key in getattr(model_class, "value_parsers", {}):
            assert key == "final_act", "add samples of the new parsed key here"
            cases += [(name, key, value) for value in FINAL_ACT_FORMS]
        cases += [(name, "loss_type", loss) for loss in getattr(model_class, "loss_types", ())]
    return cases


@pytest.mark.parametrize("model, key, value", accepted_values())
def test_every_accepted_value_constructs_the_model(model, key, value, tmp_path):
    write_inter(tmp_path / "tiny" / "tiny.inter", tiny_rows())
    overrides = {**FAST, "data_path": str(tmp_path), key: value}
    if value in ("MSE", "RMSE"):  # the rating models read a rating column
        lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
        lines += [f"u{u}\ti{i}\t{1 + (u + i) % 5}\t{t}" for u, i, t in tiny_rows()]
        (tmp_path / "tiny" / "tiny.inter").write_text("\n".join(lines) + "\n")
        overrides = {"data_path": str(tmp_path), key: value, "state": "WARNING"}
    config = build_config(model, "tiny", overrides=overrides)
    dataset = load_dataset(config)
    train, _, _ = make_loaders(config, dataset)
    config.model_class(config, train._dataset)


@pytest.mark.parametrize("model, key, value", [
    ("GRU4RecPaper", "final_act", "relu"), ("GRU4RecPaper", "final_act", "leaky-0.1"),
    ("SASRecPaper", "hidden_act", "swish"), ("SASRecPaper", "block_norm", "sandwich"),
])
def test_refused_values_are_one_line(model, key, value, tmp_path, capsys):
    write_inter(tmp_path / "tiny" / "tiny.inter", tiny_rows())
    code = cli.main(["--model", model, "--dataset", "tiny", f"--data_path={tmp_path}", f"--{key}={value}",
                     "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{key}='{value}' is not allowed for {model}" in err[0]
    assert not (tmp_path / "out").exists()  # refused before anything was written
