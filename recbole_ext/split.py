"""The evaluation split of a run, exported: every validation and test target (and its candidates).

    python -m recbole_ext.split --dataset ml1m --output ml1m-split.tsv
    python -m recbole_ext.split --dataset ml1m --config_files sasrec-paper-ml1m --output ml1m-sampled.tsv
    recbole-ext-split --dataset D [--model M] [--data_path=DIR] [--config_files ...] [--key=value ...] --output FILE
                      [--interactions FILE]

The data and the protocol are loaded exactly as a run of ``--model`` (default SASRecPaper) with the
same configuration loads them (:func:`recbole_ext.loading.load_dataset`, the same seeds);
nothing is trained. The TSV has one row per evaluation target, validation rows first::

    user_id  phase  item_id  timestamp  history_length  [negatives]

``user_id`` / ``item_id`` are the dataset's original tokens; ``phase`` is ``valid`` or ``test``;
``timestamp`` is the target's time as written in the atomic file; ``history_length`` is the number
of the user's interactions before the target (in exact time order; a model reads at most its
``MAX_ITEM_LIST_LENGTH`` latest). With ``ranking_protocol: sampled_masked`` (or RecBole's ``uniN``
/ ``popN``) the ``negatives`` column lists the target's candidates, space-separated original ids:
a paper can publish its exact split and candidates, and another library can be evaluated on them
(``python -m recbole_ext.evaluate``).

``--interactions FILE`` also writes every interaction of the split's users in the exact order the
runs read them, so another library needs to re-derive nothing (the order of equal timestamps
included)::

    user_id  item_id  timestamp  position  phase

``position`` is the interaction's place in its user's sequence (0 = first); ``phase`` is ``train``
(a training interaction), ``valid`` or ``test`` (that phase's target), or ``history`` (an input
that is never trained on: the earlier items of ``user_holdout``'s test users). A target's history
is its user's rows with a smaller ``position``; train a peer on the ``train`` rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np


from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole_ext.cli import parse_overrides
from recbole_ext.config import build_config
from recbole_ext.errors import ConfigError, RecboleExtError
from recbole_ext.flags import either_style
from recbole_ext.protocols import CandidateEvalDataLoader, sequential_eval_loaders
from recbole_ext.loading import is_sequential, load_dataset
from recbole_ext.outputs import atomic_path, check_output_path

HEADER = ["user_id", "phase", "item_id", "timestamp", "history_length"]


def split_rows(config: Any, dataset: Any = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the split ``config`` describes (see the module docstring)."""
    if not is_sequential(config):
        raise ConfigError(f"{config['model']} is not a sequential model: the exported split is the sequential "
                          "models' per-user split; give --model SASRecPaper (or any sequential model).")
    dataset = dataset if dataset is not None else load_dataset(config)
    _, valid_view, test_view = dataset.build()
    loaders = sequential_eval_loaders(config, valid_view, test_view)
    with_negatives = any(isinstance(loader, CandidateEvalDataLoader) for loader in loaders)
    everything, sequences = dataset.all_interactions, dataset.sequences
    user_tokens = dataset.field2id_token[dataset.uid_field]
    item_tokens = dataset.field2id_token[dataset.iid_field]
    times = everything[dataset.time_field].numpy() if dataset.time_field in everything.interaction else None
    rows = []
    for phase, loader in (("valid", loaders[0]), ("test", loaders[1])):
        positions = loader.positions  # into the exact-order arrays
        users = everything[dataset.uid_field][positions]
        history = (positions - sequences.indptr[sequences.rows_of(users)]).tolist()
        users, items = user_tokens[users.numpy()], item_tokens[everything[dataset.iid_field][positions].numpy()]
        stamps = [_number(t) for t in times[positions.numpy()]] if times is not None else [""] * len(positions)
        negatives = (item_tokens[loader.negatives.numpy()] if isinstance(loader, CandidateEvalDataLoader)
                     else None)
        for k in range(len(positions)):
            row = [str(users[k]), phase, str(items[k]), stamps[k], str(history[k])]
            if with_negatives:
                row.append(" ".join(map(str, negatives[k])) if negatives is not None else "")
            rows.append(row)
    return HEADER + (["negatives"] if with_negatives else []), rows


INTERACTIONS_HEADER = ["user_id", "item_id", "timestamp", "position", "phase"]
INTERACTION_CHUNK = 1 << 20  # rows formatted at a time


def write_interactions(config: Any, output: Path, dataset: Any = None) -> int:
    """Write every interaction with its position and phase (module docstring) to ``output``; the row count."""
    dataset = dataset if dataset is not None else load_dataset(config)
    sequences = dataset.sequences
    if getattr(dataset, "split", None) is None:
        dataset.build()
    split = dataset.split
    phase = np.where(split.train_mask(sequences), "train", "history").astype(object)
    phase[split.valid_positions.numpy()] = "valid"
    phase[split.test_positions.numpy()] = "test"
    lengths = sequences.lengths.numpy()
    position = np.arange(len(sequences.items)) - np.repeat(sequences.indptr[:-1].numpy(), lengths)
    users = np.repeat(dataset.field2id_token[dataset.uid_field][sequences.users.numpy()], lengths)
    items = dataset.field2id_token[dataset.iid_field][sequences.items.numpy()]
    times = sequences.timestamps.numpy() if sequences.timestamps is not None else None
    with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(INTERACTIONS_HEADER) + "\n")
        for start in range(0, len(items), INTERACTION_CHUNK):
            stop = start + INTERACTION_CHUNK
            stamps = [_number(t) for t in times[start:stop]] if times is not None else [""] * len(items[start:stop])
            out.writelines(f"{u}\t{i}\t{t}\t{p}\t{h}\n" for u, i, t, p, h in zip(
                users[start:stop], items[start:stop], stamps, position[start:stop].tolist(), phase[start:stop]))
    return len(items)


def write_split(config: Any, output: Path, dataset: Any = None) -> int:
    """Write the split's TSV to ``output`` (atomically); return the number of rows. ``dataset``: the one
    ``config`` loads, when the caller has it already."""
    header, rows = split_rows(config, dataset)
    with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(header) + "\n")
        out.writelines("\t".join(row) + "\n" for row in rows)
    return len(rows)


def _number(value: float) -> str:
    """A float64 time as the file wrote it: integral values without ``.0``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset name (as for run.py)")
    parser.add_argument("--model", default="SASRecPaper",
                        help="the run whose configuration to load (default SASRecPaper; any sequential model)")
    parser.add_argument("--config_files", nargs="+", default=[], metavar="YAML", help="config files, in order")
    parser.add_argument("--output", type=Path, required=True, help="the TSV file to write")
    parser.add_argument("--interactions", type=Path, help="also write every interaction in its exact order, with "
                        "its position and phase (train, valid, test, history)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args, extra = parser.parse_known_args(either_style(parser, list(sys.argv[1:] if argv is None else argv)))
    try:
        overrides = parse_overrides(extra)
        check_output_path(args.output, "--output", overwrite=args.overwrite)
        if args.interactions:
            check_output_path(args.interactions, "--interactions", overwrite=args.overwrite)
        config = build_config(args.model, args.dataset, args.config_files, {"state": "WARNING", **overrides})
        dataset = load_dataset(config) if is_sequential(config) else None  # split_rows refuses the others
        n_rows = write_split(config, args.output, dataset)
        n_interactions = write_interactions(config, args.interactions, dataset) if args.interactions else None
    except RecboleExtError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {n_rows} evaluation targets of {args.dataset} ({config['split_protocol'] or 'leave_one_out'}) "
          f"to {args.output}")
    if n_interactions is not None:
        print(f"wrote {n_interactions} interactions in their exact order to {args.interactions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
