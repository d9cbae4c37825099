"""What ``torchrun``'s environment says about this process, known before any process group starts.

Read by the configuration (the GPU of this rank), the commands (which rank prints) and the
data-parallel training (:mod:`recbole_ext.training.distributed`).
"""

from __future__ import annotations

import os
from typing import Any


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (its environment names the world)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def this_rank() -> int:
    """This process's rank under torchrun (0 otherwise), known before the process group starts."""
    return int(os.environ.get("RANK", 0))


def gpu_of_this_rank() -> str:
    """The ``gpu_id`` of this rank: the ``LOCAL_RANK``-th GPU of ``CUDA_VISIBLE_DEVICES`` (or of all)."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return visible[local_rank] if local_rank < len(visible) else str(local_rank)


def resume_command(run_dir: Any) -> str:
    """The command that resumes ``run_dir``: under torchrun, with this launch's numbers of processes."""
    if not launched():
        return f"python run.py --resume {run_dir}"
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    nodes = int(os.environ["WORLD_SIZE"]) // max(per_node, 1)
    where = "--standalone" if nodes == 1 else f"--nnodes {nodes} --rdzv_endpoint HOST:PORT (as before)"
    return f"torchrun {where} --nproc_per_node {per_node} run.py --resume {run_dir}"
