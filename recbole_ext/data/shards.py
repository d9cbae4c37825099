"""One process's share of every batch: the loaders of a data-parallel run (``torchrun``).

Every process draws the same whole batches (the loaders' seeded generator); process ``index`` of
``count`` builds only the ``index``-th contiguous share of each one (sizes differ by at most 1), so
the processes' rows are disjoint, together the one-process batch, and reshuffled every epoch. A
sharded loader is a loader class of its own (:func:`sharded`), made when the loaders are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recbole_ext.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """Share ``index`` of ``count`` of every batch.

    >>> [Shard(rank, 3).bounds(10) for rank in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """

    index: int
    count: int

    def bounds(self, n: int) -> tuple[int, int]:
        """This share [start, stop) of ``n`` rows."""
        return n * self.index // self.count, n * (self.index + 1) // self.count


class ShardedBatches:
    """Mixin for a RecBole loader class (:func:`sharded`): build only this :attr:`shard` of each batch.

    The loader still draws each batch's whole list of indices. A batch with fewer rows than shares
    leaves some shares empty: they build the batch's first row and record an empty share, which
    weighs nothing in training and is dropped from evaluation. :attr:`shares` lists ``(rows of the
    share, rows built)`` of every batch of the current pass (the data-parallel trainer weighs each
    batch's loss with it and puts the evaluation rows back in one-process order).
    """

    shard: Shard

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        if config["worker"]:
            raise ConfigError(f"worker={config['worker']}: under torchrun each rank builds its batches in its own "
                              "process; set --worker=0 (start more ranks instead).")
        self.shares: list[tuple[int, int]] = []
        super().__init__(config, *args, **kwargs)

    def __iter__(self):
        self.shares.clear()
        return super().__iter__()

    def collate_fn(self, index: list[int]) -> Any:
        start, stop = self.shard.bounds(len(index))
        share = index[start:stop]
        self.shares.append((len(share), max(len(share), 1)))
        return super().collate_fn(share if len(share) else index[:1])


def sharded(loader_class: type, shard: Shard | None) -> type:
    """``loader_class`` building only ``shard`` of each batch (``loader_class`` itself for None)."""
    if shard is None:
        return loader_class
    return type(f"Sharded{loader_class.__name__}", (ShardedBatches, loader_class), {"shard": shard})
