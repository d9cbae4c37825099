"""Evaluation protocols, chosen by the ``ranking_protocol`` config key, for every model (stock too).

=================  ===========================================================================
``recbole``        RecBole's own ``eval_args.mode`` as is (``full``, ``uniN``, ``popN``): for
                   sequential models full ranking does not mask the history and sampled
                   negatives only avoid the target.
``full_masked``    rank every item; the items the user saw before the target are masked
                   (score -inf), except the target itself.
``sampled_masked`` rank the target against ``ranking_neg_num`` (default 100) negatives drawn
                   uniformly from the items the user did not see before the target (never the
                   target); the SASRec paper's and the GoodReads tutorial's protocol.
=================  ===========================================================================

"Seen" is the user's whole history *before the target*, not truncated to
``MAX_ITEM_LIST_LENGTH``: for the validation row the training items, for the test row the
training items and the validation item. This is what the SASRec paper masks for its test
numbers (train + valid); for validation it does not include the test item, which lies in the
future. The histories are rebuilt exactly from RecBole's split datasets
(:class:`recbole_ext.loaders.user_sequences.UserSequences`); RecBole's own samplers miss each
user's first item in sequential data, so they are not used.

Only the evaluation rows change: the split, the models and RecBole's ``Trainer.evaluate`` stay
as they are. Both protocols subclass RecBole's ``FullSortEvalDataLoader`` (one
``model.full_sort_predict`` per row, so each history is encoded once) and hand a mask as its
``history_index``: ``full_masked`` the seen items, ``sampled_masked`` every item that is not one
of the row's ``1 + n`` candidates. Negatives are drawn once per loader from
a generator seeded with ``seed``: every validation epoch ranks the same candidates. For
non-sequential (general) models, RecBole's full ranking already masks the history, so
``full_masked`` requires ``eval_args.mode: full`` and keeps RecBole's loader.
"""

from __future__ import annotations

from typing import Any

import torch
from recbole.data.dataloader.general_dataloader import FullSortEvalDataLoader
from recbole.utils import ModelType

from recbole_ext.loaders.user_sequences import UserSequences
from recbole_ext.errors import ConfigError
from recbole_ext.sampling import NegativeSampler, as_generator

PROTOCOLS = ("recbole", "full_masked", "sampled_masked")


def protocol_name(config: Any) -> str:
    """The configured protocol (``recbole`` when unset), validated."""
    protocol = config["ranking_protocol"] or "recbole"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"ranking_protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}.")
    return protocol


def protocol_dataloaders(config: Any, train_data: Any, valid_data: Any, test_data: Any) -> tuple[Any, Any]:
    """The validation and test loaders of the configured protocol (RecBole's for ``recbole``)."""
    protocol = protocol_name(config)
    if protocol == "recbole":
        return valid_data, test_data
    sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    if not sequential:
        if protocol == "sampled_masked":
            raise ConfigError(f"ranking_protocol sampled_masked ranks sequential histories; {config['model']} is not "
                              "sequential: use ranking_protocol full_masked (RecBole masks its history).")
        modes = config["eval_args"]["mode"]
        if any(modes[phase] != "full" for phase in ("valid", "test")):
            raise ConfigError("ranking_protocol full_masked with a non-sequential model needs eval_args mode: full.")
        return valid_data, test_data
    datasets = [train_data._dataset, valid_data._dataset, test_data._dataset]
    histories, positions = UserSequences.from_datasets(*datasets)
    loaders = []
    for phase, loader, pos in (("valid", valid_data, positions[1]), ("test", test_data, positions[2])):
        if protocol == "full_masked":
            loaders.append(MaskedFullSortEvalDataLoader(config, loader._dataset, loader._sampler, histories, pos))
        else:
            n_neg = int(config["ranking_neg_num"] or 100)
            loaders.append(MaskedSampledEvalDataLoader(config, loader._dataset, loader._sampler, histories, pos,
                                                       n_neg, phase))
    return loaders[0], loaders[1]


def describe(config: Any) -> str | None:
    """Table-ready text for our protocols; None for ``recbole`` (pipeline.eval_protocol describes it)."""
    protocol = protocol_name(config)
    if protocol == "full_masked":
        return "full ranking, items seen before the target masked"
    if protocol == "sampled_masked":
        return f"target vs {int(config['ranking_neg_num'] or 100)} uniform negatives never seen before the target"
    return None


class _PrefixIndex:
    """Each evaluation row's history before its target, as slices of ``histories.items``."""

    def __init__(self, dataset: Any, histories: UserSequences, positions: torch.Tensor) -> None:
        rows = histories.rows_of(dataset.inter_feat[dataset.uid_field])  # [R]
        self.histories = histories
        self.start = histories.indptr[rows]  # [R]
        self.length = positions - self.start  # [R] items seen before the target
        self.target = histories.items[positions]  # [R]

    def pairs(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch row [P], item [P]) of every seen item of the rows ``index`` [b]."""
        lengths = self.length[index]  # [b]
        batch_rows = torch.repeat_interleave(torch.arange(len(index)), lengths)  # [P]
        first = torch.repeat_interleave(self.start[index], lengths)  # [P]
        offsets = torch.arange(len(batch_rows)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
        return batch_rows, self.histories.items[first + offsets]


class MaskedFullSortEvalDataLoader(FullSortEvalDataLoader):
    """RecBole's full-sort loader for sequential rows, with the items seen before each target masked."""

    def __init__(self, config: Any, dataset: Any, sampler: Any, histories: UserSequences, positions: torch.Tensor) -> None:
        self.prefix = _PrefixIndex(dataset, histories, positions)
        super().__init__(config, dataset, sampler, shuffle=False)

    def collate_fn(self, index: list[int]) -> tuple[Any, tuple[torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
        interaction, _, positive_u, positive_i = super().collate_fn(index)
        rows, items = self.prefix.pairs(torch.as_tensor(index, dtype=torch.long))
        keep = items != positive_i[rows]  # the target itself is never masked
        return interaction, (rows[keep], items[keep]), positive_u, positive_i


class MaskedSampledEvalDataLoader(FullSortEvalDataLoader):
    """The target and ``n_neg`` negatives never seen before it, ranked from one encoding per row.

    RecBole's sampled path repeats every row ``1 + n_neg`` times and runs the model's encoder on
    each copy (``model.predict``): 101 encodings of the same history under the SASRec paper's
    protocol. Here each row is encoded once: the batch goes through RecBole's full-sort path
    (``model.full_sort_predict``, one pass over the history) and every item that is not one of the
    row's candidates is masked (its ``history_index`` is a boolean ``[rows, n_items]`` mask, a
    quarter of the size of the score matrix the full-sort path holds anyway). The metrics are
    those of the target's rank among its ``1 + n_neg`` candidates, as before.
    """

    def __init__(
        self,
        config: Any,
        dataset: Any,
        sampler: Any,
        histories: UserSequences,
        positions: torch.Tensor,
        n_neg: int,
        phase: str = "test",
    ) -> None:
        self.prefix = _PrefixIndex(dataset, histories, positions)
        self.n_neg = n_neg
        n_rows = len(self.prefix.target)
        rows, items = self.prefix.pairs(torch.arange(n_rows))
        excluded_rows = torch.cat([rows, torch.arange(n_rows)])  # seen items and the target
        excluded_items = torch.cat([items, self.prefix.target])
        order = torch.argsort(excluded_rows, stable=True)
        indptr = torch.zeros(n_rows + 1, dtype=torch.long)
        indptr[1:] = torch.bincount(excluded_rows, minlength=n_rows).cumsum(0)
        negative_sampler = NegativeSampler(dataset.item_num, indptr, excluded_items[order])
        seed = config["seed"] + (1 if phase == "valid" else 2)
        self.negatives = negative_sampler.sample(torch.arange(n_rows), n_neg, as_generator(seed))  # [R, n]
        super().__init__(config, dataset, sampler, shuffle=False)

    def candidates(self, index: torch.Tensor) -> torch.Tensor:
        """[b, 1 + n]: each row's target, then its negatives."""
        return torch.cat([self.prefix.target[index].unsqueeze(1), self.negatives[index]], dim=1)

    def collate_fn(self, index: list[int]) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        interaction, _, positive_u, positive_i = super().collate_fn(index)
        candidates = self.candidates(torch.as_tensor(index, dtype=torch.long))  # [b, 1 + n]
        not_candidate = torch.ones(len(index), self._dataset.item_num, dtype=torch.bool)  # [b, I]
        not_candidate.scatter_(1, candidates, False)
        return interaction, not_candidate, positive_u, positive_i


def hit_and_auc(scores: torch.Tensor, target: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """HR@k and AUC of each row's ``target`` [B] against every other item not masked in ``scores``.

    ``scores`` [B, n_items] has ``-inf`` at masked items (e.g. after ``full_masked``'s
    ``history_index``); item 0 (padding) never counts. Per row: ``hit`` = fewer than ``k``
    candidates score above the target; ``auc`` = share of candidates scored below it (ties half).
    This is what the d2l Caser chapter reports as "hit rate" (k = 50) and AUC, computed over the
    whole candidate pool instead of the chapter's buggy one. Returns two float tensors [B].
    """
    target_score = scores.gather(1, target.long().unsqueeze(1))  # [B, 1]
    candidates = torch.isfinite(scores)  # [B, I]
    candidates[:, 0] = False
    candidates.scatter_(1, target.long().unsqueeze(1), False)
    higher = ((scores > target_score) & candidates).sum(1)  # [B]
    ties = ((scores == target_score) & candidates).sum(1)  # [B]
    n_candidates = candidates.sum(1).clamp(min=1)  # [B]
    hit = (higher < k).float()
    auc = (n_candidates - higher - 0.5 * ties).double() / n_candidates
    return hit, auc.float()
