"""``precision``: the arithmetic of a training step (``fp32``, the default, or ``bf16``).

``bf16`` runs each training step's forward pass under ``torch.autocast`` with bfloat16, on the
CPU (oneDNN's AVX-512-bf16 / AMX kernels) and on CUDA alike: products and convolutions in
bfloat16; weights, gradients and the optimiser's state stay float32 (autocast casts copies);
layer norms, softmaxes and losses in float32 (autocast's own lists, and
:func:`recbole_ext.models.losses.chunked_softmax_ce` keeps its log-sum-exp and gradients in float32).
Evaluation always runs in float32, so rankings and metrics are computed as before.

bfloat16 needs a device that computes it natively: a CPU with AVX-512-bf16 or AMX (oneDNN says
so), or a CUDA GPU of compute capability 8.0 or newer; elsewhere it is refused before any work
(:func:`unsupported`), rather than emulated at a loss.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch

PRECISIONS = ("fp32", "bf16")


def unsupported(precision: str, device: torch.device | str) -> str | None:
    """Why ``precision`` cannot run on ``device`` (one line naming the fix), or None."""
    device = torch.device(device)
    if precision != "bf16":
        return None
    if device.type == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False):
            return None
        return (f"precision=bf16 needs a GPU with native bfloat16 (compute capability 8.0+); {device} has none: "
                "use precision=fp32.")
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return None
    return (f"precision=bf16 needs a CPU with AVX-512-bf16 or AMX (see the flags in /proc/cpuinfo); this {device.type} "
            "has neither: use precision=fp32.")


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
