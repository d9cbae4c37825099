"""Fixtures of the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models.rating import write_rating_dataset


@pytest.fixture
def rating_data(tmp_path) -> tuple[Path, str]:
    return write_rating_dataset(tmp_path / "data")
