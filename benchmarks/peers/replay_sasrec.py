"""RePlay's SasRec on a split exported by ``recbole-ext-split``, inside RePlay's own virtualenv.

    python replay_sasrec.py --interactions inter.tsv --out DIR --budget 900 --threads 1 --hparams '{...}'

The item vocabulary is every item of ``--interactions`` (as a recbole-ext run's); ``SasRec`` trains on
the ``train`` rows (their exact order kept: each row's timestamp is its ``position``) with Lightning
until ``--budget`` seconds (``max_time``) or ``--max_epochs``, then scores every item for each
validation user (history: its train rows) and each test user (history: its train and valid rows),
masks the items of that history and writes the top ``--k`` as ``valid.tsv`` / ``test.tsv`` (user_id,
item_id, rank; original ids) and ``run.json``. Imports nothing of recbole_ext.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import torch
from peer_run import fit_within_budget, parse_arguments, write_run  # beside this file


def main() -> int:
    args = parse_arguments(__doc__.split("\n\n")[0], '{"block_count", "head_count", "hidden_size", "max_seq_len", '
                           '"dropout_rate", "loss_type", "lr", "batch_size"}')
    warnings.filterwarnings("ignore")
    import lightning as L
    import replay
    from replay.data import Dataset, FeatureHint, FeatureInfo, FeatureSchema, FeatureSource, FeatureType
    from replay.data.nn import SequenceTokenizer, TensorFeatureInfo, TensorFeatureSource, TensorSchema
    from replay.models.nn.optimizer_utils import FatOptimizerFactory
    from replay.models.nn.sequential.sasrec import SasRec, SasRecPredictionDataset, SasRecTrainingDataset
    from torch.utils.data import DataLoader

    hp = json.loads(args.hparams)
    rows = pd.read_csv(args.interactions, sep="\t", dtype={"user_id": str, "item_id": str}, keep_default_na=False)
    rows["timestamp"] = rows["position"].astype(np.int64)  # the exact order, ties included
    columns = ["user_id", "item_id", "timestamp"]
    schema = FeatureSchema([
        FeatureInfo("user_id", FeatureType.CATEGORICAL, FeatureHint.QUERY_ID),
        FeatureInfo("item_id", FeatureType.CATEGORICAL, FeatureHint.ITEM_ID),
        FeatureInfo("timestamp", FeatureType.NUMERICAL, FeatureHint.TIMESTAMP),
    ])
    tensors = TensorSchema(TensorFeatureInfo(
        "item_id_seq", FeatureType.CATEGORICAL, is_seq=True, feature_hint=FeatureHint.ITEM_ID,
        feature_sources=[TensorFeatureSource(FeatureSource.INTERACTIONS, "item_id")],
        embedding_dim=hp["hidden_size"]))
    tokenizer = SequenceTokenizer(tensors, allow_collect_to_master=True)
    tokenizer.fit(Dataset(schema, rows[columns]))  # every item: the vocabulary of a recbole-ext run
    train = tokenizer.transform(Dataset(schema, rows.loc[rows["phase"] == "train", columns]))
    loader = DataLoader(SasRecTrainingDataset(train, max_sequence_length=hp["max_seq_len"]),
                        batch_size=hp["batch_size"], shuffle=True)
    model = SasRec(tensors, block_count=hp["block_count"], head_count=hp["head_count"], hidden_size=hp["hidden_size"],
                   max_seq_len=hp["max_seq_len"], dropout_rate=hp["dropout_rate"], loss_type=hp["loss_type"],
                   optimizer_factory=FatOptimizerFactory(learning_rate=hp["lr"]))
    epoch_ends, started, seconds = fit_within_budget(L, model, loader, args)

    encoder = tokenizer.item_id_encoder
    item_of = {index: item for item, index in encoder.mapping["item_id"].items()}
    user_of = {index: user for user, index in tokenizer.query_id_encoder.mapping["user_id"].items()}
    args.out.mkdir(parents=True, exist_ok=True)
    model.eval()
    for phase, history in (("valid", ("train",)), ("test", ("train", "valid"))):
        users = set(rows.loc[rows["phase"] == phase, "user_id"])
        known = rows[rows["phase"].isin(history) & rows["user_id"].isin(users)]
        sequences = tokenizer.transform(Dataset(schema, known[columns]))
        batches = DataLoader(SasRecPredictionDataset(sequences, max_sequence_length=hp["max_seq_len"]),
                             batch_size=256)
        seen = known.groupby("user_id")["item_id"].agg(list).to_dict()
        lines = ["user_id\titem_id\trank"]
        with torch.no_grad():
            for index, batch in enumerate(batches):
                scores = model.predict_step(batch, index).float()  # [B, n_items]
                for query, row in zip(batch["query_id"].reshape(-1).tolist(), scores):
                    user = user_of[query]
                    row[[encoder.mapping["item_id"][item] for item in seen.get(user, [])]] = -torch.inf
                    top = row.topk(min(args.k, len(row))).indices.tolist()
                    lines += [f"{user}\t{item_of[i]}\t{rank}" for rank, i in enumerate(top, start=1)]
        (args.out / f"{phase}.tsv").write_text("\n".join(lines) + "\n")
    write_run(args, f"RePlay {replay.__version__}", "SasRec", epoch_ends, started, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
