"""recbole_ext.data.sessions: sessions cut at time gaps, GRU-sized chunks."""

from __future__ import annotations

import pytest
import torch

from recbole_ext.data.sessions import chunk_bounds, session_bounds


def test_session_and_chunk_bounds():
    indptr = torch.tensor([0, 6, 9])
    times = torch.tensor([0.0, 10, 20, 500, 510, 520, 0, 1000, 1001])
    assert session_bounds(indptr, times, None).tolist() == [[0, 6], [6, 9]]
    assert session_bounds(indptr, times, 100).tolist() == [[0, 3], [3, 6], [6, 7], [7, 9]]
    # 6 items, L = 2: chunks of <= 3 items overlapping by one; a 1-item session gives none.
    assert chunk_bounds(torch.tensor([[0, 6], [6, 7], [7, 9]]), 2).tolist() == [[0, 3], [2, 5], [4, 6], [7, 9]]
    with pytest.raises(ValueError, match="timestamp"):
        session_bounds(indptr, None, 100)
