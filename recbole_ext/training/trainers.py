"""The trainer of a run, composed in one place (:func:`trainer_class_for`) from RecBole's (or the model's
own) and the mixins this package adds: fused Adam (:func:`recbole_ext.models.optim.with_fused_adam`),
ranking in item chunks (:class:`RankingTrainer`), ``precision`` (:func:`recbole_ext.precision.with_precision`)
and data-parallel training (:func:`recbole_ext.training.distributed.data_parallel`).
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from recbole.utils import ModelType, get_trainer

from recbole_ext.models.optim import with_fused_adam
from recbole_ext.protocols import Candidates, ranks_in_item_chunks
from recbole_ext.training import distributed
from recbole_ext.precision import with_precision


def trainer_class_for(config: Any, world: distributed.World | None = None) -> type:
    """The trainer class of ``config``'s run: the model's own (e.g. one that knows more optimizers) or
    RecBole's; for sequential models ranking with :class:`RankingTrainer` (in item chunks where the model
    and metrics allow); under ``precision: bf16`` with autocast; under torchrun (``world``) data-parallel."""
    trainer_class = with_fused_adam(getattr(config.model_class, "trainer_class", None) or get_trainer(
        config["MODEL_TYPE"], config["model"]))
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:  # our evaluation loaders: Candidates, item chunks
        trainer_class = ranking(trainer_class, chunked=ranks_in_item_chunks(config),
                                ties_against_target=config["split_protocol"] == "session")
    if config["precision"] == "bf16":
        trainer_class = with_precision(trainer_class)
    if world is not None:
        trainer_class = distributed.data_parallel(trainer_class, world)
    return trainer_class


def items_per_chunk(config: Any, rows: int, n_items: int) -> int:
    """Items scored at once for ``rows`` rows: no ``[rows x items]`` float32 matrix passes ``max_score_matrix_mb``."""
    budget_mb = config["max_score_matrix_mb"]
    if not budget_mb:
        return n_items
    return max(1, min(n_items, int(float(budget_mb) * 2**20) // (4 * max(rows, 1))))


class RankingTrainer:
    """Mixin for a RecBole trainer class (:func:`ranking`): full ranking without a ``[rows x items]`` matrix.

    Each batch's rows are encoded once (the model's ``item_scorer``); items are scored in chunks
    of :func:`items_per_chunk` (``max_score_matrix_mb``), the masked pairs of each chunk set to
    -inf, and a running top K (K = the largest ``topk``) is kept. RecBole's collector then gets a
    ``[rows x (K + 1)]`` matrix: the top K scores, and a last column for each row's target when it
    is not among them, with the targets' columns as ``positive_i``. Every metric of rec.topk (hit,
    ndcg, mrr, recall, precision, map) is the one full scoring gives, up to the order of tied
    scores. A sampled protocol's batch (:class:`Candidates`) is scored the same way, chunk by
    chunk, but only at its candidates: the collector gets ``[rows x (1 + n)]`` scores, the target
    in column 0. Batches this cannot rank (a boolean mask, several targets per row, a metric that
    reads every score, candidates drawn with replacement) go through RecBole's full scoring, a
    :class:`Candidates` batch as the dense mask of its other items. ``chunked`` False (a model without
    ``item_scorer``, a metric of every score: :func:`recbole_ext.protocols.ranks_in_item_chunks`) sends
    every batch there.

    ``ties_against_target`` (``split_protocol: session``, GRU4Rec's ``mode='conservative'``): a row's
    rank is the number of items scored at least as high as its target, the target included, and the
    collector gets that rank in place of the scores (:func:`rank_columns`); then nothing depends on
    the order of tied scores.
    """

    chunked = True
    ties_against_target = False

    def _full_sort_batch_eval(self, batched_data):
        interaction, history_index, positive_u, positive_i = batched_data
        rows = len(interaction)
        needs_every_score = any(self.eval_collector.register.need(key)
                                for key in ("rec.items", "rec.score", "rec.meanrank"))
        one_target_per_row = len(positive_u) == rows and torch.equal(positive_u.cpu(), torch.arange(rows))
        k = max(self.config["topk"])
        by_rank = self.ties_against_target and one_target_per_row and not needs_every_score
        if (not self.chunked or isinstance(history_index, torch.Tensor) or needs_every_score or not one_target_per_row
                or (isinstance(history_index, Candidates) and not history_index.distinct)):
            if isinstance(history_index, Candidates):
                history_index = history_index.dense_mask(self.tot_item_num)
            interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(
                (interaction, history_index, positive_u, positive_i))
            if by_rank:
                compact, column = rank_columns((scores >= scores[positive_u, positive_i].unsqueeze(1)).sum(1), k)
                return interaction, compact, positive_u, column
            return interaction, scores, positive_u, positive_i
        device = self.device
        scores_of = self.model.item_scorer(interaction.to(device))
        if isinstance(history_index, Candidates):
            scores = self._candidate_scores(scores_of, history_index.items.to(device), rows, k)
            if by_rank:
                compact, column = rank_columns((scores >= scores[:, :1]).sum(1), k)
                return interaction, compact, positive_u, column
            return interaction, scores, positive_u, torch.zeros_like(positive_i)
        if by_rank:
            compact, column = rank_columns(self._ranks(scores_of, history_index, positive_i.to(device), rows), k)
            return interaction, compact, positive_u, column
        compact, column = self._top_k_scores(scores_of, history_index, positive_i.to(device), rows, k)
        return interaction, compact, positive_u, column

    def _masked_chunks(self, scores_of: Any, seen: tuple[torch.Tensor, torch.Tensor] | None, rows: int, device: Any):
        """(lo, scores [rows, hi - lo]) of every item chunk, the ``seen`` pairs and the padding item at -inf."""
        seen_rows, seen_items = (t.to(device) for t in seen) if seen is not None else (None, None)
        chunk = items_per_chunk(self.config, rows, self.tot_item_num)
        for lo in range(0, self.tot_item_num, chunk):
            hi = min(lo + chunk, self.tot_item_num)
            scores = scores_of(lo, hi)  # [rows, hi - lo]
            if lo == 0:
                scores[:, 0] = float("-inf")  # padding
            if seen_rows is not None:
                inside = (seen_items >= lo) & (seen_items < hi)
                scores[seen_rows[inside], seen_items[inside] - lo] = float("-inf")
            yield lo, scores

    def _ranks(self, scores_of: Any, seen: tuple[torch.Tensor, torch.Tensor] | None, targets: torch.Tensor,
               rows: int) -> torch.Tensor:
        """[rows] each target's rank with ties counted against it: items scored at least as high, itself included.
        One pass over the item chunks when one chunk holds every item, else two (the targets' scores first)."""
        device = targets.device
        chunks = self._masked_chunks(scores_of, seen, rows, device)
        every_row = torch.arange(rows, device=device)
        target_scores = torch.empty(rows, device=device)
        first_lo, first = next(chunks)
        if first.size(1) == self.tot_item_num:
            return (first >= first[every_row, targets].unsqueeze(1)).sum(1)
        for lo, scores in itertools.chain([(first_lo, first)], chunks):
            inside = (targets >= lo) & (targets < lo + scores.size(1))
            target_scores[inside] = scores[every_row[inside], targets[inside] - lo]
        ranks = torch.zeros(rows, dtype=torch.long, device=device)
        for _, scores in self._masked_chunks(scores_of, seen, rows, device):
            ranks += (scores >= target_scores.unsqueeze(1)).sum(1)
        return ranks

    def _top_k_scores(self, scores_of: Any, seen: tuple[torch.Tensor, torch.Tensor] | None, targets: torch.Tensor,
                      rows: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """([rows, K + 1] the top K scores then -inf, [rows] each target's column: its place in the
        top K, else K), with the ``seen`` (row, item) pairs and the padding item masked."""
        device = targets.device
        best_scores = torch.empty(rows, 0, device=device)
        best_items = torch.empty(rows, 0, dtype=torch.long, device=device)
        for lo, scores in self._masked_chunks(scores_of, seen, rows, device):
            values, index = torch.topk(scores, min(k, scores.size(1)), dim=1)
            best_scores, order = torch.topk(torch.cat([best_scores, values], dim=1),
                                            min(k, best_scores.size(1) + values.size(1)), dim=1)
            best_items = torch.cat([best_items, index + lo], dim=1).gather(1, order)
        compact = torch.cat([best_scores, torch.full((rows, 1), float("-inf"), device=device)], dim=1)
        found = best_items == targets.unsqueeze(1)  # [rows, K]
        column = torch.where(found.any(1), found.int().argmax(1), torch.full_like(targets, best_items.size(1)))
        return compact, column

    def _candidate_scores(self, scores_of: Any, candidates: torch.Tensor, rows: int, k: int) -> torch.Tensor:
        """[rows, max(K, 1 + n)]: each row's candidates' scores (its target first), -inf after them."""
        scores = torch.full((rows, max(k, candidates.size(1))), float("-inf"), device=candidates.device)
        chunk = items_per_chunk(self.config, rows, self.tot_item_num)
        for lo in range(0, self.tot_item_num, chunk):
            hi = min(lo + chunk, self.tot_item_num)
            row, column = ((candidates >= lo) & (candidates < hi)).nonzero(as_tuple=True)
            if len(row):
                scores[row, column] = scores_of(lo, hi)[row, candidates[row, column] - lo]
        return scores


def rank_columns(ranks: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What RecBole's collector needs to score ``ranks`` [rows] (1 = best) exactly: ``[rows, K + 1]`` falling
    scores the same for every row, and each target's column (its rank - 1, or K past the top K).

    >>> rank_columns(torch.tensor([1, 3, 9]), k=5)[1].tolist()
    [0, 2, 5]
    """
    compact = torch.arange(k + 1, 0, -1, dtype=torch.float32, device=ranks.device).expand(len(ranks), -1)
    return compact, (ranks - 1).clamp(min=0, max=k)


def ranking(trainer_class: type, chunked: bool, ties_against_target: bool = False) -> type:
    """``trainer_class`` with :class:`RankingTrainer` mixed in (``chunked``: ranks in item chunks where it can;
    ``ties_against_target``: GRU4Rec's conservative ranks)."""
    return type(f"Ranking{trainer_class.__name__}", (RankingTrainer, trainer_class),
                {"chunked": chunked, "ties_against_target": ties_against_target})
