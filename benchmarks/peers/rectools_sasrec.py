"""RecTools' SASRec on a split exported by ``recbole-ext-split``, inside RecTools' own virtualenv.

    python rectools_sasrec.py --interactions inter.tsv --out DIR --budget 900 --threads 1 --hparams '{...}'

Trains ``rectools.models.SASRecModel`` on the ``train`` rows of ``--interactions`` (its exact order
kept: each row's ``datetime`` is its ``position``, and RecTools sorts by time stably) until
``--budget`` seconds of training (Lightning's ``max_time``) or ``--max_epochs``, then writes the top
``--k`` of every validation user (history: its train rows) and of every test user (history: its
train and valid rows), seen items filtered, as ``valid.tsv`` and ``test.tsv`` (user_id, item_id,
rank; original ids) and ``run.json`` (epochs, training seconds, seconds per epoch, peak RSS,
versions). Imports nothing of recbole_ext: bench_peers.py scores the lists with
``recbole_ext.evaluate``.
"""

from __future__ import annotations

import json
import time
import warnings

import pandas as pd
from peer_run import budget_trainer, parse_arguments, write_run  # beside this file


def main() -> int:
    args = parse_arguments(__doc__.split("\n\n")[0], "SASRecModel keyword arguments as JSON")
    import pytorch_lightning as pl
    from rectools import Columns, __version__
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel

    rows = pd.read_csv(args.interactions, sep="\t", dtype={"user_id": str, "item_id": str}, keep_default_na=False)
    rows = rows.rename(columns={"user_id": Columns.User, "item_id": Columns.Item})
    rows[Columns.Weight] = 1.0
    rows[Columns.Datetime] = pd.to_datetime(rows["position"], unit="s")  # the exact order, ties included

    epoch_ends: list[float] = []

    columns = Columns.Interactions
    train = rows[rows["phase"] == "train"][columns]
    model = SASRecModel(**json.loads(args.hparams), get_trainer_func=lambda: budget_trainer(pl, args, epoch_ends))
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    model.fit(Dataset.construct(train))
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    for phase, history in (("valid", ("train",)), ("test", ("train", "valid"))):
        users = rows.loc[rows["phase"] == phase, Columns.User].unique()
        known = Dataset.construct(rows[rows["phase"].isin(history)][columns])
        recs = model.recommend(users=users, dataset=known, k=args.k, filter_viewed=True,
                               on_unsupported_targets="warn")
        recs[[Columns.User, Columns.Item, Columns.Rank]].to_csv(args.out / f"{phase}.tsv", sep="\t", index=False)
    write_run(args, f"RecTools {__version__}", "SASRecModel", epoch_ends, started, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
