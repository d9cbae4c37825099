"""What the peers' runners share: their command line and the run.json they write. Imports nothing of recbole_ext
(it runs inside a peer's virtualenv)."""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import torch


def parse_arguments(description: str, hparams_help: str) -> argparse.Namespace:
    """The runners' flags; sets torch's threads and seed from them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--interactions", type=Path, required=True, help="recbole-ext-split --interactions FILE")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, required=True, help="training seconds")
    parser.add_argument("--max_epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--hparams", default="{}", help=hparams_help)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return args


def write_run(args: argparse.Namespace, library: str, model: str, epochs: int, seconds: float) -> None:
    """``run.json``: epochs, training seconds, seconds per epoch, peak RSS, versions."""
    (args.out / "run.json").write_text(json.dumps({
        "library": library, "model": model, "epochs": epochs,
        "train_seconds": round(seconds, 3), "seconds_per_epoch": round(seconds / max(epochs, 1), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch": torch.__version__, "threads": args.threads}, indent=2) + "\n")
