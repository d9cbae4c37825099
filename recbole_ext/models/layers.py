"""Layers our models share, written for the CPU's speed: dropout and a transformer block.

Measured on a 2-core Xeon (torch 2.13, 2 threads; ``benchmarks/bench_step.py``): ``nn.Dropout``
draws its mask with ``bernoulli_``, 42 ms for the 5.1M attention weights of one SASRec batch
(128 x 200 x 200) and ~15% of a training step. :class:`Dropout` draws 63-bit integers, reads each
as four 15-bit ones (12 ms in all) and keeps an entry when it is at least ``round(p * 2**15)``: the
drop probability is ``p`` rounded to a multiple of ``2**-15`` (0.2 -> 0.20001), the kept entries
scaled by the inverse of the exact keep probability, so the layer stays unbiased. On CUDA it is ``nn.Dropout``.
Both draw from torch's global generator, so seeds and exact resume work as before.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_LEVELS = 2**15  # each draw is read as 15-bit integers, 0 .. 2**15 - 1


def dropout(x: torch.Tensor, p: float, training: bool = True, scaled: bool = True) -> torch.Tensor:
    """Inverted dropout of ``x`` with drop probability ``p`` (see the module docstring).

    ``scaled=False`` leaves the kept entries unscaled, for a caller that applies
    :func:`keep_scale` to a smaller tensor downstream (the attention output instead of its weights).
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        dropped = F.dropout(x, p, training=True)
        return dropped if scaled else dropped * (1.0 - p)
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
    ``src_mask`` is True where a query may not attend), as torch's own path computes it when
    dropout is on; in evaluation torch's fused inference path runs as before.
    :meth:`forward_rows` computes the layer's output at one position of each sequence only (the
    last block of an encoder whose caller reads one position: a sequence's last hidden state).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dropout, self.dropout1, self.dropout2 = (Dropout(self.dropout.p), Dropout(self.dropout1.p),
                                                     Dropout(self.dropout2.p))

    def _sa_block(self, x: torch.Tensor, attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                  is_causal: bool = False) -> torch.Tensor:
        if not self.training or key_padding_mask is not None or is_causal:
            return super()._sa_block(x, attn_mask, key_padding_mask, is_causal)
        width = x.size(-1)
        qkv = F.linear(x, self.self_attn.in_proj_weight, self.self_attn.in_proj_bias)  # [B, L, 3 D]
        q, k, v = qkv.split(width, dim=-1)  # [B, L, D] each: views, no copies
        return self.dropout1(self.self_attn.out_proj(self._attend(q, k, v, attn_mask)))

    def forward_rows(self, src: torch.Tensor, position: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        """The layer's output at position ``position[b]`` of each sequence ``b`` only: [B, 1, D].

        ``src`` [B, L, D]; ``src_mask`` [B * heads, L, L] (or [L, L]) as :meth:`forward` takes it. The
        same numbers as ``self(src, src_mask=src_mask)[range(B), position]``: keys and values come
        from every position, queries, the feed-forward and the norms only from the rows asked for.
        """
        rows = torch.arange(src.size(0), device=src.device)
        heads, length = self.self_attn.num_heads, src.size(1)
        row_mask = None
        if src_mask is not None:  # float or bool: _attend takes either
            full = src_mask.expand(src.size(0) * heads, length, length).view(src.size(0), heads, length, length)
            row_mask = full[rows, :, position].reshape(src.size(0) * heads, 1, length)  # [B h, 1, L]
        x = src[rows, position].unsqueeze(1)  # [B, 1, D]
        if self.norm_first:
            x = x + self._cross_block(self.norm1(x), self.norm1(src), row_mask)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._cross_block(x, src, row_mask))
        return self.norm2(x + self._ff_block(x))

    def _cross_block(self, query_in: torch.Tensor, key_in: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        width = query_in.size(-1)
        weight, bias = self.self_attn.in_proj_weight, self.self_attn.in_proj_bias
        q = F.linear(query_in, weight[:width], None if bias is None else bias[:width])  # [B, Lq, D]
        kv = F.linear(key_in, weight[width:], None if bias is None else bias[width:])  # [B, L, 2 D]
        k, v = kv.split(width, dim=-1)
        return self.dropout1(self.self_attn.out_proj(self._attend(q, k, v, mask)))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``softmax(q k^T / sqrt(d) + mask) v`` with dropout on the weights: q [B, Lq, D], k, v [B, L, D]
        -> [B, Lq, D]; ``mask`` additive float (or bool, True = may not attend) [B * heads, Lq, L]."""
        batch, q_len, width = q.shape
        heads = self.self_attn.num_heads
        head_width = width // heads
        if heads > 1:  # [B, L, D] -> [B h, L, d]
            q, k, v = (t.reshape(batch, t.size(1), heads, head_width).transpose(1, 2).reshape(batch * heads, t.size(1),
                       head_width) for t in (q, k, v))
        if mask is not None and mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(mask, float("-inf"))
        p = self.self_attn.dropout if self.training else 0.0
        # Under autocast the products are bfloat16; the softmax reads and writes the products' dtype
        # (it accumulates in float32 inside), so the [B h, Lq, L] weights are never widened and cast back.
        with torch.autocast(q.device.type, enabled=False):
            if q.dtype != k.dtype:  # autocast made one product bfloat16 and left the other float32
                q, k, v = (t.to(torch.promote_types(q.dtype, k.dtype)) for t in (q, k, v))
            scale = 1.0 / math.sqrt(head_width)
            k_t = k.transpose(1, 2)  # [B h, d, L]
            if mask is None:
                scores = torch.bmm(q, k_t).mul_(scale)  # [B h, Lq, L]
            else:  # 0 where allowed, -inf where not
                scores = torch.baddbmm(mask.to(q.dtype), q, k_t, alpha=scale)  # [B h, Lq, L]
            weights = dropout(torch.softmax(scores, dim=-1), p, True, scaled=False)
            out = torch.bmm(weights, v)  # [B h, Lq, d]
            if p > 0.0:  # dropout's 1 / keep probability, on [B h, Lq, d] rather than [B h, Lq, L]
                out = out * keep_scale(p)
        if heads > 1:
            out = out.view(batch, heads, q_len, head_width).transpose(1, 2).reshape(batch, q_len, width)
        return out
