"""What our model variants share about their RecBole parent classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ParentConfig:
    """Read-only view of a RecBole ``Config`` with a few keys replaced, for the parent class's ``__init__``
    (e.g. ``SASRec.__init__`` only knows its own loss types).

    >>> view = ParentConfig({"loss_type": "gBCE", "hidden_size": 64}, {"loss_type": "CE"})
    >>> view["loss_type"], view["hidden_size"]
    ('CE', 64)
    """

    def __init__(self, config: Any, replaced: Mapping[str, Any]) -> None:
        self._config, self._replaced = config, dict(replaced)

    def __getitem__(self, key: str) -> Any:
        return self._replaced[key] if key in self._replaced else self._config[key]
