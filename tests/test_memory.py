"""recbole_ext.memory: oneDNN's primitive cache is bounded on import, unless the user bounded it."""

from __future__ import annotations

import os
import subprocess
import sys

from recbole_ext.memory import ONEDNN_CACHE_CAPACITY, ONEDNN_CACHE_VARIABLE


def _value_after_import(env: dict[str, str]) -> str:
    code = f"import recbole_ext, os; print(os.environ[{ONEDNN_CACHE_VARIABLE!r}])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_the_package_bounds_onednns_cache():
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_CACHE_VARIABLE}
    assert _value_after_import(env) == str(ONEDNN_CACHE_CAPACITY)


def test_a_users_own_bound_is_kept():
    assert _value_after_import({**os.environ, ONEDNN_CACHE_VARIABLE: "8"}) == "8"
