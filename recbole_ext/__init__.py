"""recbole-ext: RecBole 1.2.1 extended for sequential recommendation.

Public API::

    from recbole_ext import build_config, run, MODELS
    result = run("SASRec", "ml-100k", overrides={"epochs": 1})
    result["test_result"]["ndcg@10"]

``compat`` is imported first: it checks the numpy/pandas/setuptools pins recbole 1.2.1 needs and
patches RecBole's checkpoint loading for torch >= 2.6.
"""

from recbole_ext import compat  # noqa: F401  (must run before recbole is used)
from recbole_ext.config import build_config
from recbole_ext.errors import RecboleExtError
from recbole_ext.models import MODELS
from recbole_ext.pipeline import run

__all__ = ["MODELS", "RecboleExtError", "build_config", "run"]
__version__ = "0.1.0"
