"""recbole-ext: RecBole 1.2.1 extended for sequential recommendation.

Public API::

    from recbole_ext import build_config, run, MODELS
    result = run("SASRec", "ml-100k", overrides={"epochs": 1})
    result["test_result"]["ndcg@10"]

The names are loaded on first use, so tools that need neither torch nor recbole (the dataset
converters, ``python -m recbole_ext.convert``) start fast. Every module that uses recbole imports
:mod:`recbole_ext.compat` first: it refuses what cannot run (with the command that fixes it) and
patches recbole 1.2.1 for today's numpy, pandas, hyperopt and torch.
"""

from importlib import import_module

from recbole_ext.memory import bound_onednn_cache

bound_onednn_cache()  # before torch compiles its first oneDNN kernel: recbole_ext.memory says why

__all__ = ["MODELS", "RecboleExtError", "build_config", "run"]
__version__ = "0.3.0"  # the one version number (setup.py reads it)

_PUBLIC = {
    "MODELS": "recbole_ext.models",
    "RecboleExtError": "recbole_ext.errors",
    "build_config": "recbole_ext.config",
    "run": "recbole_ext.training.pipeline",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'recbole_ext' has no attribute '{name}'")
