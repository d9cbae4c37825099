"""Negative sampling, in one module: uniform or popularity^alpha, excluding per-owner item sets.

An *owner* is whatever negatives are drawn for: a user (training: exclude the user's training
items) or one evaluation row (exclude the items the user saw before the target, and the target).
The excluded sets are given once as CSR arrays (``indptr`` [O + 1], ``items`` [E]: owner ``o``
excludes ``items[indptr[o]:indptr[o + 1]]``) and kept as one sorted array of keys
``owner * n_items + item``; membership of a whole batch of candidates is one ``searchsorted``.

Sampling is vectorised: draw every candidate, find the excluded ones, redraw only those, repeat.
Each round keeps a candidate with probability >= 1 - (excluded share of the owner's probability
mass), so few rounds are needed unless an owner excluded nearly every item; after
``max_rounds`` the rest are drawn exactly from the owner's allowed items (a slow path that only
such owners reach). Item 0 is RecBole's padding and is never drawn::

    >>> sampler = NegativeSampler(n_items=5, indptr=torch.tensor([0, 2]), items=torch.tensor([1, 2]))
    >>> sorted(set(sampler.sample(torch.tensor([0]), 50, torch.Generator().manual_seed(0)).tolist()[0]))
    [3, 4]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from recbole_ext.errors import ConfigError

KEY_CHUNK = 1 << 22  # keys read at a time where each needs its owner and item (2 x 32 MiB of int64)


def csr_from_lists(lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(indptr, items)`` CSR arrays from Python lists (tests and small inputs only)."""
    lengths = torch.tensor([len(x) for x in lists], dtype=torch.long)
    indptr = torch.zeros(len(lists) + 1, dtype=torch.long)
    indptr[1:] = lengths.cumsum(0)
    items = torch.tensor([i for x in lists for i in x], dtype=torch.long)
    return indptr, items


class NegativeSampler:
    """Draw negatives for owners from ``[1, n_items)``, never an item in the owner's excluded set.

    Args:
        n_items: number of item ids, padding 0 included (RecBole's ``dataset.item_num``).
        indptr, items: CSR of the excluded items per owner (duplicates allowed), or both None.
        weights: [n_items] non-negative sampling weights (``None``: uniform). Item 0's is ignored.
        max_rounds: redraw rounds before the exact slow path.

    Raises ValueError when an owner has no item left to draw.
    """

    def __init__(
        self,
        n_items: int,
        indptr: torch.Tensor | None = None,
        items: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
        max_rounds: int = 50,
    ) -> None:
        if n_items < 2:
            raise ValueError(f"Need at least one real item (n_items includes padding 0), got n_items={n_items}.")
        self.n_items = n_items
        self.max_rounds = max_rounds
        if weights is None:
            self.cdf = None
        else:
            weights = weights.detach().to(torch.float64).clone()
            if weights.shape != (n_items,) or bool((weights < 0).any()):
                raise ValueError(f"weights must be [n_items]={n_items} non-negative values.")
            weights[0] = 0.0
            if float(weights.sum()) <= 0:
                raise ValueError("weights are all zero.")
            self.cdf = weights.cumsum(0) / weights.sum()  # [n_items]
        self.weights = weights
        if indptr is None:
            self.keys = None
            return
        # Sorted distinct owner * n_items + item keys, built in place (one int64 per excluded item
        # and a byte, not torch.unique's sort buffers: millions of users' histories fit).
        counts = (indptr[1:] - indptr[:-1]).numpy()
        keys = np.repeat(np.arange(len(counts), dtype=np.int64) * n_items, counts)  # [E]
        keys += items.numpy()
        keys.sort()
        distinct = np.ones(len(keys), dtype=bool)
        np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
        self.keys = torch.from_numpy(keys if distinct.all() else keys[distinct])  # [E']: no copy without repeats
        del keys, distinct
        self._check_not_exhausted(len(indptr) - 1)

    def _check_not_exhausted(self, n_owners: int) -> None:
        if self.weights is None:
            allowed = (self.n_items - 1) - self._excluded_per_owner(n_owners, self._real_items())
        else:
            allowed = float(self.weights.sum()) - self._excluded_per_owner(n_owners, self.weights)
        empty = (allowed <= 0).nonzero().flatten()
        if len(empty):
            raise ValueError(
                f"{len(empty)} owner(s) (e.g. row {int(empty[0])}) excluded every item that can be drawn: "
                "no negative exists for them."
            )

    def draw(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """Candidates from the distribution, ignoring exclusions: a LongTensor of ``shape``."""
        if self.cdf is None:
            return torch.randint(1, self.n_items, shape, generator=generator)
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        return torch.searchsorted(self.cdf, u, right=True).clamp_(1, self.n_items - 1)

    def is_excluded(self, owners: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Bool [B, N]: ``candidates`` [B, N] in the excluded set of ``owners`` [B] (or item 0)."""
        hit = candidates == 0
        if self.keys is None or len(self.keys) == 0:
            return hit
        query = owners.long().unsqueeze(1) * self.n_items + candidates  # [B, N]
        pos = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return hit | (self.keys[pos] == query)

    def sample(self, owners: torch.Tensor, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` negatives for each of ``owners`` [B] (row indices of the CSR): LongTensor [B, num].

        Draws are independent (with replacement across the ``num`` columns), as in the paper.
        """
        owners = owners.long().cpu()
        out = self.draw((len(owners), num), generator)  # [B, num]
        bad = self.is_excluded(owners, out)
        for _ in range(self.max_rounds):
            if not bool(bad.any()):
                return out
            rows, cols = bad.nonzero(as_tuple=True)
            redraw = self.draw((len(rows),), generator)  # [R]
            out[rows, cols] = redraw
            bad[rows, cols] = self.is_excluded(owners[rows], redraw.unsqueeze(1)).squeeze(1)
        rows, cols = bad.nonzero(as_tuple=True)
        for row, col in zip(rows.tolist(), cols.tolist()):  # slow path: owners that excluded nearly all
            out[row, col] = self._exact(int(owners[row]), generator)
        return out

    def allowed_counts(self, n_owners: int) -> torch.Tensor:
        """Number of items each owner may draw (positive weight, not excluded): [O]."""
        drawable = self._real_items() if self.weights is None else (self.weights > 0).double()
        counts = torch.full((n_owners,), int(drawable.sum()), dtype=torch.long)
        if self.keys is not None and len(self.keys):
            counts -= self._excluded_per_owner(n_owners, drawable).round().long()
        return counts

    def _real_items(self) -> torch.Tensor:
        """1.0 for every item but padding 0: [n_items] float64."""
        ones = torch.ones(self.n_items, dtype=torch.float64)
        ones[0] = 0.0
        return ones

    def _excluded_per_owner(self, n_owners: int, item_values: torch.Tensor) -> torch.Tensor:
        """Per owner, the sum of ``item_values`` [n_items] float64 over its excluded items: [O] float64.

        Read ``KEY_CHUNK`` keys at a time: the owner and item of every key are never held at once
        (two int64 per excluded item: GBs at GoodReads size)."""
        total = torch.zeros(n_owners, dtype=torch.float64)
        for lo in range(0, len(self.keys), KEY_CHUNK):
            part = self.keys[lo:lo + KEY_CHUNK]
            total += torch.bincount(part // self.n_items, weights=item_values[part % self.n_items], minlength=n_owners)
        return total

    def sample_distinct(self, owners: torch.Tensor, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` *distinct* negatives for each of ``owners`` [B]: LongTensor [B, num].

        Items are drawn one after another from the distribution restricted to the items not yet
        drawn and not excluded (uniform: a uniformly random subset). Every owner must have at least
        ``num`` allowed items (:meth:`allowed_counts`). Vectorised rejection: draw, drop excluded
        items and repeats (the first draw of an item wins), keep the first ``num``, redraw the rest.
        """
        owners = owners.long().cpu()
        out = torch.full((len(owners), num), -1, dtype=torch.long)
        active = torch.arange(len(owners))
        for _ in range(self.max_rounds):
            if len(active) == 0:
                return out
            merged = torch.cat([out[active], self.draw((len(active), num), generator)], dim=1)  # [R, 2n]
            invalid = (merged < 0) | self.is_excluded(owners[active], merged.clamp(min=0))
            values, order = torch.sort(merged, dim=1, stable=True)
            repeat = torch.zeros_like(invalid)
            repeat.scatter_(1, order[:, 1:], values[:, 1:] == values[:, :-1])  # later copies of an item
            keep = ~(invalid | repeat)
            keep &= keep.long().cumsum(1) <= num
            width = merged.size(1)
            packed = torch.argsort((~keep).long() * width + torch.arange(width), dim=1)[:, :num]
            out[active] = torch.where(keep.gather(1, packed), merged.gather(1, packed), torch.full_like(packed, -1))
            active = active[(out[active] < 0).any(1)]
        for row in active.tolist():  # slow path: owners that excluded nearly every item
            missing = (out[row] < 0).nonzero().flatten()
            allowed = self._allowed(int(owners[row]))
            allowed[out[row][out[row] >= 0]] = 0.0
            out[row, missing] = torch.multinomial(allowed, len(missing), replacement=False, generator=generator)
        return out

    def _allowed(self, owner: int) -> torch.Tensor:
        allowed = torch.ones(self.n_items, dtype=torch.bool)
        allowed[0] = False
        if self.keys is not None:
            lo, hi = torch.searchsorted(self.keys, torch.tensor([owner * self.n_items, (owner + 1) * self.n_items]))
            allowed[self.keys[lo:hi] - owner * self.n_items] = False
        return allowed.double() if self.weights is None else self.weights * allowed

    def _exact(self, owner: int, generator: torch.Generator | None) -> int:
        return int(torch.multinomial(self._allowed(owner), 1, generator=generator))


def popularity_weights(item_ids: torch.Tensor, n_items: int, alpha: float = 1.0) -> torch.Tensor:
    """``count(item) ** alpha`` over ``item_ids`` (e.g. the training interactions): [n_items] float64.

    ``alpha`` 0 is uniform over the items that occur; 1 is proportional to popularity (GRU4Rec's
    official code uses ``alpha`` in [0, 1]). Items that never occur get weight 0.
    """
    counts = torch.bincount(item_ids.long().flatten(), minlength=n_items).to(torch.float64)
    weights = torch.where(counts > 0, counts.pow(alpha), torch.zeros_like(counts))
    weights[0] = 0.0
    return weights


@dataclass(frozen=True)
class NegativeArgs:
    """RecBole's ``train_neg_sample_args``, parsed once (:meth:`of`): what every loader, model and check reads.

    ``sample_num`` 0 means no negatives (``train_neg_sample_args: ~``, or ``distribution: none``).

    >>> NegativeArgs.of({"train_neg_sample_args": {"distribution": "popularity", "sample_num": 2, "alpha": "none"}})
    NegativeArgs(distribution='popularity', sample_num=2, alpha=1.0, dynamic=False)
    >>> NegativeArgs.of({"train_neg_sample_args": None}).sample_num
    0
    """

    distribution: str  # uniform, popularity or none
    sample_num: int = 0  # negatives per positive
    alpha: float = 1.0  # popularity ** alpha
    dynamic: bool = False  # RecBole's dynamic negative sampling (not supported by the sequence-native loaders)

    @classmethod
    def of(cls, config: Any) -> "NegativeArgs":
        """Parse and check ``config["train_neg_sample_args"]`` (a clear :class:`ConfigError` if it is wrong)."""
        args = config["train_neg_sample_args"]
        if not isinstance(args, Mapping) or args.get("distribution") in (None, "none"):
            return cls("none")
        distribution = args.get("distribution")
        if distribution not in ("uniform", "popularity"):
            raise ConfigError(f"train_neg_sample_args distribution={distribution!r} is not allowed: "
                              "use uniform or popularity (or train_neg_sample_args: ~ for none).")
        sample_num = args.get("sample_num")
        if not isinstance(sample_num, int) or isinstance(sample_num, bool) or sample_num < 1:
            raise ConfigError(f"train_neg_sample_args sample_num={sample_num!r} is not allowed: "
                              "negatives per positive must be an integer >= 1.")
        alpha = args.get("alpha")
        return cls(distribution, sample_num, 1.0 if alpha in (None, "none") else float(alpha),
                   bool(args.get("dynamic", False)))

    def sampler(self, n_items: int, indptr: torch.Tensor | None = None, items: torch.Tensor | None = None,
                popularity_of: torch.Tensor | None = None) -> NegativeSampler | None:
        """The sampler these arguments describe over owners ``indptr`` / ``items`` (None: no negatives).

        ``popularity``: weights ``count ** alpha`` over ``popularity_of`` (default the excluded items
        themselves, i.e. the training interactions).
        """
        if not self.sample_num:
            return None
        if self.distribution == "uniform":
            return NegativeSampler(n_items, indptr, items)
        source = items if popularity_of is None else popularity_of
        return NegativeSampler(n_items, indptr, items, weights=popularity_weights(source, n_items, self.alpha))


def as_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (negatives are drawn on the CPU, then moved)."""
    return torch.Generator().manual_seed(int(seed) % (2**63))


__all__ = ["NegativeArgs", "NegativeSampler", "popularity_weights", "csr_from_lists", "as_generator"]
