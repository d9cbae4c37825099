"""What many tests share: the repository's paths, fast settings and tiny datasets written by the tests themselves
(never the licensed data)."""

from __future__ import annotations

import random
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Small enough for a 1-epoch run in a few seconds on 2 CPU cores.
FAST = {
    "epochs": 1,
    "show_progress": False,
    "state": "WARNING",
    "train_batch_size": 64,
    "eval_batch_size": 256,
    "MAX_ITEM_LIST_LENGTH": 10,
}
FAST_SASREC = {**FAST, "n_layers": 1, "n_heads": 1, "hidden_size": 16, "inner_size": 32}


def write_inter(path: Path, rows: list[tuple[int, int, float]]) -> None:
    """Write ``rows`` of (user, item, timestamp) as a RecBole ``.inter`` file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    lines += [f"u{user}\ti{item}\t{timestamp}" for user, item, timestamp in rows]
    path.write_text("\n".join(lines) + "\n")


def tiny_rows(n_users: int = 30, n_items: int = 40, per_user: int = 12, seed: int = 0):
    """Each user walks through items in a noisy cycle, so the next item is learnable."""
    rng = random.Random(seed)
    rows = []
    for user in range(n_users):
        item = rng.randrange(n_items)
        for step in range(per_user):
            rows.append((user, item, 1000 * user + step))
            item = (item + 1 + rng.randrange(2)) % n_items
    return rows
