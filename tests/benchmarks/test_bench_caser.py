"""benchmarks/bench_caser.py: the d2l chapter's hit rate and AUC, computed over the whole candidate pool."""

from __future__ import annotations

import sys

import torch

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # the scripts' own import path
from bench_caser import hit_and_auc  # noqa: E402


def test_hit_and_auc_exact():
    inf = float("inf")
    scores = torch.tensor([
        [9.0, 0.5, 0.9, -inf, 0.1, 0.7],  # target 5 (0.7): candidates 1, 2, 4 -> 1 above (0.9)
        [0.0, 0.3, 0.3, 0.3, -inf, 0.2],  # target 1 (0.3): 2, 3 tie, 5 below
    ])
    hit, auc = hit_and_auc(scores, torch.tensor([5, 1]), k=1)
    assert hit.tolist() == [0.0, 1.0]  # item 0 (padding, 9.0) never counts
    assert torch.allclose(auc, torch.tensor([2 / 3, (1 + 0.5 + 0.5) / 3]))
    assert hit_and_auc(scores, torch.tensor([5, 1]), k=2)[0].tolist() == [1.0, 1.0]
