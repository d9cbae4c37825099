"""What the rating models' tests share: a tiny rating dataset with a ``.user`` file, fast settings, a builder."""

from __future__ import annotations

import random
from pathlib import Path

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_ext import build_config

# mlp_hidden_size is DeepMF's: BiasedMF would refuse it as unknown, so these runs declare it.
FAST_RATING = {"epochs": 2, "show_progress": False, "state": "WARNING", "train_batch_size": 32,
               "embedding_size": 4, "mlp_hidden_size": [8], "learning_rate": 0.01, "custom_keys": ["mlp_hidden_size"]}
OCCUPATIONS = ["artist", "doctor", "engineer", "writer"]


def write_rating_dataset(root: Path, name: str = "tinyr", occupation_of=None) -> tuple[Path, str]:
    """20 users x 10 ratings over 15 items (1..5, from user and item effects), plus a ``.user`` file."""
    rng = random.Random(0)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(20):
        for item in rng.sample(range(15), 10):
            rating = min(5, max(1, round(3 + (user % 3 - 1) + (item % 3 - 1) + rng.choice([-1, 0, 0, 1]))))
            lines.append(f"u{user}\ti{item}\t{rating}\t{1000 * user + item}")
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")
    occupation_of = occupation_of or {}
    users = ["user_id:token\tage:token\toccupation:token"]
    users += [f"u{u}\t{20 + u}\t{occupation_of.get(u, OCCUPATIONS[u % 4])}" for u in range(20)]
    (folder / f"{name}.user").write_text("\n".join(users) + "\n")
    return root, name


def occupation_overrides(data_path: Path) -> dict:
    return {**FAST_RATING, "data_path": data_path, "user_side_features": ["occupation"],
            "load_col": {"inter": ["user_id", "item_id", "rating"], "user": ["user_id", "occupation"]}}


def build(model: str, dataset: str, overrides: dict):
    """(config, dataset, train, valid, test, model) without training."""
    config = build_config(model, dataset, overrides=overrides)
    init_seed(config["seed"], config["reproducibility"])
    data = create_dataset(config)
    train, valid, test = data_preparation(config, data)
    return config, data, train, valid, test, config.model_class(config, train._dataset)
