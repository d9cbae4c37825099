"""Shared fixtures (helpers without fixtures: :mod:`tests.helpers`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import recbole_ext.compat  # noqa: F401  (checks the stack and patches RecBole before any test)
from tests.helpers import tiny_rows, write_inter


@pytest.fixture
def tiny_dataset(tmp_path) -> tuple[Path, str]:
    """(data_path, name) of a 30-user, 40-item sequential dataset with timestamps."""
    name = "tiny"
    write_inter(tmp_path / "data" / name / f"{name}.inter", tiny_rows())
    return tmp_path / "data", name
