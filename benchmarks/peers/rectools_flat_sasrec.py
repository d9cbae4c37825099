"""RecTools' fast-transformers ``FlatSASRecNet`` on a split exported by ``recbole-ext-split``, inside RecTools' virtualenv.

    python rectools_flat_sasrec.py --interactions inter.tsv --out DIR --budget 900 --threads 1 --hparams '{...}'

RecTools 0.19 ships ``FlatSASRecNet`` (``rectools.fast_transformers``: a plain id-embedding SASRec,
pre-LayerNorm blocks with a 4x wide GELU feed-forward) as a bare network: its only fit / recommend
wrapper, ``UniSRecModel``, needs text embeddings of the items. This runner uses the package's own
parts and nothing else: ``build_sequences`` (left-padded next-item pairs from the ``train`` rows, their
exact order kept: each row's timestamp is its ``position``), ``SequenceBatchDataset``, and
``UniSRecLightning`` for the loss (``softmax``: cross-entropy over every item, padding excluded) and
the optimiser (Adam, betas 0.9 / 0.98 as RecTools' ``SASRecModel``), every matrix initialised as
RecTools initialises its transformers (``xavier_normal_``, as ``SASRecModel``'s Lightning module does at
train start; the bare net keeps ``nn.Embedding``'s N(0, 1) items, which start its CE at ~24 on ML-1M
against ln 3,706 = 8.2 for uniform scores), trained with Lightning until
``--budget`` seconds (``max_time``) or ``--max_epochs``; the last epoch's model. The item vocabulary
is the items of the train rows (``build_sequences``' own); history items outside it are dropped (a
user left with none gets no list: the evaluator counts a miss).
Each validation user's history is its train rows, each test user's its train and valid rows; the
history's items are masked and the top ``--k`` written as ``valid.tsv`` / ``test.tsv`` (user_id,
item_id, rank; original ids) with ``run.json``. Imports nothing of recbole_ext.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import torch
from peer_run import fit_within_budget, parse_arguments, write_run  # beside this file

PREDICT_BATCH = 256


class EncoderForLightning(torch.nn.Module):
    """What ``UniSRecLightning`` calls on its net: ``net(x)`` -> hidden states, ``project_all()`` -> item rows.

    ``project_all`` includes row 0 (padding): the wrapper's softmax loss sets that column to -inf itself.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encode(x)

    def project_all(self) -> torch.Tensor:
        return self.net.item_emb.weight


def main() -> int:
    args = parse_arguments(__doc__.split("\n\n")[0], '{"n_blocks", "n_heads", "n_factors", "dropout_rate", '
                           '"session_max_len", "loss", "lr", "batch_size"}')
    warnings.filterwarnings("ignore")
    import pytorch_lightning as pl
    from rectools import __version__
    from rectools.fast_transformers import FlatSASRecNet, SequenceBatchDataset, UniSRecLightning, build_sequences

    hp = json.loads(args.hparams)
    if hp["loss"] != "softmax":
        raise SystemExit(f"rectools_flat_sasrec.py: loss {hp['loss']!r} is not mapped here; use the preset's CE (softmax)")
    rows = pd.read_csv(args.interactions, sep="\t", dtype={"user_id": str, "item_id": str}, keep_default_na=False)
    user_codes, users = pd.factorize(rows["user_id"])
    item_codes, items = pd.factorize(rows["item_id"])
    rows["user_code"], rows["item_code"] = user_codes, item_codes
    max_len = hp["session_max_len"]

    train = rows[rows["phase"] == "train"]
    x, y, known_items, _ = build_sequences(torch.from_numpy(train["user_code"].to_numpy(np.int64)),
                                           torch.from_numpy(train["item_code"].to_numpy(np.int64)),
                                           torch.from_numpy(train["position"].to_numpy(np.int64)), max_len)
    net = FlatSASRecNet(n_items=len(known_items), n_factors=hp["n_factors"], n_blocks=hp["n_blocks"],
                        n_heads=hp["n_heads"], session_max_len=max_len, dropout=hp["dropout_rate"])
    for param in net.parameters():  # RecTools' own init for its transformers (its SASRecModel's on_train_start)
        if param.dim() > 1:
            torch.nn.init.xavier_normal_(param)
    module = UniSRecLightning(EncoderForLightning(net), [{"params": net.parameters(), "lr": hp["lr"],
                                                          "betas": (0.9, 0.98)}], loss="softmax", optimizer="adam")
    loader = torch.utils.data.DataLoader(SequenceBatchDataset(x, y), batch_size=hp["batch_size"], shuffle=True)
    epoch_ends, started, seconds = fit_within_budget(pl, module, loader, args)

    internal = np.zeros(len(items), dtype=np.int64)  # item code -> 1..N (0: outside the vocabulary)
    internal[known_items.numpy()] = np.arange(1, len(known_items) + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    net.eval()
    for phase, history in (("valid", ("train",)), ("test", ("train", "valid"))):
        targets = set(rows.loc[rows["phase"] == phase, "user_code"])
        known = rows[rows["phase"].isin(history) & rows["user_code"].isin(targets)].sort_values("position", kind="stable")
        sequences = {user: internal[group.to_numpy()] for user, group in known.groupby("user_code")["item_code"]}
        sequences = {user: sequence[sequence > 0] for user, sequence in sequences.items()}  # in the vocabulary
        lines = ["user_id\titem_id\trank"]
        ordered = sorted(user for user, sequence in sequences.items() if len(sequence))  # else no list: a miss
        with torch.no_grad():
            for start in range(0, len(ordered), PREDICT_BATCH):
                batch_users = ordered[start:start + PREDICT_BATCH]
                batch = torch.zeros(len(batch_users), max_len, dtype=torch.long)  # left-padded, as build_sequences
                for row, user in enumerate(batch_users):
                    sequence = sequences[user][-max_len:]
                    batch[row, max_len - len(sequence):] = torch.from_numpy(sequence)
                scores = net.encode_last(batch) @ net.all_item_embeddings().T  # [B, N]: internal ids 1..N
                for row, user in enumerate(batch_users):
                    scores[row, torch.from_numpy(sequences[user] - 1)] = -torch.inf  # seen items
                top = scores.topk(min(args.k, scores.shape[1]), dim=1).indices.numpy()
                for row, user in enumerate(batch_users):
                    lines += [f"{users[user]}\t{items[known_items[i].item()]}\t{rank}"
                              for rank, i in enumerate(top[row], start=1)]
        (args.out / f"{phase}.tsv").write_text("\n".join(lines) + "\n")
    write_run(args, f"RecTools {__version__}", "FlatSASRecNet", epoch_ends, started, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
