"""Optimizers RecBole's ``Trainer`` does not know, and the trainer that builds them.

* :class:`AdagradM`: Adagrad with momentum, the optimizer of the official GRU4Rec code
  (``IndexedAdagradM`` in hidasib/GRU4Rec_PyTorch_Official, dense gradients only here)::

      acc += g ** 2
      mom = momentum * mom - lr * g / sqrt(acc + eps)
      p += mom

  With ``momentum`` 0 this is Adagrad with ``eps`` inside the square root.
* :class:`ExtendedTrainer`: RecBole's ``Trainer`` that also accepts ``learner: adagradm``
  (with the ``momentum`` config key); every other learner is RecBole's. A model uses it by
  setting ``trainer_class = ExtendedTrainer``; :func:`recbole_ext.training.pipeline.run_config` picks it up.
* :func:`with_fused_adam`: every run's trainer builds RecBole's ``adam`` / ``adamw`` as torch's fused
  kernels where torch has them (:func:`fused_adam_takes`). The same update (the same L2 ``weight_decay``,
  betas, eps; float32 rounding apart) in one pass over each parameter: RecBole builds the default
  ``torch.optim.Adam``, which on the CPU runs ~10 elementwise operations per parameter, one after the
  other (12.6 ms against 1.05 ms a step for CaserPaper's ML-1M parameters on one thread of this CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from recbole.trainer import Trainer
from torch.optim import Optimizer


class AdagradM(Optimizer):
    """Adagrad with momentum (official GRU4Rec); see the module docstring for the update."""

    def __init__(self, params: Iterable, lr: float = 0.05, momentum: float = 0.0, eps: float = 1e-6) -> None:
        if lr <= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum: {momentum}")
        if eps <= 0.0:
            raise ValueError(f"Invalid eps: {eps}")
        super().__init__(params, dict(lr=lr, momentum=momentum, eps=eps))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, eps = group["lr"], group["momentum"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdagradM here supports dense gradients only.")
                state = self.state[p]
                if not state:
                    state["acc"] = torch.zeros_like(p)
                    if momentum > 0:
                        state["mom"] = torch.zeros_like(p)
                state["acc"].add_(p.grad.pow(2))
                denom = state["acc"].add(eps).sqrt_()
                if momentum > 0:
                    state["mom"].mul_(momentum).addcdiv_(p.grad, denom, value=-lr)
                    p.add_(state["mom"])
                else:
                    p.addcdiv_(p.grad, denom, value=-lr)
        return loss


class ExtendedTrainer(Trainer):
    """RecBole's ``Trainer`` plus ``learner: adagradm`` (``learning_rate``, ``momentum``)."""

    def _build_optimizer(self, **kwargs):
        learner = kwargs.get("learner", self.learner)
        if str(learner).lower() != "adagradm":
            return super()._build_optimizer(**kwargs)
        params = kwargs.get("params", self.model.parameters())
        if self.weight_decay:
            self.logger.warning("learner adagradm ignores weight_decay (the official GRU4Rec has none).")
        momentum = self.config["momentum"]
        return AdagradM(params, lr=kwargs.get("learning_rate", self.learning_rate),
                        momentum=float(momentum or 0.0))


# The torch release from which Adam / AdamW(fused=True) take parameters on each device.
FUSED_ADAM_SINCE = {"cuda": "2.0", "cpu": "2.4"}


def fused_adam_takes(params: Iterable[torch.Tensor]) -> bool:
    """Whether this torch's fused Adam / AdamW kernels accept ``params``: floating point, dense, on a device
    of :data:`FUSED_ADAM_SINCE` with a recent enough torch."""
    params = list(params)
    return bool(params) and all(
        p.is_floating_point() and not p.is_sparse and p.device.type in FUSED_ADAM_SINCE
        and torch.__version__ >= FUSED_ADAM_SINCE[p.device.type] for p in params)


def with_fused_adam(trainer_class: type) -> type:
    """``trainer_class`` whose ``adam`` / ``adamw`` optimizers are torch's fused ones where :func:`fused_adam_takes`
    (module docstring); built by RecBole first (its warnings, its arguments), then rebuilt from its groups (each
    group's own settings kept) and defaults with ``fused=True``. Every other learner is left as built."""

    class FusedAdamTrainer(trainer_class):
        def _build_optimizer(self, **kwargs):
            optimizer = super()._build_optimizer(**kwargs)
            if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
                return optimizer
            groups = [{key: value for key, value in group.items() if key not in ("fused", "foreach")}
                      for group in optimizer.param_groups]
            if not fused_adam_takes(p for group in groups for p in group["params"]):
                return optimizer
            settings = {key: optimizer.defaults[key] for key in ("lr", "betas", "eps", "weight_decay", "amsgrad")}
            return type(optimizer)(groups, **settings, fused=True)

    FusedAdamTrainer.__name__ = FusedAdamTrainer.__qualname__ = f"{trainer_class.__name__}FusedAdam"
    return FusedAdamTrainer
