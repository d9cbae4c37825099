"""Process memory: a bound on oneDNN's primitive cache, set when the package is imported.

torch runs bfloat16 products (and some float32 ones) through oneDNN, which compiles a kernel
("primitive") for each new shape and keeps up to ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` of them (1,024
by default), each with its own buffers. Our training batches change shape from batch to batch
(SASRecPaper's length groups, GRU4RecPaper's real positions, the last batch of an epoch), so a long
run filled that cache and its resident memory climbed epoch after epoch: ``sasrec-ml1m-ce`` on
ML-1M held 866 MiB at its first step, 1,869 MiB after 4 epochs and 2,607 MiB after 30 minutes; with
the cache bounded to 64 kernels, 1,277 MiB after 4 epochs at the same epoch time (2026-12-07, the
2-core CPU of docs/speed.md). oneDNN reads the variable when it first compiles a kernel, so it is
set on import, before any product has run, unless it is set already (then yours is kept).
"""

from __future__ import annotations

import os

ONEDNN_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = 64  # kernels kept; 1,024 is oneDNN's default


def bound_onednn_cache(capacity: int = ONEDNN_CACHE_CAPACITY) -> str:
    """Set ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` to ``capacity`` unless it is set; returns the value in force."""
    return os.environ.setdefault(ONEDNN_CACHE_VARIABLE, str(capacity))
