"""The explicit registry of recbole-ext's models, and lookup of stock RecBole models by name.

Add a model by importing its class here and listing it in :data:`MODELS`. Its documented defaults
live in ``recbole_ext/properties/<ClassName>.yaml``. Our names must never collide with RecBole's
(``tests/test_config.py`` checks): RecBole resolves models by name inside recbole only.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import pkgutil

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.model.abstract_recommender import AbstractRecommender

from recbole_ext.errors import UnknownModelError
from recbole_ext.models.biasedmf import BiasedMF
from recbole_ext.models.deepmf import DeepMF
from recbole_ext.models.caserpaper import CaserPaper
from recbole_ext.models.gru4recpaper import GRU4RecPaper
from recbole_ext.models.sasrecpaper import SASRecPaper

MODELS: dict[str, type[AbstractRecommender]] = {
    "BiasedMF": BiasedMF,
    "DeepMF": DeepMF,
    "CaserPaper": CaserPaper,
    "GRU4RecPaper": GRU4RecPaper,
    "SASRecPaper": SASRecPaper,
}

# RecBole's model families that `python run.py --model NAME` accepts by name. exlib_recommender
# (xgboost / lightgbm wrappers) is left out: it needs libraries recbole-ext does not install.
STOCK_FAMILIES = (
    "sequential_recommender",
    "general_recommender",
    "context_aware_recommender",
    "knowledge_aware_recommender",
)


def stock_model_names(families: tuple[str, ...] = STOCK_FAMILIES) -> list[str]:
    """Class names of RecBole's models in ``families`` (imports each model module: a few seconds)."""
    names = []
    for family in families:
        package = importlib.import_module(f"recbole.model.{family}")
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            names += [
                name
                for name, obj in vars(module).items()
                if isinstance(obj, type) and name.lower() == module_info.name
            ]
    return sorted(names)


def find_stock_model(name: str) -> type[AbstractRecommender] | None:
    """RecBole's model class called exactly ``name``, or None (never imports optional libraries)."""
    for family in STOCK_FAMILIES:
        module_path = f"recbole.model.{family}.{name.lower()}"
        if importlib.util.find_spec(module_path) is not None:
            model_class = getattr(importlib.import_module(module_path), name, None)
            if isinstance(model_class, type):
                return model_class
    return None


def resolve_model(name: str) -> type[AbstractRecommender]:
    """The model class for ``name``: one of ours (:data:`MODELS`) or a stock RecBole model."""
    if name in MODELS:
        return MODELS[name]
    model_class = find_stock_model(name)
    if model_class is not None:
        return model_class
    known = sorted(MODELS) + stock_model_names()
    exact = [k for k in known if k.lower() == name.lower()]  # a case slip first: sasrec -> SASRec
    close = exact + [k for k in difflib.get_close_matches(name, known, n=3, cutoff=0.5) if k not in exact]
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"Unknown model '{name}'.{hint} Ours: {', '.join(sorted(MODELS)) or '(none yet)'}; "
        "stock RecBole models are accepted by their class name (python run.py --help lists them)."
    )


def is_stock(model_class: type) -> bool:
    """True for RecBole's own classes; False for ours and any other subclass (a user's plug-in)."""
    return model_class.__module__.startswith("recbole.")


def colliding_names(names) -> list[str]:
    """The names among ``names`` that RecBole already uses for one of its models."""
    return [name for name in names if find_stock_model(name) is not None]
