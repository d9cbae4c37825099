"""The ranking protocols, in one module: their names, checks, description and evaluation loaders.

Chosen by the ``ranking_protocol`` config key (default ``recbole``), for every model (stock too):

=================  ===========================================================================
``recbole``        RecBole's own ``eval_args.mode`` as is (``full``, ``uniN``, ``popN``): for
                   sequential models full ranking does not mask the history and sampled
                   negatives only avoid the target (drawn with replacement, as RecBole does).
``full_masked``    rank every item; the items the user saw before the target are masked
                   (score -inf), except the target itself.
``sampled_masked`` rank the target against exactly ``ranking_neg_num`` (default 100) *distinct*
                   items the user did not see before the target (never the target), drawn
                   uniformly without replacement; the SASRec paper's and the GoodReads
                   tutorial's protocol. A run where some target has fewer such items is refused
                   before the model is built, naming the largest possible number.
=================  ===========================================================================

"Seen" is the user's whole history *before the target*, not truncated to
``MAX_ITEM_LIST_LENGTH``: for the validation row the training items, for the test row the
training items and the validation item. This is what the SASRec paper masks for its test
numbers (train + valid); for validation it does not include the test item, which lies in the
future.

For sequential models every loader here reads the exact-order arrays of
:class:`~recbole_ext.data.sequence_dataset.SequenceDataset`: each row's history is cut per
batch (:func:`~recbole_ext.data.prefix_rows.prefix_fields`). All loaders subclass RecBole's
``FullSortEvalDataLoader`` (one ``model.full_sort_predict`` per row, so each history is encoded
once) and hand a mask as its ``history_index``: ``full_masked`` the seen items, the sampled
protocols every item that is not one of the row's ``1 + n`` candidates. Candidates are drawn once
per loader from a generator seeded with ``seed`` (validation ``seed + 1``, test ``seed + 2``):
every validation epoch ranks the same candidates, and ``python -m recbole_ext.split`` writes them
out. A sampled protocol's batch hands its :class:`Candidates` to the trainer, which scores only
them or masks every other item (:mod:`recbole_ext.training.trainers`). For non-sequential
(general) models, RecBole's full ranking already masks the history, so ``full_masked`` requires
``eval_args.mode: full`` and keeps RecBole's loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from recbole.data.dataloader.general_dataloader import FullSortEvalDataLoader
from recbole.data.interaction import Interaction
from recbole.utils import EvaluatorType, ModelType

from recbole_ext.errors import ConfigError
from recbole_ext.data.prefix_rows import prefix_fields
from recbole_ext.data.sampling import NegativeSampler, as_generator, popularity_weights
from recbole_ext.data.shards import Shard, sharded
from recbole_ext.data.user_sequences import UserSequences

PROTOCOLS = ("recbole", "full_masked", "sampled_masked")  # ranking_protocol (checks.RULES refuses others)
TOP_K_METRICS = ("hit", "ndcg", "mrr", "recall", "precision", "map")  # RecBole's metrics of rec.topk alone


def protocol_name(config: Any) -> str:
    """The configured protocol (``recbole`` when unset; checked with the configuration)."""
    return config["ranking_protocol"] or "recbole"


def samples_unseen_items(config: Any) -> bool:
    """Whether the protocol draws negatives among the items a user never saw (each needs one left)."""
    return protocol_name(config) == "sampled_masked"


def ranks_in_item_chunks(config: Any) -> bool:
    """Whether the trainer ranks in item chunks (:mod:`recbole_ext.training.trainers`): the model scores
    item ranges (``item_scorer``, our sequential models) and every metric reads only the top K."""
    model_class = getattr(config, "model_class", None)
    metrics = [str(m).lower() for m in config["metrics"] or []]
    return (callable(getattr(model_class, "item_scorer", None)) and config["eval_type"] == EvaluatorType.RANKING
            and all(m in TOP_K_METRICS for m in metrics))


def check(config: Any) -> None:
    """What the configured protocol needs of the model and ``eval_args``, checked with the rest of the
    configuration (:func:`recbole_ext.checks.check_values`), before any data loads."""
    protocol = protocol_name(config)
    modes = (config["eval_args"] or {}).get("mode") or {}
    modes = modes if isinstance(modes, dict) else {"valid": modes, "test": modes}
    if config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
        if protocol == "sampled_masked":
            raise ConfigError(f"ranking_protocol sampled_masked ranks sequential histories; {config['model']} is not "
                              "sequential: use ranking_protocol full_masked (RecBole masks its history).")
        if protocol == "full_masked" and any(modes.get(phase) != "full" for phase in ("valid", "test")):
            raise ConfigError("ranking_protocol full_masked with a non-sequential model needs eval_args mode: full.")
        return
    if protocol == "recbole":
        for mode in (modes.get("valid"), modes.get("test")):
            if mode != "full" and (str(mode)[:3] not in ("uni", "pop") or not str(mode)[3:].isdigit()):
                raise ConfigError(f"eval_args mode {mode!r} is not one sequential models can be evaluated with: "
                                  "use full, uniN or popN (e.g. uni100), or ranking_protocol full_masked.")


def sequential_eval_loaders(config: Any, valid_view: Any, test_view: Any, shard: Shard | None = None) -> tuple[Any, Any]:
    """The validation and test loaders of the configured protocol over the split's views (``shard``: this
    process's share of each batch, :mod:`recbole_ext.data.shards`)."""
    protocol = protocol_name(config)
    loaders = []
    for phase, view in (("valid", valid_view), ("test", test_view)):
        seed = int(config["seed"]) + (1 if phase == "valid" else 2)
        if protocol == "full_masked":
            loaders.append(sharded(MaskedFullSortEvalDataLoader, shard)(config, view))
            continue
        if protocol == "sampled_masked":
            n_neg, distinct, exclude_seen, weights = int(config["ranking_neg_num"]), True, True, None
        else:
            mode = config["eval_args"]["mode"][phase]
            if mode == "full":
                loaders.append(sharded(EvalRowsDataLoader, shard)(config, view))
                continue
            n_neg, distinct, exclude_seen = int(mode[3:]), False, False
            weights = None
            if mode.startswith("pop"):  # popularity in the training items
                weights = popularity_weights(view.split.train_sequences(view.sequences).items, view.item_num)
        loaders.append(sharded(CandidateEvalDataLoader, shard)(config, view, n_neg, seed, distinct, exclude_seen, weights,
                                                              phase))
    return loaders[0], loaders[1]


def describe(config: Any) -> str:
    """A short, table-ready description of how a run's numbers were computed: the split and the ranking."""
    split = config["eval_args"]["split"]
    split_name = "leave-one-out" if split == {"LS": "valid_and_test"} else f"split {split}"
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:
        split_name = {
            "user_holdout": f"user holdout ({config['holdout_user_num']} test users)",
            "global_time": "global time split (first target after each cut: "
                           + (f"times {list(config['split_time'])}" if config["split_time"] is not None
                              else f"quantiles {list(config['split_quantile'] or [])} of the times") + ")",
            "session": f"session split (sessions of the last {config['test_days']:g} day(s), every next click; "
                       "ties counted against the target)",
        }.get(config["split_protocol"], "leave-one-out")
    protocol = protocol_name(config)
    if protocol == "full_masked":
        return f"{split_name}, full ranking, items seen before the target masked"
    if protocol == "sampled_masked":
        return (f"{split_name}, target vs {int(config['ranking_neg_num'])} distinct uniform negatives never seen "
                "before the target")
    test_mode = config["eval_args"]["mode"]["test"]
    if test_mode == "full":
        ranking = "full ranking (RecBole: seen items not masked)"
    elif test_mode.startswith("uni"):
        ranking = f"{test_mode[3:]} uniform negatives (RecBole: seen items may be sampled)"
    elif test_mode.startswith("pop"):
        ranking = f"{test_mode[3:]} popularity negatives (RecBole)"
    else:
        ranking = test_mode
    return f"{split_name}, {ranking}"


class _PrefixIndex:
    """Each evaluation row's history before its target, as slices of ``sequences.items``."""

    def __init__(self, sequences: UserSequences, users: torch.Tensor, positions: torch.Tensor) -> None:
        self.sequences = sequences
        self.start = sequences.indptr[sequences.rows_of(users)]  # [R]
        self.length = positions - self.start  # [R] items seen before the target
        self.target = sequences.items[positions]  # [R]

    def pairs(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch row [P], item [P]) of every seen item of the rows ``index`` [b]."""
        lengths = self.length[index]  # [b]
        batch_rows = torch.repeat_interleave(torch.arange(len(index)), lengths)  # [P]
        first = torch.repeat_interleave(self.start[index], lengths)  # [P]
        offsets = torch.arange(len(batch_rows)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
        return batch_rows, self.sequences.items[first + offsets]


class EvalRowsDataLoader(FullSortEvalDataLoader):
    """Validation or test targets of a split view, ranked over all items (nothing masked).

    Each batch is RecBole's prefix-row layout (``item_id_list``, ``item_length``, ``item_id``, side
    features joined), built from the arrays; subclasses mask through :meth:`history_index`.
    """

    def __init__(self, config: Any, dataset: Any) -> None:
        self.positions = dataset.target_positions  # [R]
        self.max_len = config["MAX_ITEM_LIST_LENGTH"]
        self.prefix = _PrefixIndex(dataset.sequences, dataset.inter_feat[dataset.uid_field], self.positions)
        super().__init__(config, dataset, None, shuffle=False)

    def scored_in_chunks(self) -> bool:
        """Whether this loader's rows are scored in item chunks (:func:`ranks_in_item_chunks`)."""
        return ranks_in_item_chunks(self.config)

    def _init_batch_size_and_step(self) -> None:
        """``eval_batch_size`` rows; fewer when every item of a row is scored at once (``full_sort_predict``:
        not :meth:`scored_in_chunks`) and their ``[rows x items]`` scores would pass
        ``max_score_matrix_mb`` (the masks and RecBole's collector add matrices of the same shape: with
        millions of items the rows have to give way).
        """
        rows = int(self.config["eval_batch_size"])
        budget_mb = self.config["max_score_matrix_mb"]
        if budget_mb and not self.scored_in_chunks():
            rows = min(rows, max(1, int(float(budget_mb) * 2**20) // (4 * self._dataset.item_num)))
        self.step = rows
        self.set_batch_size(rows)

    def collate_fn(self, index: list[int]) -> tuple[Any, Any, torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(index, dtype=torch.long)
        interaction = self._dataset.join(Interaction(prefix_fields(self._dataset, self.positions[index], self.max_len)))
        interaction = self.transform(self, interaction)
        return interaction, self.history_index(index), torch.arange(len(index)), interaction[self.iid_field]

    def history_index(self, index: torch.Tensor) -> Any:
        return None


class MaskedFullSortEvalDataLoader(EvalRowsDataLoader):
    """Full ranking with the items seen before each target masked (``full_masked``)."""

    def history_index(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows, items = self.prefix.pairs(index)
        keep = items != self.prefix.target[index][rows]  # the target itself is never masked
        return rows[keep], items[keep]


CANDIDATE_CHUNK_ROWS = 16_384  # evaluation rows whose candidates are drawn together (bounds memory)


class CandidateEvalDataLoader(EvalRowsDataLoader):
    """The target and ``n_neg`` negatives, ranked from one encoding per row.

    RecBole's sampled path repeats every row ``1 + n_neg`` times and runs the model's encoder on
    each copy (``model.predict``). Here each row is encoded once (``model.full_sort_predict``) and
    each batch hands over its :class:`Candidates` as ``history_index``: the trainer scores only them,
    item chunk by item chunk, with no ``[rows x items]`` matrix (distinct candidates and
    :func:`ranks_in_item_chunks`), or masks every other item (a boolean ``[rows, n_items]`` mask).
    ``distinct``: no negative twice (``sampled_masked``); ``exclude_seen``:
    never an item seen before the target (``sampled_masked``), else only the target is avoided
    (RecBole's ``uniN`` / ``popN``); ``weights``: popularity (``popN``) instead of uniform.
    """

    def __init__(self, config: Any, dataset: Any, n_neg: int, seed: int, distinct: bool = True,
                 exclude_seen: bool = True, weights: torch.Tensor | None = None, phase: str = "test") -> None:
        self.distinct = distinct
        super().__init__(config, dataset)
        n_rows = len(self.positions)
        self.n_neg = n_neg
        generator = as_generator(seed)
        # Rows in chunks: the excluded (row, item) keys of one chunk at a time, never the whole history.
        chunks = [torch.arange(start, min(start + CANDIDATE_CHUNK_ROWS, n_rows))
                  for start in range(0, n_rows, CANDIDATE_CHUNK_ROWS)]
        negatives, too_few, fewest = [], 0, None
        for rows in chunks:
            sampler = self._candidate_sampler(rows, dataset.item_num, exclude_seen, weights)
            if distinct:  # exactly n distinct negatives: each target needs n allowed items
                allowed = sampler.allowed_counts(len(rows))
                too_few += int((allowed < n_neg).sum())
                fewest = int(allowed.min()) if fewest is None else min(fewest, int(allowed.min()))
                if too_few:
                    continue  # refused below, with the counts over every chunk
            draw = sampler.sample_distinct if distinct else sampler.sample
            negatives.append(draw(torch.arange(len(rows)), n_neg, generator))
        if too_few:
            raise ConfigError(
                f"ranking_neg_num={n_neg}: some {phase} target has only {fewest} distinct items its user never "
                f"saw ({too_few} of {n_rows} targets have fewer than {n_neg}): set "
                f"--ranking_neg_num={fewest} or less, or rank all items with --ranking_protocol=full_masked.")
        self.negatives = torch.cat(negatives) if negatives else torch.zeros(0, n_neg, dtype=torch.long)  # [R, n]

    def _candidate_sampler(self, rows: torch.Tensor, n_items: int, exclude_seen: bool,
                 weights: torch.Tensor | None) -> NegativeSampler:
        """A sampler whose owners are ``rows`` (0..len-1): each excludes its target, and with
        ``exclude_seen`` every item seen before it."""
        targets = self.prefix.target[rows]
        if not exclude_seen:
            return NegativeSampler(n_items, torch.arange(len(rows) + 1), targets, weights=weights)
        owner, items = self.prefix.pairs(rows)
        excluded_rows = torch.cat([owner, torch.arange(len(rows))])  # seen items and the target
        excluded_items = torch.cat([items, targets])
        order = torch.argsort(excluded_rows, stable=True)
        indptr = torch.zeros(len(rows) + 1, dtype=torch.long)
        indptr[1:] = torch.bincount(excluded_rows, minlength=len(rows)).cumsum(0)
        return NegativeSampler(n_items, indptr, excluded_items[order], weights=weights)

    def candidates(self, index: torch.Tensor) -> torch.Tensor:
        """[b, 1 + n]: each row's target, then its negatives."""
        return torch.cat([self.prefix.target[index].unsqueeze(1), self.negatives[index]], dim=1)

    def scored_in_chunks(self) -> bool:
        # Distinct candidates only: a negative drawn twice (uniN, popN) counts once in a masked full ranking.
        return self.distinct and ranks_in_item_chunks(self.config)

    def history_index(self, index: torch.Tensor) -> "Candidates":
        return Candidates(self.candidates(index), self.distinct)


@dataclass(frozen=True)
class Candidates:
    """A batch's candidates [rows, 1 + n] (each row's target first): what a sampled protocol's loader
    hands the trainer as ``history_index``; ``distinct``: no item twice in a row.

    >>> Candidates(torch.tensor([[2, 0]]), distinct=True).dense_mask(4).tolist()
    [[False, True, False, True]]
    """

    items: torch.Tensor
    distinct: bool

    def dense_mask(self, n_items: int) -> torch.Tensor:
        """The boolean ``[rows x n_items]`` mask of RecBole's full scoring: True at every non-candidate."""
        mask = torch.ones(len(self.items), n_items, dtype=torch.bool)
        mask.scatter_(1, self.items, False)
        return mask
