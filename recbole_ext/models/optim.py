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
