"""Roofline benchmark of one training step: where the time goes, and how far it is from this machine's peak.

    python benchmarks/bench_step.py --data_path atomic_data                     # the three ML-1M presets
    python benchmarks/bench_step.py --data_path atomic_data --precision fp32 bf16 --baseline 1810e44 --epoch --rounds 3
    python benchmarks/bench_step.py --dataset tiny --data_path DIR --steps 2 --set MAX_ITEM_LIST_LENGTH=10  # smoke

For each model with its preset (default SASRecPaper ``sasrec-ml1m-ce``, CaserPaper ``caser-ml1m-ce``,
GRU4RecPaper ``gru4rec-ml1m``) it builds the run's data, model, trainer and optimiser as a run does
(``recbole_ext.training.pipeline``), then times ``--steps`` training steps (after ``--warmup``) by phase:

* **batch**: the training loader builds the next batch (negatives, windows, sessions);
* **forward**: the encoder, up to the hidden states (the method named in ``ENCODERS``);
* **loss**: scoring and the loss (the fused softmax also forms its gradients here);
* **backward**: ``loss.backward()``;
* **optimiser**: gradient clipping (if configured), ``optimizer.step()``, ``zero_grad``.

**FLOPs and bytes per step, from the batch's shapes** (multiply-adds count 2; the backward of a
product costs two products, so a product's share of a step is 3x its forward):

* SASRecPaper, ``B`` rows of length ``L``, width ``H``, FFN width ``F``, ``N`` blocks, ``P``
  non-padding positions, ``n`` items: dense ``3 N (8 B L H^2 + 4 B L H F)`` (Q, K, V, output
  projection and the FFN); attention ``3 N (4 B L^2 H)``; scoring ``3 (2 P n H)`` for CE (BCE/SSM:
  ``3 (2 P (1 + k) H)``). Bytes: the attention weights, written once and read twice,
  ``3 N B L^2 4`` (the fused softmax keeps its chunk in cache, so the [P x n] logits count 0).
* CaserPaper, ``B`` windows of ``L`` items, ``k`` embedding width, ``nv``/``nh`` filters: dense
  ``3 (2 B nv L k + sum_h 2 B (L - h + 1) h k nh + 2 B (nv k + nh L) k)``; scoring
  ``3 (2 B n 2k)`` (CE, one softmax per window); bytes ~0.
* GRU4RecPaper, ``B`` rows of ``L`` steps, ``P`` real (non-padding) positions, GRU widths ``E -> H``,
  ``S`` shared samples: dense ``3 (2 B L 3H (E + H))`` per layer; scoring ``3 (2 (L B B + P S) H)``
  (the in-batch targets at every position, the samples at the real ones); bytes: the in-batch
  scores, ``3 L B B 4`` (the sampled block's chunk is reused, as the fused softmax's).

**The measured peak**: in the same run, this machine's matrix-product throughput at each group's
shape (dense: ``[B L, H] x [H, 3H]``; attention: ``bmm [B, L, H] x [B, H, L]``; scoring: one
chunk of the fused softmax, ``[rows, H] x [H, n]``), in float32 and in bfloat16 (best of 5), and
its copy bandwidth. The **roofline** of a step is ``sum over groups of FLOPs / peak + bytes /
bandwidth`` with the peak of the step's precision (bf16 where bf16 is faster); the table prints
the step's time as a multiple of it (1.0 = at the measured peak).

``--baseline REV`` measures the same steps on another commit of this repository (its package
extracted with ``git archive`` and run in a subprocess, float32, same threads) and prints the
ratios; ``--epoch`` also times one whole training epoch (``Trainer._train_epoch``) per row. The
baseline reads its own preset files: where a preset changed since REV, ``--set`` its old values
for both sides, or the ratio compares two networks (``sasrec-ml1m-ce`` was d 50, dropout 0.2 until
2026-12-07: ``--set SASRecPaper:hidden_size=50 SASRecPaper:inner_size=50``; dropout costs the same).
REV may also be a ``.tar`` of that package (``git archive -o 1810e44.tar 1810e44 recbole_ext``), for a
machine without the repository's history (the lent GPU machine); its rows are named after the file.
``--rounds N`` repeats the whole measurement N times, this commit then the baseline each round:
the table gives the medians over the rounds and each ratio is the median of the ratios round by
round (this machine's speed drifted by up to ~30% between runs minutes apart: with one round that
drift is read as the code's).
On a machine with a GPU the rows run on it, as a run would (``--set device=cpu`` keeps them on the
CPU): every clock read first waits for the GPU's queued work, and the peaks and the bandwidth are the
GPU's. ``--profile K`` also runs K more steps of each row (this commit's) under ``torch.profiler`` and prints
the operations that took the most time, in milliseconds a step (self time: an operation's own work,
not that of the operations it calls), with their share of the profiled steps and their calls a step.
``--publish`` writes the table into docs/results.md (section ``step-roofline``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ["SASRecPaper=sasrec-ml1m-ce", "CaserPaper=caser-ml1m-ce", "GRU4RecPaper=gru4rec-ml1m"]
ENCODERS = {"SASRecPaper": "encode", "CaserPaper": "forward", "GRU4RecPaper": "sequence_hidden"}
PHASES = ("batch", "forward", "loss", "backward", "optimiser")


# ------------------------------------------------------------------------------------------ FLOPs
def step_cost(model: Any, batch: Any, config: Any) -> dict[str, Any]:
    """FLOPs per group, bytes, and the shapes to measure the peak at (see the module docstring)."""
    name = type(model).__name__
    n = model.n_items
    seq = batch[model.ITEM_SEQ]
    if name == "SASRecPaper":
        b, length = seq.shape
        h, f, blocks = model.hidden_size, model.inner_size, model.n_layers
        p = int((batch[model.POS_ITEM_ID] != 0).sum())
        classes = n if model.loss_type == "CE" else 1 + model.n_negatives
        rows = min(p, _chunk_rows(p, n))
        return {"flops": {"dense": 3 * blocks * (8 * b * length * h * h + 4 * b * length * h * f),
                          "attention": 3 * blocks * 4 * b * length * length * h,
                          "scoring": 3 * 2 * p * classes * h},
                "bytes": 3 * blocks * b * length * length * 4,
                "shapes": {"dense": ("mm", b * length, h, 3 * h), "attention": ("bmm", b, length, h, length),
                           "scoring": ("mm", max(rows, 1), h, classes)}}
    if name == "CaserPaper":
        b, length = seq.shape
        k, nv, nh = model.embedding_size, model.n_v, model.n_h
        dense = 2 * b * nv * length * k + sum(2 * b * (length - hh + 1) * hh * k * nh for hh in range(1, length + 1))
        dense += 2 * b * (nv * k + nh * length) * k
        return {"flops": {"dense": 3 * dense, "scoring": 3 * 2 * b * n * 2 * k},
                "bytes": 0,
                "shapes": {"dense": ("mm", b, nv * k + nh * length, k),
                           "scoring": ("mm", min(b, _chunk_rows(b, n)), 2 * k, n)}}
    if name == "GRU4RecPaper":
        b, length = seq.shape
        sizes = [model.item_embedding.embedding_dim if not model.one_hot else 0, *model.layers]
        dense = sum(2 * b * length * 3 * sizes[i + 1] * (sizes[i] + sizes[i + 1]) for i in range(len(model.layers)))
        p = int((batch[model.POS_ITEM_ID] != 0).sum())
        width, samples = model.layers[-1], model.n_sample
        rows = min(p, _chunk_rows(p, samples + 1))  # the sampled block's chunk of real positions
        return {"flops": {"dense": 3 * dense, "scoring": 3 * 2 * (length * b * b + p * samples) * width},
                "bytes": 3 * length * b * b * 4,
                "shapes": {"dense": ("mm", b, width, 3 * width), "scoring": ("mm", max(rows, 1), width, samples)}}
    raise SystemExit(f"bench_step: no FLOP formula for {name}; models: {', '.join(ENCODERS)}")


def _chunk_rows(rows: int, n_items: int) -> int:
    try:  # the fused softmax's chunk (this commit); a commit without it scored all rows at once
        from recbole_ext.models.losses import DEFAULT_BUDGET_MB, chunk_sizes
    except ImportError:
        return rows
    return chunk_sizes(rows, n_items - 1, DEFAULT_BUDGET_MB)[0]


def device_words(device: str, threads: int) -> str:
    """Where the rows ran, for the table's caption."""
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} ({device}), {threads} CPU threads"
    return f"{threads} torch threads"


def _sync(device: Any) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously: a clock read without it times the launch)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def product_throughput(shape: tuple, dtype: torch.dtype, device: Any = "cpu", repeats: int = 5) -> float:
    """GFLOP/s of one matrix product of ``shape`` in ``dtype`` on ``device`` (best of ``repeats``)."""
    if shape[0] == "mm":
        _, m, k, n = shape
        a, b = torch.randn(m, k, device=device).to(dtype), torch.randn(k, n, device=device).to(dtype)
        flops, op = 2 * m * k * n, torch.mm
    else:
        _, batch, m, k, n = shape
        a, b = (torch.randn(batch, m, k, device=device).to(dtype), torch.randn(batch, k, n, device=device).to(dtype))
        flops, op = 2 * batch * m * k * n, torch.bmm
    op(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(3):
            op(a, b)
        _sync(device)
        best = min(best, (time.perf_counter() - start) / 3)
    return flops / best / 1e9


def copy_bandwidth(device: Any = "cpu", mib: int = 256) -> float:
    """GB/s of a large copy (read + write) on ``device``, best of 3."""
    x = torch.empty(mib * 2**20 // 4, device=device)
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(3):
        _sync(device)
        start = time.perf_counter()
        y.copy_(x)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * x.numel() * 4 / best / 1e9


# ----------------------------------------------------------------------------------------- timing
def row_config(model_name: str, preset: str, args: argparse.Namespace, precision: str) -> Any:
    """The RecBole configuration of one row: the preset, ``--data_path``, the precision and ``--set``."""
    import recbole_ext
    from recbole_ext.config import build_config

    overrides: dict[str, Any] = {"state": "ERROR", "show_progress": False, "seed": args.seed}
    if args.data_path:
        overrides["data_path"] = args.data_path
    if precision != "fp32" or (Path(recbole_ext.__file__).parent / "precision.py").is_file():
        overrides["precision"] = precision  # always where the key exists: a preset's auto is bf16 on some CPUs
    for item in args.set:  # key=value for every model, MODEL:key=value for one
        key, _, value = item.partition("=")
        owner, _, key = key.rpartition(":")
        if owner in ("", model_name):
            overrides[key] = value
    return build_config(model_name, args.dataset, [preset] if preset else [], overrides)


def bf16_refused(model_name: str, preset: str, args: argparse.Namespace) -> str | None:
    """Why this row's device (the one its float32 configuration trains on) cannot run bf16, or None."""
    from recbole_ext.precision import unsupported

    return unsupported("bf16", row_config(model_name, preset, args, "fp32")["device"])


def measure(model_name: str, preset: str, args: argparse.Namespace, precision: str) -> dict[str, Any]:
    """Time ``args.steps`` steps of one model by phase (and an epoch with ``--epoch``) in this process."""
    from recbole.utils import init_seed

    import recbole_ext

    if (Path(recbole_ext.__file__).parent / "loading.py").is_file():
        from recbole_ext.loading import load_dataset, make_loaders
        from recbole_ext.training.trainers import trainer_class_for
    else:  # a --baseline commit from before the layout of 2026-12-06 (commit 3390542)
        from recbole_ext.pipeline import trainer_class_for
        from recbole_ext.preparation import load_dataset, make_loaders

    config = row_config(model_name, preset, args, precision)
    torch.set_num_threads(args.threads)
    init_seed(config["seed"], config["reproducibility"])
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        config["checkpoint_dir"] = scratch
        dataset = load_dataset(config)
        train_data, _, _ = make_loaders(config, dataset)
        model = config.model_class(config, train_data._dataset).to(config["device"])
        trainer = trainer_class_for(config)(config, model)
        cast = _autocast(precision, config["device"])
        phases = _time_phases(model, train_data, trainer, args.steps, args.warmup, cast)
        if args.profile:
            print(f"[bench_step] {model_name} {precision}: the top operations over {args.profile} profiled steps\n"
                  + profile_table(model, train_data, trainer, args.profile, cast), flush=True)
        cost = step_cost(model, phases.pop("last_batch"), config)
        epoch = None
        if args.epoch:
            _sync(trainer.device)
            start = time.perf_counter()
            trainer._train_epoch(train_data, 0, show_progress=False)
            _sync(trainer.device)
            epoch = time.perf_counter() - start
        trainer.tensorboard.close()
    return {"model": model_name, "preset": preset, "precision": precision, "phases_ms": phases,
            "step_ms": sum(phases.values()), "cost": cost, "epoch_s": epoch, "steps_per_epoch": len(train_data),
            "threads": torch.get_num_threads(), "device": str(trainer.device),
            "package": str(Path(sys.modules["recbole_ext"].__file__).parent)}


def measure_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per model and precision, measured in this process."""
    rows = []
    for spec in args.models:
        model_name, _, preset = spec.partition("=")
        for precision in args.precision:
            why_not = bf16_refused(model_name, preset, args) if precision == "bf16" else None
            if why_not:
                print(f"[bench_step] {model_name} ({preset or 'defaults'}): bf16 row left out: {why_not}", flush=True)
                continue
            print(f"[bench_step] {model_name} ({preset or 'defaults'}), {precision} ...", flush=True)
            row = measure(model_name, preset, args, precision)
            row["code"] = "this commit"
            rows.append(row)
    return rows


def merge_rounds(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (model, code, precision): each phase's and the epoch's median over the rounds, with every
    round's step and epoch kept (``step_rounds``, ``epoch_rounds``) for the ratios round by round."""
    merged = []
    for first in rounds[0]:
        key = (first["model"], first["code"], first["precision"])
        same = [row for rows in rounds for row in rows if (row["model"], row["code"], row["precision"]) == key]
        row = dict(first)
        row["phases_ms"] = {phase: statistics.median(r["phases_ms"][phase] for r in same) for phase in PHASES}
        row["step_ms"] = sum(row["phases_ms"].values())
        row["step_rounds"] = [r["step_ms"] for r in same]
        row["epoch_rounds"] = [r["epoch_s"] for r in same]
        row["epoch_s"] = statistics.median(row["epoch_rounds"]) if None not in row["epoch_rounds"] else None
        merged.append(row)
    return merged


def _autocast(precision: str, device: Any) -> Any:
    if precision == "fp32":
        return contextlib.nullcontext
    from recbole_ext.precision import autocast

    return lambda: autocast(precision, device)


def _endless(loader: Any) -> Any:
    """The loader's batches, epoch after epoch."""
    while True:
        if len(loader) == 0:
            raise SystemExit("bench_step: the training loader has no batches; give a dataset with training rows.")
        yield from loader


def _optimiser_step(model: Any, trainer: Any) -> None:
    """The step's last phase, as the trainer runs it: gradient clipping (if configured), the update, zeroing."""
    if trainer.clip_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), **trainer.clip_grad_norm)
    trainer.optimizer.step()
    trainer.optimizer.zero_grad()


def _time_phases(model: Any, loader: Any, trainer: Any, steps: int, warmup: int, cast: Any) -> dict[str, Any]:
    """Median milliseconds of each phase over ``steps`` steps (see the module docstring)."""
    encoder = ENCODERS[type(model).__name__]
    original = getattr(model, encoder)
    marks: dict[str, float] = {}

    def timed_encoder(*a: Any, **k: Any) -> Any:
        out = original(*a, **k)
        _sync(trainer.device)
        marks["encoded"] = time.perf_counter()
        return out

    setattr(model, encoder, timed_encoder)
    model.train()
    samples: dict[str, list[float]] = {phase: [] for phase in PHASES}
    batches = _endless(loader)
    batch = None
    device = trainer.device
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        batch = next(batches).to(device)
        _sync(device)
        t1 = time.perf_counter()
        with cast():
            loss = model.calculate_loss(batch)
        _sync(device)
        t2 = time.perf_counter()
        encoded = marks.pop("encoded", t1)
        loss.backward()
        _sync(device)
        t3 = time.perf_counter()
        _optimiser_step(model, trainer)
        _sync(device)
        t4 = time.perf_counter()
        if i >= warmup:
            for phase, seconds in zip(PHASES, (t1 - t0, encoded - t1, t2 - encoded, t3 - t2, t4 - t3)):
                samples[phase].append(seconds * 1000)
    setattr(model, encoder, original)
    del model.__dict__[encoder]
    result: dict[str, Any] = {phase: sorted(values)[len(values) // 2] for phase, values in samples.items()}
    result["last_batch"] = batch
    return result


def profile_table(model: Any, loader: Any, trainer: Any, steps: int, cast: Any, top: int = 15) -> str:
    """``steps`` whole training steps under ``torch.profiler``: the ``top`` operations by self time, a
    Markdown table in milliseconds a step."""
    from torch.profiler import ProfilerActivity, profile

    model.train()
    batches = _endless(loader)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            batch = next(batches).to(trainer.device)
            with cast():
                loss = model.calculate_loss(batch)
            loss.backward()
            _optimiser_step(model, trainer)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    lines = ["| operation | ms a step | share | calls a step |", "|---|---:|---:|---:|"]
    for event in events[:top]:
        lines.append(f"| {event.key} | {event.self_cpu_time_total / 1000 / steps:.1f} | "
                     f"{100 * event.self_cpu_time_total / total:.0f}% | {event.count / steps:g} |")
    return "\n".join(lines)


def peaks(cost: dict[str, Any], device: Any = "cpu") -> dict[str, dict[str, float]]:
    return {group: {"fp32": product_throughput(shape, torch.float32, device),
                    "bf16": product_throughput(shape, torch.bfloat16, device)}
            for group, shape in cost["shapes"].items()}


def roofline_ms(cost: dict[str, Any], peak: dict[str, dict[str, float]], bandwidth: float, precision: str) -> float:
    seconds = 0.0
    for group, flops in cost["flops"].items():
        rate = peak[group]["fp32"] if precision == "fp32" else max(peak[group].values())
        seconds += flops / (rate * 1e9)
    return 1000 * (seconds + cost["bytes"] / (bandwidth * 1e9))


# ------------------------------------------------------------------------------------- baseline
def baseline_rows(rev: str, argv: list[str]) -> list[dict[str, Any]]:
    """This script's measurement on the package of commit ``rev`` (float32), in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="bench-step-baseline-") as tree:
        archive_file = Path(tree) / "baseline.tar"
        if rev.endswith(".tar") and Path(rev).is_file():  # made where the history is: git archive REV recbole_ext
            archive_file.write_bytes(Path(rev).read_bytes())
        else:
            archive = subprocess.run(["git", "archive", "--format=tar", rev, "recbole_ext"], cwd=REPO,
                                     capture_output=True, check=False)
            if archive.returncode != 0:
                raise SystemExit(f"bench_step: git archive {rev} failed: {archive.stderr.decode().strip()}; "
                                 "give a commit of this repository (e.g. --baseline 1810e44), or a .tar of "
                                 "its package made where the history is (git archive -o REV.tar REV recbole_ext).")
            archive_file.write_bytes(archive.stdout)
        with tarfile.open(archive_file) as tar:
            tar.extractall(tree, filter="data")
        out = Path(tree) / "rows.json"
        env = {**os.environ, "PYTHONPATH": tree + os.pathsep + os.environ.get("PYTHONPATH", "")}
        child = [sys.executable, str(Path(__file__).resolve()), *argv, "--precision", "fp32", "--child_out", str(out)]
        if subprocess.run(child, env=env, check=False).returncode != 0:
            raise SystemExit(f"bench_step: the baseline run of {rev} failed (its output is above).")
        rows = json.loads(out.read_text())
    for row in rows:
        if not row["package"].startswith(tree):
            raise SystemExit(f"bench_step: the baseline imported {row['package']}, not commit {rev}'s package.")
        row["code"] = Path(rev).stem if rev.endswith(".tar") else rev
    return rows


def child_arguments(args: argparse.Namespace) -> list[str]:
    """The options of this run that the baseline's measurement repeats (float32, no baseline, no publishing)."""
    out = ["--models", *args.models, "--dataset", args.dataset, "--steps", str(args.steps), "--warmup",
           str(args.warmup), "--threads", str(args.threads), "--seed", str(args.seed)]
    if args.data_path:
        out += ["--data_path", args.data_path]
    if args.set:
        out += ["--set", *args.set]
    return out + (["--epoch"] if args.epoch else [])


# ------------------------------------------------------------------------------------------ table
def table(rows: list[dict[str, Any]], bandwidth: float, show_epoch: bool) -> str:
    head = ["model", "code", "precision", *[f"{p} ms" for p in PHASES], "step ms", "GFLOP", "GFLOP/s",
            "roofline ms", "x roofline"]
    if show_epoch:
        head += ["epoch s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ms = row["phases_ms"]
        step = row["step_ms"]
        share = " | ".join(f"{ms[p]:.1f} ({100 * ms[p] / step:.0f}%)" for p in PHASES)
        gflop = sum(row["cost"]["flops"].values()) / 1e9
        cells = [row["model"], row["code"], row["precision"], share, f"{step:.1f}", f"{gflop:.2f}",
                 f"{gflop / step * 1000:.1f}", f"{row['roofline_ms']:.1f}", f"{step / row['roofline_ms']:.1f}"]
        if show_epoch:
            cells.append(f"{row['epoch_s']:.1f}" if row["epoch_s"] is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peak_table(rows: list[dict[str, Any]], bandwidth: float) -> str:
    lines = ["| model | group | GFLOP per step | shape | fp32 GFLOP/s | bf16 GFLOP/s |", "|---|---|---:|---|---:|---:|"]
    seen = set()
    for row in rows:
        if row["model"] in seen:
            continue
        seen.add(row["model"])
        for group, flops in row["cost"]["flops"].items():
            shape = " x ".join(str(x) for x in row["cost"]["shapes"][group][1:])
            peak = row["peak"][group]
            lines.append(f"| {row['model']} | {group} | {flops / 1e9:.2f} | {row['cost']['shapes'][group][0]} {shape} | "
                         f"{peak['fp32']:.0f} | {peak['bf16']:.0f} |")
    lines.append(f"\nCopy bandwidth: {bandwidth:.1f} GB/s.")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> str:
    """Baseline over this commit, per model and precision: the median of the ratios round by round (each
    round's two measurements minutes apart), and every round's ratio when there were several."""
    lines = []
    for row in rows:
        if row["code"] == "this commit":
            continue
        for ours in rows:
            if ours["code"] == "this commit" and ours["model"] == row["model"]:
                line = f"{row['model']} {ours['precision']}: step {_ratio(row['step_rounds'], ours['step_rounds'])} " \
                       f"faster than {row['code']}"
                if ours["epoch_s"] and row["epoch_s"]:
                    line += (f", epoch {_ratio(row['epoch_rounds'], ours['epoch_rounds'])} ({row['epoch_s']:.1f} s -> "
                             f"{ours['epoch_s']:.1f} s)")
                lines.append(line)
    return "\n".join(f"- {line}" for line in lines)


def _ratio(baseline: list[float], ours: list[float]) -> str:
    each = [b / o for b, o in zip(baseline, ours)]
    text = f"{statistics.median(each):.2f}x"
    return text if len(each) == 1 else text + " (rounds: " + ", ".join(f"{r:.2f}" for r in each) + ")"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="MODEL=PRESET")
    parser.add_argument("--dataset", default="ml1m")
    parser.add_argument("--data_path", "--data-path", default=None, help="folder holding DATASET/DATASET.inter")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row (median reported)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--set", nargs="*", default=[], metavar="[MODEL:]KEY=VALUE",
                        help="overrides for every row (MODEL:KEY=VALUE for one model's rows)")
    parser.add_argument("--epoch", action="store_true", help="also time one whole training epoch per row")
    parser.add_argument("--baseline", default=None, metavar="REV", help="also measure commit REV (float32)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure this commit then the baseline this many times; medians and ratios per round")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="also profile K steps of each row and print its top operations")
    parser.add_argument("--publish", action="store_true", help="write the table into docs/results.md")
    parser.add_argument("--child_out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    if args.profile < 0:
        parser.error(f"--profile must be 0 (off) or a number of steps, not {args.profile}")
    load_before = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    if args.child_out:
        rows = measure_all(args)
        for row in rows:
            row["cost"]["shapes"] = {k: list(v) for k, v in row["cost"]["shapes"].items()}
        Path(args.child_out).write_text(json.dumps(rows))
        return 0
    rounds = []  # each round measures this commit, then the baseline: a drift of the machine's speed hits both
    for round_index in range(args.rounds):
        if args.rounds > 1:
            print(f"[bench_step] round {round_index + 1} of {args.rounds}", flush=True)
        rows = measure_all(args)
        if args.baseline:
            print(f"[bench_step] baseline {args.baseline} ...", flush=True)
            rows += baseline_rows(args.baseline, child_arguments(args))
        rounds.append(rows)
    rows = merge_rounds(rounds)
    if not rows:
        raise SystemExit("bench_step: no row to measure (every row was bf16 on a device without it); "
                         "add --precision fp32.")
    device = rows[0]["device"]  # every row's: the runs take the machine's GPU where there is one (RecBole's choice)
    bandwidth = copy_bandwidth(device)
    peak_cache: dict[str, Any] = {}
    for row in rows:
        row["cost"]["shapes"] = {k: tuple(v) for k, v in row["cost"]["shapes"].items()}
        key = f"{row['model']}"
        if key not in peak_cache:
            peak_cache[key] = peaks(row["cost"], device)
        row["peak"] = peak_cache[key]
        row["roofline_ms"] = roofline_ms(row["cost"], row["peak"], bandwidth, row["precision"])
    rows.sort(key=lambda r: (r["model"], r["code"] != "this commit", r["precision"]))
    body = (table(rows, bandwidth, args.epoch) + "\n\nMeasured peak at each group's shape (same run):\n\n"
            + peak_table(rows, bandwidth) + ("\n\n" + ratios(rows) if args.baseline else "")
            + f"\n\n{device_words(device, args.threads)}; median of {args.steps} steps after {args.warmup} warm-up "
            "steps"
            + (f", then the median of {args.rounds} rounds" if args.rounds > 1 else "") + "; "
            f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after.")
    print(body)
    if args.publish:
        from results_page import publish

        publish("step-roofline", f"Training step by phase against the measured roofline ({args.dataset})", body,
                load_before, command="python benchmarks/bench_step.py " + " ".join(a for a in argv if a != "--publish"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
