"""Top-K recommendations from a saved run, as the dataset's original ids.

    python -m recbole_ext.recommend RUN_DIR [--users U1 U2 ...] [--k 10] [--output recs.csv]
                                    [--include_seen] [--device cpu|cuda]
    python -m recbole_ext.recommend RUN_DIR --phase test --k 20 --output lists.csv   # what the run ranked

From Python::

    from recbole_ext.recommend import recommend
    recs = recommend("outputs/SASRecPaper-ml-100k-...", users=["196", "186"], k=10)
    recs[0]  # {"user_id": "196", "rank": 1, "item_id": "...", "score": ...}

The run's best checkpoint (``RUN_DIR/checkpoint/*.pth``, written by RecBole's trainer for our
models and stock ones) is loaded with the configuration it was trained with; the dataset is read
again from that configuration's ``data_path``. Each user's input is everything known of them
(training, validation and test items, in time order): the recommendation is their next item. Items
the user has seen are excluded unless ``include_seen``. Nothing is written into the run directory.

``--phase valid`` / ``test`` (:func:`phase_lists`) gives instead the lists the run's evaluation ranked
for that phase's targets: each target's history before it, masked as the run's protocol masks
(``full_masked``: the items seen before the target; ``recbole``: nothing), and for a sampled
protocol every candidate's score (the target and its negatives, drawn from the run's seed as the
run drew them). ``python -m recbole_ext.evaluate`` scores such lists against the exported split:
the run's own ``test_result``, or any other library's lists the same way.
Only checkpoints inside the named run directory are loaded (they are unpickled: load only runs you
trust, e.g. your own).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import ModelType, init_seed

from recbole_ext.compat import load_trusted_checkpoint
from recbole_ext.config import BUNDLED_DATASETS
from recbole_ext.errors import ConfigError, DataError, RecboleExtError, RunError
from recbole_ext.flags import either_style
from recbole_ext.outputs import RESULT, atomic_path, best_checkpoint, check_output_path
from recbole_ext.data.user_sequences import UserSequences
from recbole_ext.protocols import Candidates
from recbole_ext.loading import is_sequential, load_dataset, make_loaders


def load_run(run_dir: str | Path, device: str | None = None, allow_unfinished: bool = False,
             data_path: str | Path | None = None) -> tuple[Any, Any, Any, UserSequences, tuple[Any, Any, Any]]:
    """(config, dataset, model in eval mode, every user's full sequence, the run's (train, valid, test)
    loaders) of a saved run.

    A run that has not finished (no ``result.json``: still training, stopped or failed) is refused
    unless ``allow_unfinished``; then its best checkpoint so far is used and its epoch said."""
    checkpoint = read_checkpoint(best_checkpoint(run_dir))
    if not (Path(run_dir) / RESULT).is_file():
        epoch = checkpoint.get("epoch")
        which = f"epoch {int(epoch) + 1}" if isinstance(epoch, int) else "an unknown epoch"
        if not allow_unfinished:
            raise RunError(f"'{run_dir}' has not finished (no {RESULT}): its best checkpoint so far is from {which}. "
                              "Wait for the run to finish (or resume it), or add --allow_unfinished to recommend "
                              "from that checkpoint.")
        print(f"note: '{run_dir}' has not finished: recommending from its best checkpoint so far ({which}).",
              file=sys.stderr)
    config = checkpoint["config"]
    if device is not None:
        config["device"] = usable_device(device)
    elif torch.device(config["device"]).type == "cuda" and not torch.cuda.is_available():
        config["device"] = torch.device("cpu")  # trained on a GPU, recommended on a CPU
    config["show_progress"] = False
    dataset_name = config["dataset"]
    if data_path is not None:  # the data moved: the folder holding NAME/NAME.inter now
        config["data_path"] = str(Path(data_path).expanduser().resolve() / dataset_name)
    inter = Path(config["data_path"]) / f"{dataset_name}.inter"
    if dataset_name not in BUNDLED_DATASETS and not inter.is_file():
        raise DataError(f"The data the run in '{run_dir}' trained on is not where it was: {inter} is missing (moved "
                          f"or deleted). Put it back, or give the folder that now holds {dataset_name}/"
                          f"{dataset_name}.inter with --data_path DIR.")
    init_seed(config["seed"], config["reproducibility"])
    dataset = load_dataset(config)
    loaders = train, valid, test = make_loaders(config, dataset)
    model = config.model_class(config, train._dataset)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model = model.to(config["device"]).eval()
    if is_sequential(config):  # exact time order, every item of each user
        return config, dataset, model, dataset.sequences, loaders
    splits = [loader._dataset for loader in loaders if loader is not None]
    sequences, _ = UserSequences.from_datasets(*splits)
    return config, dataset, model, sequences, loaders


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint RecBole's trainer wrote; one clear error for a truncated or damaged file."""
    try:
        checkpoint = load_trusted_checkpoint(path, map_location="cpu")
    except Exception as error:  # torch raises EOFError, RuntimeError, UnpicklingError ... for bad bytes
        raise RunError(f"The checkpoint '{path}' cannot be read ({type(error).__name__}): it is truncated or "
                          "damaged. Train the run again (or resume it, if it did not finish).") from None
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "state_dict" not in checkpoint:
        raise RunError(f"'{path}' is not a RecBole checkpoint (no config / state_dict): train the run again.")
    return checkpoint


def usable_device(device: str) -> torch.device:
    """``device`` as torch's; refused when it names a GPU this machine does not have."""
    try:
        wanted = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r} is not a device: use cpu or cuda (cuda:1, ...).") from None
    if wanted.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no GPU is visible to torch on this machine: use --device cpu.")
    if wanted.type == "cuda" and wanted.index is not None and wanted.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), "
                          f"cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return wanted


@torch.no_grad()
def recommend(
    run_dir: str | Path,
    users: Sequence[str] | None = None,
    k: int = 10,
    include_seen: bool = False,
    device: str | None = None,
    batch_size: int = 1024,
    allow_unfinished: bool = False,
    data_path: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{user_id, rank, item_id, score}``: each user's top ``k`` items (original ids)."""
    if k < 1:
        raise ConfigError(f"--k {k}: ask for at least one item (e.g. --k 10).")
    config, dataset, model, sequences, _ = load_run(run_dir, device, allow_unfinished, data_path)
    if type(model).full_sort_predict is AbstractRecommender.full_sort_predict:
        raise ConfigError(f"{config['model']} (the model of '{run_dir}') predicts a score for given (user, item) pairs "
                          "and cannot rank every item (no full_sort_predict), so it has no top-K list: recommend from "
                          "a run of a ranking model (e.g. SASRecPaper, BPR), or use the model's predict for pairs.")
    uid_field, iid_field = dataset.uid_field, dataset.iid_field
    rows = _rows_of_users(dataset, sequences, users)
    sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), batch_size):
        batch_rows = rows[start : start + batch_size]
        user_ids = sequences.users[batch_rows]
        fields = {uid_field: user_ids}
        if sequential:
            seqs, lengths, _ = sequences.last_items(batch_rows, config["MAX_ITEM_LIST_LENGTH"])
            fields.update({model.ITEM_SEQ: seqs, model.ITEM_SEQ_LEN: lengths})
        scores = model.full_sort_predict(Interaction(fields).to(config["device"])).view(len(batch_rows), -1)
        scores = scores.float().cpu()
        scores[:, 0] = -torch.inf
        if not include_seen:
            lengths = sequences.lengths[batch_rows]
            owner = torch.repeat_interleave(torch.arange(len(batch_rows)), lengths)
            seen = torch.cat([sequences.items[sequences.indptr[r] : sequences.indptr[r + 1]] for r in batch_rows])
            scores[owner, seen] = -torch.inf
        top = scores.topk(min(k, scores.size(1) - 1), dim=1)
        user_tokens = dataset.id2token(uid_field, user_ids.numpy())
        for user, items, values in zip(user_tokens, top.indices, top.values):
            finite = torch.isfinite(values)
            item_tokens = dataset.id2token(iid_field, items[finite].numpy())
            out += [{"user_id": str(user), "rank": rank, "item_id": str(item), "score": round(float(score), 6)}
                    for rank, (item, score) in enumerate(zip(item_tokens, values[finite].tolist()), start=1)]
    return out


@torch.no_grad()
def phase_lists(run_dir: str | Path, phase: str = "test", k: int = 20, device: str | None = None,
                allow_unfinished: bool = False, data_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows ``{user_id, history_length, rank, item_id, score}`` of what the run's evaluation ranks for
    ``phase``'s targets: each target's top ``k`` (full ranking), or every candidate's score (sampled
    protocols; ``rank`` among them). ``history_length`` (the user's interactions before the target) names
    the target, as the exported split does: a ``session`` split has several per user. Sequential runs only (their split is the one ``recbole-ext-split`` exports)."""
    if phase not in ("valid", "test"):
        raise ConfigError(f"--phase {phase!r}: use valid or test.")
    config, dataset, model, _, (_, valid, test) = load_run(run_dir, device, allow_unfinished, data_path)
    if not is_sequential(config):
        raise ConfigError(f"{config['model']} is not a sequential model: --phase lists follow the sequential split "
                          "that recbole-ext-split exports; use --users for this run's top-K lists.")
    uid_field, out = dataset.uid_field, []
    loader = valid if phase == "valid" else test
    histories = iter((loader.positions - loader.prefix.start).tolist())  # each target's interactions before it
    for interaction, history_index, _, _ in loader:
        scores = model.full_sort_predict(interaction.to(config["device"])).view(len(interaction), -1).float().cpu()
        scores[:, 0] = -torch.inf  # padding
        users = dataset.id2token(uid_field, interaction[uid_field].numpy())
        if isinstance(history_index, Candidates):  # every candidate's score, best first
            chosen = history_index.items
            values = scores.gather(1, chosen)
            order = values.argsort(dim=1, descending=True, stable=True)
            chosen, values = chosen.gather(1, order), values.gather(1, order)
        else:
            if history_index is not None:  # full_masked: the items seen before each target
                scores[history_index[0], history_index[1]] = -torch.inf
            values, chosen = scores.topk(min(k, scores.size(1) - 1), dim=1)
        for user, items, row_values, history in zip(users, chosen, values, histories):
            finite = torch.isfinite(row_values)
            tokens = dataset.id2token(dataset.iid_field, items[finite].numpy())
            out += [{"user_id": str(user), "history_length": history, "rank": rank, "item_id": str(item),
                     "score": float(score)}
                    for rank, (item, score) in enumerate(zip(tokens, row_values[finite].tolist()), start=1)]
    return out


def _rows_of_users(dataset: Any, sequences: UserSequences, users: Sequence[str] | None) -> torch.Tensor:
    if users is None:
        return torch.arange(len(sequences))
    known = set(dataset.field2token_id[dataset.uid_field])
    missing = [u for u in users if u not in known]
    if missing:
        raise DataError(f"User(s) {', '.join(missing[:5])} are not in dataset '{dataset.dataset_name}' "
                          f"({len(known) - 1} users, original ids such as "
                          f"{', '.join(list(dataset.field2id_token[dataset.uid_field][1:4]))}).")
    ids = torch.as_tensor(dataset.token2id(dataset.uid_field, list(users))).reshape(-1)
    try:
        return sequences.rows_of(ids)
    except KeyError:
        raise DataError("Some of the users have no interaction left after the run's filters: "
                          "nothing to recommend from.") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Top-K recommendations from a saved run (original ids).")
    parser.add_argument("run_dir", type=Path, help="a run's output directory (outputs/<model>-<dataset>-...)")
    parser.add_argument("--users", nargs="+", help="original user ids (default: every user)")
    parser.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    parser.add_argument("--output", type=Path, help="CSV file to write (default: standard output)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--data_path", type=Path, help="the folder now holding the run's NAME/NAME.inter, if it moved")
    parser.add_argument("--allow_unfinished", action="store_true",
                        help="recommend from the best checkpoint so far of a run that has not finished")
    parser.add_argument("--include_seen", action="store_true", help="allow items the user has already seen")
    parser.add_argument("--device", help="cpu or cuda (default: the run's device when available, else cpu)")
    parser.add_argument("--phase", choices=("valid", "test"),
                        help="instead: the lists the run's evaluation ranked for this phase's targets")
    args = parser.parse_args(either_style(parser, list(sys.argv[1:] if argv is None else argv)))
    try:
        if args.output and args.output.resolve().is_relative_to(args.run_dir.resolve()):
            raise ConfigError(f"--output {args.output} lies inside the run directory, which is never written: "
                              "write the recommendations elsewhere.")
        if args.output:
            check_output_path(args.output, "--output", overwrite=args.overwrite)
        if args.phase and (args.users or args.include_seen):
            raise ConfigError("--phase lists every target of the phase, masked as the run's protocol masks: drop "
                              "--users and --include_seen.")
        if args.phase:
            rows = phase_lists(args.run_dir, args.phase, args.k, args.device, args.allow_unfinished, args.data_path)
        else:
            rows = recommend(args.run_dir, args.users, args.k, args.include_seen, args.device,
                             allow_unfinished=args.allow_unfinished, data_path=args.data_path)
    except RecboleExtError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    fields = ["user_id", *(["history_length"] if args.phase else []), "rank", "item_id", "score"]
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.output) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {len(rows)} recommendations for {len({r['user_id'] for r in rows})} users to {args.output}")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
