"""Layers our models share, written for the CPU's speed: dropout and a transformer block.

Measured on a 2-core Xeon (torch 2.13, 2 threads; ``benchmarks/bench_step.py``): ``nn.Dropout``
draws its mask with ``bernoulli_``, 42 ms for the 5.1M attention weights of one SASRec batch
(128 x 200 x 200) and ~15% of a training step. :class:`Dropout` draws 63-bit integers, reads each
as four 15-bit ones (12 ms in all) and keeps an entry when it is at least ``round(p * 2**15)``: the
drop probability is
``p`` rounded to a multiple of ``2**-15`` (0.2 -> 0.20001), the kept entries scaled by the inverse
of the exact keep probability, so the layer stays unbiased. On CUDA it is ``nn.Dropout``.
Both draw from torch's global generator, so seeds and exact resume work as before.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_LEVELS = 2**15  # int16 random_() draws 0 .. 2**15 - 1


def dropout(x: torch.Tensor, p: float, training: bool = True, scaled: bool = True) -> torch.Tensor:
    """Inverted dropout of ``x`` with drop probability ``p`` (see the module docstring).

    ``scaled=False`` leaves the kept entries unscaled, for a caller that applies
    :func:`keep_scale` to a smaller tensor downstream (the attention output instead of its weights).
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training=True) * (1.0 if scaled else 1.0 - p)
    # 63 random bits per int64 draw, read as four 15-bit integers: a quarter of the generator's calls
    draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64).random_().view(torch.int16)[: x.numel()]
    mask = draws.bitwise_and_(_LEVELS - 1).ge_(round(p * _LEVELS)).view(x.shape).to(x.dtype)  # 0 / 1
    return x * (mask.mul_(keep_scale(p)) if scaled else mask)  # (torch.where measured 2x slower)


def keep_scale(p: float) -> float:
    """What :func:`dropout` multiplies the kept entries by: 1 / the exact keep probability."""
    return _LEVELS / (_LEVELS - round(p * _LEVELS))


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the faster mask of :func:`dropout` on the CPU (same ``p``, same state)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


class TransformerBlock(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` (same parameters and state dict) whose training pass uses
    :class:`Dropout` everywhere, attention weights included (``self_attn.dropout`` is their ``p``).

    In training the self-attention is written out (``softmax(q k^T / sqrt(d) + mask) v``; a bool
    ``src_mask`` is True where a query may not attend), as torch's own path computes it when dropout
    is on; in
    evaluation torch's fused inference path runs as before.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dropout, self.dropout1, self.dropout2 = (Dropout(self.dropout.p), Dropout(self.dropout1.p),
                                                     Dropout(self.dropout2.p))

    def _sa_block(self, x: torch.Tensor, attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                  is_causal: bool = False) -> torch.Tensor:
        if not self.training or key_padding_mask is not None or is_causal:
            return super()._sa_block(x, attn_mask, key_padding_mask, is_causal)
        attention = self.self_attn
        batch, length, width = x.shape
        heads = attention.num_heads
        head_width = width // heads
        qkv = F.linear(x, attention.in_proj_weight, attention.in_proj_bias)  # [B, L, 3 D]
        if heads == 1:  # views into qkv, no copies
            q, k, v = qkv.split(width, dim=-1)  # [B, L, D] each
        else:
            qkv = qkv.view(batch, length, 3, heads, head_width).permute(2, 0, 3, 1, 4)  # [3, B, h, L, d]
            q, k, v = (part.reshape(batch * heads, length, head_width) for part in qkv)  # [B h, L, d]
        if attn_mask is not None and attn_mask.dtype == torch.bool:  # nn.TransformerEncoderLayer hands over floats
            attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill_(attn_mask, float("-inf"))
        # Under autocast the products are bfloat16; the softmax reads and writes the products' dtype
        # (it accumulates in float32 inside), so the [B h, L, L] weights are never widened and cast back.
        with torch.autocast(x.device.type, enabled=False):
            scale = 1.0 / math.sqrt(head_width)
            k_t = k.transpose(1, 2)  # [B h, d, L]
            if attn_mask is None:
                scores = torch.bmm(q, k_t).mul_(scale)  # [B h, L, L]
            else:  # 0 where allowed, -inf where not
                scores = torch.baddbmm(attn_mask.to(q.dtype), q, k_t, alpha=scale)  # [B h, L, L]
            weights = dropout(torch.softmax(scores, dim=-1), attention.dropout, True, scaled=False)
            out = torch.bmm(weights, v)  # [B h, L, d]
            if attention.dropout > 0.0:  # dropout's 1 / keep probability, on [B h, L, d] rather than [B h, L, L]
                out = out * keep_scale(attention.dropout)
        if heads > 1:
            out = out.view(batch, heads, length, head_width).transpose(1, 2).reshape(batch, length, width)
        return self.dropout1(attention.out_proj(out))
