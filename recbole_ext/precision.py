"""``precision``: the arithmetic of a training step (``fp32``, the default; ``bf16``; or ``auto``).

``bf16`` runs each training step's forward pass under ``torch.autocast`` with bfloat16, on the
CPU (oneDNN's AVX-512-bf16 / AMX kernels) and on CUDA alike: products and convolutions in
bfloat16; weights, gradients and the optimiser's state stay float32 (autocast casts copies);
layer norms, softmaxes and losses in float32 (autocast's own lists, and
:func:`recbole_ext.models.losses.chunked_softmax_ce` keeps its log-sum-exp and gradients in float32).
Evaluation always runs in float32, so rankings and metrics are computed as before.

bfloat16 needs a device that computes it natively: a CPU with AVX-512-bf16 or AMX, or a CUDA GPU
of compute capability 8.0 or newer; elsewhere ``bf16`` is refused before any work
(:func:`unsupported`), rather than emulated at a loss. oneDNN's own answer
(``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) is yes on any AVX-512 CPU, where it emulates
bfloat16: there a bfloat16 product ran at half float32's speed (2026-12-07, a 2-core AVX-512 Xeon
without AVX-512-bf16: 39 against 79 GFLOP/s at SASRecPaper's logits shape) and the ML-1M presets'
epochs took 1.7-2.4x as long (docs/speed.md), so :func:`cpu_computes_bf16` reads the CPU's own features.

``auto`` (the presets' value) is ``bf16`` where the device computes it natively and ``fp32``
elsewhere, resolved once when the configuration is built (:func:`resolve`): the run's saved
``config.yaml`` and its result say which it was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable

import torch

PRECISIONS = ("fp32", "bf16", "auto")


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware that oneDNN uses: AVX-512-bf16 or AMX (torch's
    own CPU feature checks, else the x86 flags in ``/proc/cpuinfo``)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # torch without these private checks: read the flags the kernel reports
        pass
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.split(":")[0].strip() == "flags"
             for flag in line.split(":", 1)[1].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def computes_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 natively (see :func:`cpu_computes_bf16`; CUDA: capability 8.0+)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and torch.backends.mkldnn.is_available() and cpu_computes_bf16()


def resolve(precision: str | None, device: torch.device | str) -> str:
    """The precision a run trains in: ``auto`` becomes ``bf16`` where ``device`` computes it natively, else
    ``fp32``; ``None`` is ``fp32``; ``fp32`` and ``bf16`` stay as they are."""
    if precision == "auto":
        return "bf16" if computes_bf16(device) else "fp32"
    return precision or "fp32"


def unsupported(precision: str, device: torch.device | str) -> str | None:
    """Why ``precision`` cannot run on ``device`` (one line naming the fix), or None."""
    device = torch.device(device)
    if precision != "bf16" or computes_bf16(device):
        return None
    if device.type == "cuda":
        return (f"precision=bf16 needs a GPU with native bfloat16 (compute capability 8.0+); {device} has none: "
                "use precision=fp32.")
    return (f"precision=bf16 needs a CPU with AVX-512-bf16 or AMX (see the flags in /proc/cpuinfo); this {device.type} "
            "has neither (bfloat16 would be emulated at about half float32's speed): use precision=fp32, or "
            "precision=auto.")


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The context a training step's forward pass runs in under ``precision``."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def with_precision(trainer_class: type) -> type:
    """``trainer_class`` whose training loss runs under ``config["precision"]`` (:func:`autocast`)."""

    class PrecisionTrainer(trainer_class):
        def _train_epoch(self, train_data: Any, epoch_idx: int, loss_func: Callable | None = None,
                         show_progress: bool = False) -> Any:
            loss_func = loss_func or self.model.calculate_loss
            precision, device = self.config["precision"], self.device

            def loss_in_precision(interaction: Any) -> Any:
                with autocast(precision, device):
                    return loss_func(interaction)

            return super()._train_epoch(train_data, epoch_idx, loss_in_precision, show_progress)

    PrecisionTrainer.__name__ = PrecisionTrainer.__qualname__ = f"{trainer_class.__name__}BF16"
    return PrecisionTrainer
