"""recbole_ext.data.sessions: sessions cut at time gaps, GRU-sized chunks."""

from __future__ import annotations

import pytest
import torch

from recbole_ext.data.sessions import chunk_bounds, session_bounds
from tests.helpers import FAST

SMALL = {**FAST, "layers": [8], "n_sample": 4}

# A 3 x 4 score matrix: row b scores the mini-batch's 3 targets (items 1, 2, 3: the positive is
# the diagonal) and one shared sample (item 4).
SCORES = torch.tensor([[2.0, 0.5, -1.0, 1.5], [0.3, 1.0, 2.0, -0.5], [-1.0, 0.0, 0.5, 0.2]])


def test_session_and_chunk_bounds():
    indptr = torch.tensor([0, 6, 9])
    times = torch.tensor([0.0, 10, 20, 500, 510, 520, 0, 1000, 1001])
    assert session_bounds(indptr, times, None).tolist() == [[0, 6], [6, 9]]
    assert session_bounds(indptr, times, 100).tolist() == [[0, 3], [3, 6], [6, 7], [7, 9]]
    # 6 items, L = 2: chunks of <= 3 items overlapping by one; a 1-item session gives none.
    assert chunk_bounds(torch.tensor([[0, 6], [6, 7], [7, 9]]), 2).tolist() == [[0, 3], [2, 5], [4, 6], [7, 9]]
    with pytest.raises(ValueError, match="timestamp"):
        session_bounds(indptr, None, 100)
